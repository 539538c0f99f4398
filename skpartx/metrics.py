"""Quality measures of part transfer, part attributions, counterfactuals and global rules."""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._curves import trapezoid_auc
from ._part_scores import table_info
from .attribution import msx_part_shares

if TYPE_CHECKING:
    from ._part_images import PartImages
    from .attribution import PartAttributor
    from .counterfactual import PartCounterfactual


def iou_per_part(true_masks: ArrayLike, predicted_masks: ArrayLike, n_parts: int) -> np.ndarray:
    """Intersection over union of each part id over a whole set of masks.

    Pixels labelled -1 in ``true_masks`` are ignored. Parts absent from both the truth
    and the prediction get NaN.

    Returns
    -------
    iou : ndarray of shape (n_parts,)
    """
    true_masks = np.asarray(true_masks).ravel()
    predicted_masks = np.asarray(predicted_masks).ravel()
    if true_masks.shape != predicted_masks.shape:
        raise ValueError("true and predicted masks must have the same shape.")
    keep = true_masks >= 0
    true_masks, predicted_masks = true_masks[keep], predicted_masks[keep]
    pairs = np.bincount(true_masks * n_parts + predicted_masks, minlength=n_parts * n_parts)
    confusion = pairs.reshape(n_parts, n_parts)
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def mean_iou(true_masks: ArrayLike, predicted_masks: ArrayLike, n_parts: int) -> float:
    """Mean IoU over the parts that occur in the ground truth (see :func:`iou_per_part`)."""
    iou = iou_per_part(true_masks, predicted_masks, n_parts)
    truth = np.asarray(true_masks)
    occurring = np.bincount(truth[truth >= 0].ravel(), minlength=n_parts)[:n_parts] > 0
    return float(np.nanmean(iou[occurring])) if occurring.any() else float("nan")


def _part_order_curves(attributor, X, scores, target, insertion):
    """Values as parts are removed (or inserted) in order of decreasing score, per image."""
    n_parts = len(attributor.part_names_)
    if np.shape(scores) != (len(X), n_parts):
        raise ValueError(f"scores must have shape ({len(X)}, {n_parts}), got {np.shape(scores)}.")
    if table_info(scores)[1] == "msx":  # membership codes: rank parts by their share of the MSXs
        scores = msx_part_shares(scores)
    scores = np.asarray(scores, dtype=np.float64)
    engine = attributor.coalition_engine(X, target)
    present = engine.present
    image_idx, keep, steps = [], [], []
    for i in range(len(X)):
        parts = np.flatnonzero(present[i])
        order = parts[np.argsort(-scores[i, parts], kind="stable")]
        rows = np.zeros((len(order) + 1, n_parts), dtype=bool)
        for k in range(len(order) + 1):
            rows[k, order[:k] if insertion else order[k:]] = True
        image_idx.append(np.full(len(rows), i))
        keep.append(rows)
        steps.append(len(rows))
    values = engine.evaluate(np.concatenate(image_idx), np.concatenate(keep))
    return np.split(values, np.cumsum(steps)[:-1])


def _curve_summary(curves, n_points):
    grid = np.linspace(0.0, 1.0, n_points)
    resampled, aucs = [], []
    for curve in curves:
        fraction = np.linspace(0.0, 1.0, len(curve))
        resampled.append(np.interp(grid, fraction, curve))
        aucs.append(trapezoid_auc(curve))
    return {"fraction": grid, "curve": np.mean(resampled, axis=0), "auc": float(np.mean(aucs)), "auc_per_image": np.array(aucs)}


def part_deletion_curve(
    attributor: "PartAttributor", X: "PartImages", scores: ArrayLike, target: int | ArrayLike | None = None,
    n_points: int = 11,
) -> dict:
    """Model value as an image's parts are replaced by the baseline, highest score first.

    A faithful attribution makes the value fall fast: lower area under the curve is
    better. The curve of each image runs from all its parts kept (fraction 0) to none
    (fraction 1).

    Parameters
    ----------
    attributor : fitted PartAttributor
        Supplies the model, baseline and value (probability or logit).
    X : PartImages
    scores : array-like of shape (n_images, n_parts)
        Part scores of any method (e.g. ``attributor.transform(X)``). MSX membership
        codes (``method="msx"``, marked as such) rank the parts by
        :func:`~skpartx.attribution.msx_part_shares`.
    target : int or array-like, default=None
        Explained class per image; default: the model's prediction.
    n_points : int, default=11
        Points of the averaged curve.

    Returns
    -------
    result : dict
        ``fraction`` and ``curve`` (mean value at each fraction of parts removed),
        ``auc`` (mean area under each image's curve) and ``auc_per_image``.
    """
    return _curve_summary(_part_order_curves(attributor, X, scores, target, insertion=False), n_points)


def part_insertion_curve(
    attributor: "PartAttributor", X: "PartImages", scores: ArrayLike, target: int | ArrayLike | None = None,
    n_points: int = 11,
) -> dict:
    """Model value as parts are added to an empty image, highest score first.

    A faithful attribution makes the value rise fast: higher area under the curve is
    better. See :func:`part_deletion_curve` for the parameters and result.
    """
    return _curve_summary(_part_order_curves(attributor, X, scores, target, insertion=True), n_points)


def counterfactual_metrics(counterfactuals: "Sequence[PartCounterfactual]") -> dict:
    """Summary of counterfactuals: flip rate, parts swapped, insertion and deletion AUCs.

    Parameters
    ----------
    counterfactuals : sequence of PartCounterfactual

    Returns
    -------
    metrics : dict
        ``n_images``; ``flip_rate``; ``mean_swapped`` (parts swapped per image; an image
        that never flips counts all its parts); ``mean_swapped_flipped`` (over flipped
        images); mean ``insertion_auc`` and ``deletion_auc``.
    """
    flipped = np.array([c.flipped for c in counterfactuals], dtype=bool)
    swapped = np.array([c.n_swapped for c in counterfactuals], dtype=np.float64)
    mean = lambda values: float(np.mean(values)) if len(values) else float("nan")  # noqa: E731
    return {
        "n_images": len(counterfactuals),
        "flip_rate": mean(flipped),
        "mean_swapped": mean(swapped),
        "mean_swapped_flipped": mean(swapped[flipped]),
        "insertion_auc": mean([c.insertion_auc for c in counterfactuals]),
        "deletion_auc": mean([c.deletion_auc for c in counterfactuals]),
    }


def _final_step(estimator, X):
    """The rule explainer and its input, also when ``estimator`` is a pipeline ending in one."""
    if hasattr(estimator, "steps"):
        return estimator.steps[-1][1], estimator[:-1].transform(X)
    return estimator, X


def make_rule_scorer(
    metric: str = "fidelity", complexity_penalty: float = 0.0
) -> Callable[[object, ArrayLike, ArrayLike], float]:
    """A scikit-learn scorer for rule explainers, optionally penalising complex rule sets.

    The score is ``metric - complexity_penalty * total_length``, where ``total_length``
    counts the conditions of all rules, so a grid search can trade fidelity against
    readability. Works on a fitted :class:`~skpartx.GlobalRuleExplainer` or on a pipeline
    ending in one (its earlier steps transform ``X`` first).

    Parameters
    ----------
    metric : {"fidelity", "coverage"}, default="fidelity"
        Fidelity: share of images whose model decision ``y`` the rules reproduce.
        Coverage: share of images on which a rule of their decided class fires.
    complexity_penalty : float, default=0.0
        Score subtracted per rule condition.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y) -> float``

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skpartx import GlobalRuleExplainer
    >>> from skpartx.metrics import make_rule_scorer
    >>> search = GridSearchCV(
    ...     GlobalRuleExplainer(binarize="fraction", candidates="subsets"), {"max_rules": [1, 3]}, scoring=make_rule_scorer(complexity_penalty=0.01)
    ... )
    """
    if metric not in ("fidelity", "coverage"):
        raise ValueError(f"metric must be 'fidelity' or 'coverage', got {metric!r}.")
    if complexity_penalty < 0:
        raise ValueError(f"complexity_penalty must be >= 0, got {complexity_penalty!r}.")

    def scorer(estimator, X, y):
        explainer, features = _final_step(estimator, X)
        value = explainer.score(features, y) if metric == "fidelity" else explainer.coverage(features, y)
        return value - complexity_penalty * explainer.complexity_["total_length"]

    scorer.__name__ = f"{metric}_minus_{complexity_penalty:g}_per_condition" if complexity_penalty else metric
    return scorer


fidelity_scorer = make_rule_scorer("fidelity")
coverage_scorer = make_rule_scorer("coverage")
