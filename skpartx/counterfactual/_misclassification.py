"""The misclassification report: which parts drive each confusion of a model.

For every confusion (true class A taken for class B) it names the parts with the highest
mean score for the wrong class and, given a fitted
:class:`~skpartx.counterfactual.PartCounterfactualExplainer`, the parts whose swap most
often undoes the confusion.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.utils.validation import column_or_1d

from .._core.html import table
from .._core.labels import display_name
from .._core.part_images import as_part_images

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .._core.part_images import PartImages
    from ._explainer import PartCounterfactualExplainer


@dataclass
class MisclassificationReport:
    """Which parts drive each confusion of the model, with example counterfactuals.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per confusion (true class taken for predicted class): ``images``, the
        ``driving parts`` (highest mean part score for the predicted class over those
        images) and, with counterfactuals, the ``swapped parts`` that most often undo the
        confusion and the ``flip rate``.
    part_scores : pandas.DataFrame
        Mean part score for the predicted class, one row per confusion.
    examples : dict
        ``(true, predicted)`` → list of :class:`~skpartx.counterfactual.PartCounterfactual`.
    part_names : tuple of str
    """

    table: pd.DataFrame
    part_scores: pd.DataFrame
    examples: dict
    part_names: tuple

    def to_html(self) -> str:
        """The table as escaped HTML."""
        return table([tuple(row) for row in self.table.itertuples(index=False)], tuple(self.table.columns))

    def plot(self, ax: "Axes | None" = None) -> "Figure":
        """Heat map of the mean part scores of each confusion."""
        from .._core.figures import plot_class_part_table

        return plot_class_part_table(
            self.part_scores.to_numpy(), list(self.part_scores.index), list(self.part_names), ax=ax,
            title="Part scores for the wrong class, per confusion",
        )


def misclassification_report(
    X: "PartImages", y: ArrayLike, decisions: ArrayLike, scores: ArrayLike | pd.DataFrame,
    counterfactual_explainer: "PartCounterfactualExplainer | None" = None, target_names: Sequence[str] | None = None,
    top_k: int = 3, max_examples: int = 3,
) -> MisclassificationReport:
    """Which parts drive each confusion (true class A taken for class B).

    Parameters
    ----------
    X : PartImages
        The images with filled part masks.
    y : array-like of shape (n_images,)
        True classes.
    decisions : array-like of shape (n_images,)
        The model's classes (e.g. :func:`skpartx.predict_classes`).
    scores : array-like or DataFrame of shape (n_images, n_parts)
        Part scores of each image for the model's class, e.g. ``PartAttributor.transform``
        (relation columns after the parts are ignored).
    counterfactual_explainer : fitted PartCounterfactualExplainer, default=None
        When given, up to ``max_examples`` misclassified images per confusion get a
        counterfactual towards their true class.
    target_names : sequence of str, default=None
    top_k : int, default=3
        Parts named per confusion.
    max_examples : int, default=3

    Returns
    -------
    report : MisclassificationReport
    """
    X = as_part_images(X)
    y, decisions = column_or_1d(y), column_or_1d(decisions)
    scores = np.asarray(scores, dtype=np.float64)[:, : len(X.part_names)]
    if not (len(y) == len(decisions) == len(scores) == len(X)):
        raise ValueError(
            f"X, y, decisions and scores must describe the same images; got {len(X)}, {len(y)}, {len(decisions)}, "
            f"{len(scores)}."
        )
    names = list(X.part_names)
    label = lambda c: display_name(c, target_names)  # noqa: E731
    wrong = y != decisions
    confusions = sorted({(a, b) for a, b in zip(y[wrong].tolist(), decisions[wrong].tolist())},
                        key=lambda ab: -int(((y == ab[0]) & (decisions == ab[1])).sum()))
    rows, mean_scores, examples = [], [], {}
    for true_class, predicted in confusions:
        members = np.flatnonzero((y == true_class) & (decisions == predicted))
        mean = scores[members].mean(axis=0)
        mean_scores.append(mean)
        driving = [names[p] for p in np.argsort(-mean, kind="stable")[:top_k] if mean[p] > 0]
        row = {"true class": label(true_class), "taken for": label(predicted), "images": len(members),
               "driving parts": ", ".join(driving)}
        if counterfactual_explainer is not None:
            found = counterfactual_explainer.explain(X[members[:max_examples]], true_class)
            for counterfactual, index in zip(found, members[:max_examples]):
                counterfactual.index = int(index)
            examples[(true_class, predicted)] = found
            tally = pd.Series([part for c in found if c.flipped for part in c.swapped], dtype=object).value_counts()
            row["swapped parts"] = ", ".join(tally.index[:top_k])
            row["flip rate"] = f"{np.mean([c.flipped for c in found]):.2f}"
        rows.append(row)
    columns = ["true class", "taken for", "images", "driving parts"] + (
        ["swapped parts", "flip rate"] if counterfactual_explainer is not None else []
    )
    index = [f"{r['true class']} → {r['taken for']}" for r in rows]
    return MisclassificationReport(
        table=pd.DataFrame(rows, columns=columns),
        part_scores=pd.DataFrame(np.array(mean_scores).reshape(-1, len(names)), index=index, columns=names),
        examples=examples,
        part_names=tuple(names),
    )
