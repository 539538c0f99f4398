"""The result of a comparison: tables, formats and the class × part heat map of shifts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._core.figures import pyplot
from . import _formats

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass
class ComparisonReport:
    """The comparison of two global explanations (:func:`compare_models`, :func:`compare_slices`).

    Attributes
    ----------
    mode : {"models", "slices"}
    names : tuple of (str, str)
        Display names of side A (the reference) and side B.
    part_names : tuple of str
        The columns of the shifts: the parts, then, for Shapley values, ``"(baseline)"``: the
        value of the all-baseline composite, so that a class's columns add up to its mean
        value on the full images (Shapley values are efficient). A class a model decides on
        the baseline alone shows there, whatever its parts do.
    class_names : list of str
        Display names of the compared classes (A's decisions in ``"models"`` mode).
    n_images : tuple of (int, int)
        Images on each side (the same images in ``"models"`` mode).
    shifts : pandas.DataFrame
        One row per class × part: ``class``, ``part``, ``images A``, ``images B``, ``mean A``,
        ``mean B``, ``shift`` (B − A), ``low``, ``high`` (simultaneous interval; NaN when the
        cell is not tested), ``tested``, ``flagged`` and ``direction`` (``"up"``, ``"down"`` or
        ``""``).
    rules : pandas.DataFrame
        One row per rule of either side: ``class``, ``rule`` (the conditions as text),
        ``change`` (``"kept"``, ``"lost"``: only A has it, ``"gained"``: only B), ``precision A``,
        ``precision B``, ``precision low``, ``precision high`` (interval of B − A),
        ``coverage A``, ``coverage B``, ``coverage low``, ``coverage high``, all on held-out images.
    agreement : float or None
        Share of images on which the two models decide the same class (``"models"`` mode).
    disagreements : pandas.DataFrame or None
        ``"models"`` mode: one row per pair of decisions that differ (``class A``, ``class B``,
        ``images``, ``driving parts``: the parts whose score for A's class fell most from
        A to B on those images) and the mean fall of every part (one column per part).
    fidelity : dict
        Held-out fidelity of each side's rules to its own model's decisions, by side name.
    baseline : pandas.DataFrame
        Per class (index) and side (columns, the side names): the share of the class's images
        on which the baseline alone keeps the decision (``baseline_sufficient`` of
        :meth:`PartAttributor.baseline_report`). A class decided on the baseline has hollow
        explanations: all its parts lose importance, whatever the model looks at.
    margin, alpha : float
    n_bootstrap : int
    critical_value : float
        The max-t quantile the intervals use.
    control : str
        The multiple-testing control, in words.
    notes : list of str
        What the reader must know (e.g. how classes are assigned, untested classes).
    """

    mode: str
    names: tuple
    part_names: tuple
    class_names: list
    n_images: tuple
    shifts: pd.DataFrame
    rules: pd.DataFrame
    agreement: float | None
    disagreements: pd.DataFrame | None
    fidelity: dict
    baseline: pd.DataFrame
    margin: float
    alpha: float
    n_bootstrap: int
    critical_value: float
    control: str
    notes: list = field(default_factory=list)

    def shift_table(self, column: str = "shift") -> pd.DataFrame:
        """A class × part table of one column of ``shifts`` (e.g. ``"shift"``, ``"flagged"``, ``"low"``)."""
        table = self.shifts.pivot(index="class", columns="part", values=column)
        return table.loc[self.class_names, list(self.part_names)]

    def flagged(self) -> pd.DataFrame:
        """The flagged shifts, largest first."""
        flagged = self.shifts[self.shifts["flagged"]]
        return flagged.reindex(flagged["shift"].abs().sort_values(ascending=False).index)

    def to_dict(self) -> dict:
        """Everything in the report as plain JSON-ready values."""
        return _formats.comparison_dict(self)

    def report(self, format: str = "text") -> str:
        """The comparison as text.

        Parameters
        ----------
        format : {"text", "markdown", "json"}, default="text"
        """
        if format == "json":
            return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        if format not in ("text", "markdown"):
            raise ValueError(f"format must be 'text', 'markdown' or 'json', got {format!r}.")
        return _formats.comparison_text(self, markdown=format == "markdown")

    def to_html(self) -> str:
        """The rule tables side by side, the flagged shifts and the heat map (embedded), as an HTML fragment."""
        return _formats.comparison_html(self)

    def _repr_html_(self):
        return self.to_html()

    def plot_shifts(self, ax: "Axes | None" = None) -> "Figure":
        """Class × part heat map of the shifts; cells that are not flagged are greyed out."""
        return plot_part_shifts(self, ax=ax)

    def write(self, folder: "str | os.PathLike") -> str:
        """Write ``comparison.html`` (with the heat map), ``comparison.json`` and ``comparison.md``
        into ``folder`` (created if needed); returns the HTML file's path."""
        return _formats.write_comparison(self, folder)


def plot_part_shifts(report: ComparisonReport, ax: "Axes | None" = None) -> "Figure":
    """Class × part heat map of a comparison's shifts (B − A); cells not flagged are greyed out.

    Flagged cells keep their colour (red: the part weighs more in B, blue: less) and show
    the shift with its interval; untested cells (too few images) are left blank.

    Parameters
    ----------
    report : skpartx.compare.ComparisonReport
    ax : matplotlib Axes, default=None

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = pyplot()
    shift = report.shift_table("shift").to_numpy(dtype=float)
    flagged = report.shift_table("flagged").to_numpy(dtype=bool)
    tested = report.shift_table("tested").to_numpy(dtype=bool)
    low, high = report.shift_table("low").to_numpy(dtype=float), report.shift_table("high").to_numpy(dtype=float)
    parts, classes = list(report.part_names), list(report.class_names)
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.9 * len(parts) + 2.5, 0.6 * len(classes) + 1.8))
    else:
        fig = ax.figure
    limit = np.nanmax(np.abs(np.where(tested, shift, np.nan)), initial=0.0) or 1.0
    image = ax.imshow(np.where(flagged, shift, np.nan), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.imshow(np.where(tested & ~flagged, 1.0, np.nan), cmap="Greys", vmin=0, vmax=5, aspect="auto")
    for (r, c), value in np.ndenumerate(shift):
        if flagged[r, c]:  # white on the darkest cells, so that every flagged value stays legible
            ax.text(c, r, f"{value:+.2f}\n[{low[r, c]:+.2f}, {high[r, c]:+.2f}]", ha="center", va="center", fontsize=6.5,
                    color="white" if abs(value) > 0.6 * limit else "black")
        elif tested[r, c]:
            ax.text(c, r, f"{value:+.2f}", ha="center", va="center", fontsize=6.5, color="#888888")
    ax.set_xticks(range(len(parts)), parts, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    fig.colorbar(image, ax=ax, label=f"shift of the mean part score ({report.names[1]} − {report.names[0]})")
    ax.set_title(f"Part shifts beyond ±{report.margin:g} (grey: within the margin or not significant)", fontsize=9)
    fig.tight_layout()
    return fig
