"""How well transferred masks agree with true ones: intersection over union per part."""

import numpy as np
from numpy.typing import ArrayLike


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
