"""Summary measures of a set of part-swap counterfactuals."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._result import PartCounterfactual


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
