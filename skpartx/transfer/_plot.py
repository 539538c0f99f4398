"""The transfer stage's figure: transfer quality against the number of labelled images."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._core.figures import pyplot

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_miou_curve(results: "pd.DataFrame | Sequence[dict]", ax: "Axes | None" = None) -> "Figure":
    """Transfer quality against the number of labelled images per class, one line per method.

    Parameters
    ----------
    results : pandas.DataFrame or sequence of dict
        Rows with ``method``, ``labelled_per_class`` and ``miou``.
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import pandas as pd

    plt = pyplot()
    frame = pd.DataFrame(results)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    for method, rows in frame.groupby("method", sort=False):
        rows = rows.sort_values("labelled_per_class")
        ax.plot(rows["labelled_per_class"], rows["miou"], marker="o", label=str(method))
    ax.set_xscale("log")
    ticks = sorted(frame["labelled_per_class"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("labelled images per class")
    ax.set_ylabel("held-out mIoU")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Part transfer quality")
    fig.tight_layout()
    return fig
