"""Spatial relations between the parts of an image, computed from its part mask.

For every unordered pair of parts (a, b), with a before b in ``part_names``, seven
relations are recorded — enough to express every direction without duplicates:

- ``a above b`` / ``a below b``: a's centroid lies higher / lower than b's by more than
  5% of the image height;
- ``a left_of b`` / ``b left_of a``: likewise horizontally, by 5% of the image width;
- ``a adjacent b``: some pixel of a touches some pixel of b (4-neighbourhood);
- ``a inside b`` / ``b inside a``: at least 75% of the pixels bordering a (the one-pixel
  ring around it) belong to b, e.g. a window inside a body.

A relation holds only when both parts are present.
"""

from itertools import combinations

import numpy as np

RELATIONS = ("above", "below", "left_of", "adjacent", "inside")
MARGIN = 0.05
INSIDE_SHARE = 0.75
_SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def relation_pairs(n_parts):
    """``(relation, a, b)`` triples in output order for parts ``0..n_parts-1``."""
    triples = []
    for a, b in combinations(range(n_parts), 2):
        triples += [("above", a, b), ("below", a, b), ("left_of", a, b), ("left_of", b, a)]
        triples += [("adjacent", a, b), ("inside", a, b), ("inside", b, a)]
    return triples


def relation_names(part_names):
    """Column names such as ``"wing above body"``, in :func:`relation_pairs` order."""
    return [f"{part_names[a]} {relation} {part_names[b]}" for relation, a, b in relation_pairs(len(part_names))]


def parse_relation(name, part_names):
    """``(relation, a, b)`` part indices if ``name`` is a relation column over ``part_names``, else None."""
    for relation in RELATIONS:
        marker = f" {relation} "
        if marker in name:
            left, right = name.split(marker, 1)
            if left in part_names and right in part_names:
                return relation, list(part_names).index(left), list(part_names).index(right)
    return None


def _shifted(mask, dy, dx, fill=-1):
    """``mask`` moved by (dy, dx); uncovered pixels get ``fill``."""
    out = np.full_like(mask, fill)
    h, w = mask.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def _image_relations(mask, n_parts, triples):
    h, w = mask.shape
    labels = np.clip(mask, 0, None).ravel()
    valid = (mask >= 0).ravel()
    count = np.bincount(labels[valid], minlength=n_parts)[:n_parts]
    present = count > 0
    ys, xs = np.divmod(np.arange(h * w), w)
    cy = np.bincount(labels[valid], ys[valid], minlength=n_parts)[:n_parts] / np.maximum(count, 1)
    cx = np.bincount(labels[valid], xs[valid], minlength=n_parts)[:n_parts] / np.maximum(count, 1)
    # touch[a, b]: a pixel of a has a 4-neighbour in b; ring[a, b]: pixels of b bordering a.
    touch = np.zeros((n_parts, n_parts), dtype=bool)
    ring = np.zeros((n_parts, n_parts))
    for part in np.flatnonzero(present):
        inside = mask == part
        grown = np.zeros_like(inside)
        for dy, dx in _SHIFTS:
            grown |= _shifted(inside.astype(np.int8), dy, dx, fill=0).astype(bool)
        border = grown & ~inside & (mask >= 0)
        ring[part] = np.bincount(mask[border], minlength=n_parts)[:n_parts]
        touch[part] = ring[part] > 0
    ring_share = ring / np.maximum(ring.sum(axis=1, keepdims=True), 1)
    out = np.zeros(len(triples), dtype=bool)
    for k, (relation, a, b) in enumerate(triples):
        if not (present[a] and present[b]):
            continue
        if relation == "above":
            out[k] = cy[a] < cy[b] - MARGIN * h
        elif relation == "below":
            out[k] = cy[a] > cy[b] + MARGIN * h
        elif relation == "left_of":
            out[k] = cx[a] < cx[b] - MARGIN * w
        elif relation == "adjacent":
            out[k] = touch[a, b]
        else:  # inside
            out[k] = ring_share[a, b] >= INSIDE_SHARE
    return out


def part_relations(masks, n_parts):
    """Relations of every image: bool ``(n_images, n_relations)`` in :func:`relation_pairs` order.

    Unlabelled pixels (-1) belong to no part.
    """
    triples = relation_pairs(n_parts)
    return np.stack([_image_relations(np.asarray(mask), n_parts, triples) for mask in masks]) if len(masks) else (
        np.zeros((0, len(triples)), dtype=bool)
    )
