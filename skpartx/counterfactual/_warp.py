"""Warping geometry of part-swap counterfactuals: a donor image laid onto a query's parts.

Each part region of the query is filled from the donor by the linear map between the two
images' boxes of that part (or of the whole object where the donor lacks the part), with
bilinear sampling; see :func:`warp_donor`.
"""

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from .._core.part_images import UNLABELLED


def _box(mask):
    """``(top, bottom, left, right)`` of the True pixels (inclusive), or None."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return rows[0], rows[-1], cols[0], cols[-1]


def _map_box(coords, source, target):
    """Coordinates ``(2, n)`` in box ``target`` mapped linearly onto box ``source``."""
    out = np.empty_like(coords, dtype=np.float64)
    for axis, (t0, t1, s0, s1) in enumerate(((target[0], target[1], source[0], source[1]),
                                             (target[2], target[3], source[2], source[3]))):
        scale = (s1 - s0 + 1) / (t1 - t0 + 1)
        out[axis] = s0 - 0.5 + (coords[axis] - t0 + 0.5) * scale
    return out


def warp_donor(query_mask: ArrayLike, donor_image: ArrayLike, donor_mask: ArrayLike) -> np.ndarray:
    """The donor's content laid onto the query's parts, ``(C, H, W)``.

    Each part region of ``query_mask`` is filled from the donor by the linear map of the
    query part's box onto the donor's box of the same part; the background and parts the
    donor does not show use the map of the query object's box (all non-background parts)
    onto the donor object's box, and the identity when either image has no object.
    Unlabelled query pixels (-1) keep the donor pixel at the same place. Sampling is
    bilinear.
    """
    query_mask, donor_mask = np.asarray(query_mask), np.asarray(donor_mask)
    donor_image = np.asarray(donor_image, dtype=np.float32)
    out = donor_image.copy()
    objects = (_box(query_mask > 0), _box(donor_mask > 0))
    for part in np.unique(query_mask):
        if part == UNLABELLED:
            continue
        coords = np.array(np.nonzero(query_mask == part), dtype=np.float64)
        boxes = (_box(query_mask == part), _box(donor_mask == part)) if part > 0 else (None, None)
        if boxes[1] is None:
            boxes = objects
        if boxes[0] is not None and boxes[1] is not None:
            coords = _map_box(coords, boxes[1], boxes[0])
        rows, cols = np.nonzero(query_mask == part)
        for channel in range(len(out)):
            out[channel, rows, cols] = ndimage.map_coordinates(donor_image[channel], coords, order=1, mode="nearest")
    return out
