"""Loader of CUB-200-2011 with its part keypoints turned into part regions.

The list files are parsed as plain text only: whitespace-separated columns whose last
one takes the rest of the line, so image paths and names may contain spaces.
"""

import math
import numbers
import os
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch

from .._core.part_images import UNLABELLED
from ._common import (
    ImageSize,
    PathLike,
    check_dir,
    check_image_size,
    check_lazy,
    file_images,
    inside_root,
    loader_bunch,
    read_image_size,
    resize_mask,
)

_SPLITS = ("train", "test")


def _read_table(root, relative, converters, layout):
    """Rows of a whitespace-separated CUB list file; the last column takes the rest of the line."""
    path = os.path.join(root, relative)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CUB file {relative!r} not found at {path!r}; expected the CUB_200_2011 layout.")
    rows = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            fields = line.split(None, len(converters) - 1)
            try:
                if len(fields) != len(converters):
                    raise ValueError
                rows.append(tuple(convert(f.strip()) for convert, f in zip(converters, fields)))
            except ValueError:
                raise ValueError(f"{path}, line {number}: cannot read {line.strip()!r}; expected '{layout}'.") from None
    return rows


def _unique_ids(rows, relative):
    ids = [r[0] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"Ids in CUB file {relative!r} must be unique.")
    return ids


def _keypoint_disks(points, height, width, radius):
    """Part ids in disks of ``radius`` pixels around visible keypoints, -1 elsewhere.

    Where disks overlap the closer keypoint wins; at equal distance, the earlier part.
    """
    mask = np.full((height, width), UNLABELLED, dtype=np.int32)
    best = np.full((height, width), np.inf)
    for part, (x, y, visible) in enumerate(points, start=1):
        if not visible:
            continue
        # Work on the disk's bounding box only: images are large, disks small.
        r0, r1 = max(0, math.ceil(y - radius)), min(height, math.floor(y + radius) + 1)
        c0, c1 = max(0, math.ceil(x - radius)), min(width, math.floor(x + radius) + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        d2 = (np.arange(c0, c1)[None, :] - x) ** 2 + (np.arange(r0, r1)[:, None] - y) ** 2
        window = best[r0:r1, c0:c1]
        closer = (d2 <= radius**2) & (d2 < window)
        mask[r0:r1, c0:c1][closer] = part
        window[closer] = d2[closer]
    return mask


def _cub_split(root, ids, split):
    """Whether each image is a training image (None without the split file), and the rows to keep."""
    path = os.path.join(root, "train_test_split.txt")
    if split is None and not os.path.isfile(path):
        return None, np.arange(len(ids))
    is_train = dict(_read_table(root, "train_test_split.txt", (int, int), "image_id is_training_image"))
    missing = [i for i in ids if i not in is_train]
    if missing:
        raise ValueError(f"train_test_split.txt lists no split for image id(s) {missing[:5]}.")
    flags = np.array([is_train[i] == 1 for i in ids])
    keep = np.arange(len(ids)) if split is None else np.flatnonzero(flags == (split == "train"))
    return flags[keep], keep


class _CubLists(NamedTuple):
    """The CUB list files, one entry per line of ``images.txt``."""

    ids: list  # CUB image ids
    paths: list  # image paths relative to ``images/``
    files: list  # real paths of the image files
    target: np.ndarray  # (N,) int64 class ids, in the order of the class ids of classes.txt
    class_names: list
    part_names: list
    points: np.ndarray  # (N, n_parts, 3) float32 keypoints x, y, visible


def _class_ids(ids, labels, classes):
    """Class id of each image: its position among the ``classes`` sorted by CUB class id."""
    class_of = {cid: k for k, (cid, _) in enumerate(classes)}
    unknown = [i for i in ids if labels.get(i) not in class_of]
    if unknown:
        raise ValueError(f"Image id(s) {unknown[:5]} have no class in image_class_labels.txt / classes.txt.")
    return np.array([class_of[labels[i]] for i in ids], dtype=np.int64)


def _keypoints(locs, ids, parts):
    """``(N, n_parts, 3)`` float32 ``x, y, visible`` of the rows of ``part_locs.txt`` (zeros where missing)."""
    row_of = {image_id: row for row, image_id in enumerate(ids)}
    part_of = {pid: k for k, (pid, _) in enumerate(parts)}
    points = np.zeros((len(ids), len(parts), 3), dtype=np.float32)
    for image_id, part_id, x, y, visible in locs:
        if image_id not in row_of or part_id not in part_of:
            raise ValueError(f"part_locs.txt refers to unknown image id {image_id} or part id {part_id}.")
        points[row_of[image_id], part_of[part_id]] = (x, y, visible > 0)
    return points


def _read_cub(root):
    """The CUB list files under ``root``, with unique ids, a known class per image and image paths inside root."""
    image_rows = _read_table(root, "images.txt", (int, str), "image_id relative/path")
    ids = _unique_ids(image_rows, "images.txt")
    # Checked before anything is read, so a bad list fails at once.
    files = [inside_root(os.path.join(root, "images"), path, "images.txt") for _, path in image_rows]
    labels = dict(_read_table(root, "image_class_labels.txt", (int, int), "image_id class_id"))
    classes = sorted(_read_table(root, "classes.txt", (int, str), "class_id name"))
    _unique_ids(classes, "classes.txt")
    parts = _read_table(root, os.path.join("parts", "parts.txt"), (int, str), "part_id name")
    _unique_ids(parts, "parts/parts.txt")
    locs = _read_table(
        root, os.path.join("parts", "part_locs.txt"), (int, int, float, float, float), "image_id part_id x y visible"
    )
    target = _class_ids(ids, labels, classes)
    return _CubLists(
        ids=ids,
        paths=[path for _, path in image_rows],
        files=files,
        target=target,
        class_names=[name for _, name in classes],
        part_names=[name for _, name in parts],
        points=_keypoints(locs, ids, parts),
    )


def _region_masks(files, points, size, radius):
    """Keypoint-disk masks of the images resized to ``size``, and the keypoints mapped to ``size``.

    Disks are drawn at each image's original size, read from its header; keypoints are
    mapped pixel-centre aligned, so each stays on the pixel it marks.
    """
    masks = np.empty((len(files), *size), dtype=np.int32)
    keypoints = points.copy()
    for i, path in enumerate(files):
        height, width = read_image_size(path)
        masks[i] = resize_mask(_keypoint_disks(points[i], height, width, radius * min(height, width)), size)
        keypoints[i, :, 0] = (keypoints[i, :, 0] + 0.5) * size[1] / width - 0.5
        keypoints[i, :, 1] = (keypoints[i, :, 1] + 0.5) * size[0] / height - 0.5
    return masks, keypoints


def _check_radius_and_split(radius, split):
    """Refuse a ``radius`` that is not a positive finite number and an unknown ``split``."""
    if not (isinstance(radius, numbers.Real) and math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive fraction of the shorter image side, got {radius!r}.")
    if split is not None and split not in _SPLITS:
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}.")


def load_cub_parts(
    root: PathLike,
    image_size: ImageSize = 224,
    radius: float = 0.06,
    split: str | None = None,
    lazy: bool = True,
) -> Bunch:
    """Load CUB-200-2011 with its part keypoints turned into part regions.

    Each visible keypoint becomes a disk of ``radius * min(H, W)`` pixels (original
    image size) around it, labelled with its part id (ids in the order of
    ``parts/parts.txt``; 0, the background, is never assigned). Where disks overlap,
    the closer keypoint wins (equal distance: the earlier part). All other pixels are
    unlabelled (-1): keypoints say where parts are, not where they are not, so
    :class:`~skpartx.transfer.PartLabelTransfer` can fill them in later. Masks are
    drawn at the original size, then resized (nearest). Keypoint coordinates are read
    as pixel coordinates (column x, row y).

    Parameters
    ----------
    root : str or path-like
        The ``CUB_200_2011`` folder: ``images.txt``, ``image_class_labels.txt``,
        ``classes.txt``, ``parts/parts.txt``, ``parts/part_locs.txt``, optional
        ``train_test_split.txt``, and the images under ``images/`` (every image path
        must resolve inside that folder).
    image_size : int or (int, int), default=224
        Size ``(height, width)`` every image and mask is resized to.
    radius : float, default=0.06
        Disk radius as a fraction of the shorter image side.
    split : {"train", "test"} or None, default=None
        Load only this split (needs ``train_test_split.txt``); None loads all images.
    lazy : bool, default=True
        Read each image only when it is needed (``X.images`` is a
        :class:`~skpartx.LazyImages`; only the headers are read now, for the sizes
        the keypoints refer to); False reads them all now into one array.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` :class:`~skpartx.PartImages`; ``target`` (N,) int64 class ids, in the
        order of the class ids of ``classes.txt``; ``target_names`` tuple of class
        names; ``part_names`` ``("background", *part names)``; ``paths`` image paths
        relative to ``root`` (``images/...``); ``image_ids`` (N,) CUB image ids;
        ``keypoints`` (N, n_parts, 3) float32 ``x, y, visible``, with x and y mapped to
        ``image_size`` pixel-centre aligned (``x' = (x + 0.5) * W' / W - 0.5``, so a
        keypoint stays on the pixel it marks; invisible keypoints keep CUB's
        meaningless coordinates, mapped alike); ``is_train`` (N,) bool, or None
        without ``train_test_split.txt``.

    Examples
    --------
    >>> from skpartx.datasets import load_cub_parts
    >>> data = load_cub_parts("CUB_200_2011", image_size=128, split="test")  # doctest: +SKIP
    >>> data.part_names[:3]  # doctest: +SKIP
    ('background', 'back', 'beak')
    """
    size = check_image_size(image_size)
    _check_radius_and_split(radius, split)
    check_lazy(lazy)
    root = check_dir(root, "CUB root")
    cub = _read_cub(root)
    is_train, keep = _cub_split(root, cub.ids, split)
    files = [cub.files[row] for row in keep]
    masks, keypoints = _region_masks(files, cub.points[keep], size, radius)
    return loader_bunch(
        file_images(files, size, lazy),
        masks,
        ("background", *cub.part_names),
        cub.target[keep],
        cub.class_names,
        [os.path.join("images", cub.paths[row]) for row in keep],
        image_ids=np.array([cub.ids[row] for row in keep], dtype=np.int64),
        keypoints=keypoints,
        is_train=is_train,
    )
