"""COCO segmentations as pixel masks: RLE (plain or compressed) and polygons, painted into part-id masks."""

import math
import numbers

import numpy as np
from PIL import Image, ImageDraw

from .._core.part_images import UNLABELLED
from ._common import is_int


def _rle_string_counts(string):
    """Run lengths of a COCO compressed RLE string (pycocotools' ``rleFrString``).

    Each count is a little-endian sequence of 5-bit groups in characters offset by 48;
    bit 0x20 says another group follows and bit 0x10 of the last group is the sign.
    From the fourth count on, the value stored is the difference to the count two before.
    """
    counts, value, shift = [], 0, 0
    for char in string:
        code = ord(char) - 48
        if not 0 <= code < 64:
            raise ValueError(f"{char!r} cannot occur in a COCO compressed RLE string.")
        value |= (code & 0x1F) << shift
        shift += 5
        if code & 0x20:
            continue
        if code & 0x10:
            value |= -1 << shift  # sign-extend
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
        value, shift = 0, 0
    if shift:
        raise ValueError("The COCO compressed RLE string ends in the middle of a count.")
    return counts


def _decode_rle(rle, height, width):
    """Boolean ``(height, width)`` mask of a COCO RLE dict (runs go down columns, zeros first)."""
    rle_size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(rle_size, (list, tuple)) and len(rle_size) == 2 and all(is_int(s) for s in rle_size)):
        raise ValueError(f"RLE 'size' must be [height, width], got {rle_size!r}.")
    # Checked before decoding, so a forged size cannot make us allocate a huge mask.
    if tuple(rle_size) != (height, width):
        raise ValueError(f"RLE size {list(rle_size)} does not match the image size [{height}, {width}].")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        counts = _rle_string_counts(counts)
    elif not (isinstance(counts, (list, tuple)) and all(is_int(c) for c in counts)):
        raise ValueError("RLE 'counts' must be a list of ints or a COCO compressed string.")
    counts = np.asarray(counts, dtype=np.int64)
    if (counts < 0).any() or counts.sum() != height * width:
        raise ValueError(
            f"RLE counts must be non-negative and sum to height * width = {height * width}, "
            f"got a sum of {int(counts.sum())}."
        )
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(width, height).T


def _draw_polygons(polygons, height, width):
    """Boolean mask of the union of flat ``[x1, y1, x2, y2, ...]`` polygons, edges included (as PIL draws)."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        if not isinstance(polygon, (list, tuple)) or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in polygon
        ):
            raise ValueError("A polygon must be a flat list of finite numbers [x1, y1, x2, y2, ...].")
        if len(polygon) % 2:
            raise ValueError(f"A polygon must list x, y pairs, got {len(polygon)} numbers.")
        if len(polygon) >= 6:  # fewer than 3 points enclose nothing
            draw.polygon([float(v) for v in polygon], fill=1)
    return np.asarray(canvas, dtype=bool)


def _segmentation_mask(segmentation, height, width):
    """Boolean mask of a COCO segmentation: an RLE dict, or a list of polygons (and/or RLE dicts)."""
    if isinstance(segmentation, dict):
        return _decode_rle(segmentation, height, width)
    if not isinstance(segmentation, list):
        raise ValueError(f"segmentation must be a list of polygons or an RLE dict, got {type(segmentation).__name__}.")
    region = _draw_polygons([s for s in segmentation if not isinstance(s, dict)], height, width)
    for rle in (s for s in segmentation if isinstance(s, dict)):
        region |= _decode_rle(rle, height, width)
    return region


def rasterise_parts(annotations, part_of, height, width, file_name):
    """Part-id mask of one image: later annotations paint over earlier ones; -1 if none."""
    if not annotations:
        return np.full((height, width), UNLABELLED, dtype=np.int32)
    mask = np.zeros((height, width), dtype=np.int32)
    for ann in annotations:
        try:
            region = _segmentation_mask(ann.get("segmentation"), height, width)
        except ValueError as error:
            raise ValueError(f"Annotation {ann.get('id')!r} of image {file_name!r}: {error}") from None
        mask[region] = part_of[ann["category_id"]]
    return mask
