"""Deletion and insertion curves: how faithful part scores are to the model's response."""

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._core.curves import trapezoid_auc
from .._core.part_scores import table_info
from ._explanations import msx_part_shares

if TYPE_CHECKING:
    from .._core.part_images import PartImages
    from ._attributor import PartAttributor


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
