"""Loader of images with part masks from COCO-style part annotations (the PartImageNet format).

The annotation file is parsed as JSON only; each category is a part, and each image's
class comes from its parts' supercategories, its folder, or a function of its record.
"""

import json
import os
import warnings
from collections import Counter
from collections.abc import Callable

import numpy as np
from sklearn.utils import Bunch

from ._coco_segmentation import rasterise_parts
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

_CLASS_FROM = ("supercategory", "folder")


def _read_coco(annotations):
    """The COCO content of a JSON file (or of an already parsed dict), checked for its top-level lists."""
    if isinstance(annotations, dict):
        coco = annotations
    else:
        path = os.fspath(annotations)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Annotation file not found: {path!r}.")
        try:
            with open(path, encoding="utf-8") as file:
                coco = json.load(file)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{path!r} is not a JSON file ({exc}); COCO annotations must be JSON, the only format read "
                "(nothing in an annotation file is ever executed or unpickled)."
            ) from exc
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list) or not isinstance(
        coco.get("categories"), list
    ):
        raise ValueError("COCO annotations must be a JSON object with lists 'images', 'categories' and 'annotations'.")
    if not isinstance(coco.get("annotations", []), list):
        raise ValueError("COCO 'annotations' must be a list.")
    return coco


def _coco_parts(categories):
    """Categories sorted by id, and the part id (1..P) of each category id."""
    if not all(isinstance(c, dict) and "id" in c and isinstance(c.get("name"), str) for c in categories):
        raise ValueError("Every COCO category needs an 'id' and a string 'name'.")
    categories = sorted(categories, key=lambda c: c["id"])
    ids = [c["id"] for c in categories]
    names = [c["name"] for c in categories]
    for what, values in (("ids", ids), ("names", names)):
        repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
        if repeated:
            raise ValueError(f"COCO category {what} must be unique; repeated: {repeated}.")
    if "background" in names:
        raise ValueError("No COCO category may be called 'background': that name is part id 0.")
    return categories, {cid: k + 1 for k, cid in enumerate(ids)}


def _group_annotations(coco, image_ids, part_of):
    """The annotations of each image, in file order."""
    row_of = {}
    for row, image_id in enumerate(image_ids):
        if image_id in row_of:
            raise ValueError(f"COCO image id {image_id!r} occurs more than once in 'images'.")
        row_of[image_id] = row
    grouped = [[] for _ in image_ids]
    for ann in coco.get("annotations", []):
        if not isinstance(ann, dict) or ann.get("image_id") not in row_of:
            raise ValueError(f"Annotation {ann.get('id') if isinstance(ann, dict) else ann!r} refers to no known image.")
        if ann.get("category_id") not in part_of:
            raise ValueError(f"Annotation {ann.get('id')!r} has unknown category_id {ann.get('category_id')!r}.")
        grouped[row_of[ann["image_id"]]].append(ann)
    return grouped


def _coco_class_names(records, grouped, categories, class_from):
    """Class name of each image (None when unknown), and all class names."""
    if class_from == "supercategory":
        if not all(isinstance(c.get("supercategory"), str) for c in categories):
            raise ValueError("class_from='supercategory' needs a string 'supercategory' in every category.")
        super_of = {c["id"]: c["supercategory"] for c in categories}
        names = []
        for anns in grouped:
            counts = Counter(super_of[a["category_id"]] for a in anns)
            # Most frequent; ties go to the alphabetically first supercategory.
            names.append(min(counts, key=lambda s: (-counts[s], s)) if counts else None)
        return names, sorted(set(super_of.values()))
    if class_from == "folder":
        names = []
        for rec in records:
            parts = rec["file_name"].split("/")
            if len(parts) < 2 or not parts[0]:
                raise ValueError(f"class_from='folder' needs file names like 'class/image.jpg', got {rec['file_name']!r}.")
            names.append(parts[0])
        return names, sorted(set(names))
    if callable(class_from):
        names = [class_from(rec) for rec in records]
        bad = [n for n in names if n is not None and not isinstance(n, str)]
        if bad:
            raise TypeError(f"class_from must return a class name (str) or None, got {bad[0]!r}.")
        return names, sorted({n for n in names if n is not None})
    raise ValueError(f"class_from must be one of {_CLASS_FROM} or a callable, got {class_from!r}.")


def _image_records(records):
    """The COCO image records, checked to be there and to carry an id and a file name."""
    if not records:
        raise ValueError("The COCO annotations list no images.")
    if not all(isinstance(r, dict) and "id" in r and isinstance(r.get("file_name"), str) for r in records):
        raise ValueError("Every COCO image record needs an 'id' and a string 'file_name'.")
    return records


def _coco_targets(records, grouped, categories, class_from):
    """Class id of each image (-1 where unknown, with a warning) and the sorted class names."""
    class_names, target_names = _coco_class_names(records, grouped, categories, class_from)
    index = {n: k for k, n in enumerate(target_names)}
    target = np.array([index.get(n, -1) for n in class_names], dtype=np.int64)
    unknown = [r["file_name"] for r, t in zip(records, target) if t < 0]
    if unknown:
        why = "they have no part annotation" if class_from == "supercategory" else "class_from returned None"
        warnings.warn(
            f"{len(unknown)} image(s) have no class ({why}), e.g. {unknown[0]!r}; their target is -1.",
            UserWarning,
            stacklevel=3,  # the caller of load_coco_parts
        )
    return target, target_names


def _part_masks(records, files, grouped, part_of, size):
    """Part-id masks drawn at each image's size (which must match its record), then resized to ``size``."""
    masks = np.empty((len(records), *size), dtype=np.int32)
    for i, rec in enumerate(records):
        height, width = read_image_size(files[i])
        stated = (rec.get("height", height), rec.get("width", width))
        if stated != (height, width):
            raise ValueError(
                f"Image {rec['file_name']!r} is {height}x{width} pixels but its record says "
                f"{stated[0]}x{stated[1]}; the annotations would not line up."
            )
        masks[i] = resize_mask(rasterise_parts(grouped[i], part_of, height, width, rec["file_name"]), size)
    return masks


def load_coco_parts(
    annotations: PathLike | dict,
    image_root: PathLike,
    image_size: ImageSize = 224,
    class_from: str | Callable[[dict], str | None] = "supercategory",
    lazy: bool = True,
) -> Bunch:
    """Load images with part masks from COCO-style annotations (the PartImageNet format).

    Each COCO category is a part; part ids ``1..P`` follow the sorted category ids.
    A segmentation is a list of polygons (flat ``[x1, y1, x2, y2, ...]`` lists, drawn
    with their edges, as ``PIL.ImageDraw`` does) or an RLE dict with ``size``
    ``[h, w]`` and ``counts``, either a list of run lengths (column-major, zeros
    first) or a COCO compressed string; crowd annotations are treated like the others.
    Masks are rasterised at each image's original size, then resized (nearest).

    Where parts overlap, the later annotation in the file wins. Pixels covered by no
    part are background (0) in images with at least one annotation; images without
    any annotation are unlabelled (-1 everywhere).

    Parameters
    ----------
    annotations : str, path-like or dict
        The COCO JSON file (read with ``json`` only), or its already parsed content.
    image_root : str or path-like
        Folder that the images' ``file_name`` entries are relative to; every file
        must resolve inside it.
    image_size : int or (int, int), default=224
        Size ``(height, width)`` every image and mask is resized to.
    class_from : {"supercategory", "folder"} or callable, default="supercategory"
        How to get each image's class name: ``"supercategory"``, the supercategory
        most frequent among the image's part annotations (ties: alphabetically first;
        images without annotations get target -1 and a warning); ``"folder"``, the
        first component of ``file_name`` (PartImageNet's ``"n01440764/x.JPEG"``); or
        a callable ``image_record -> class name or None`` (None gives target -1).
    lazy : bool, default=True
        Read each image only when it is needed (``X.images`` is a
        :class:`~skpartx.LazyImages`; only the headers are read now, for the sizes
        the annotations refer to); False reads them all now into one array.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` :class:`~skpartx.PartImages`; ``target`` (N,) int64 class ids, -1 where
        unknown; ``target_names`` sorted class names (for ``"supercategory"``, all
        supercategories of the categories); ``part_names`` ``("background",
        *category names)``; ``paths`` the ``file_name`` of each image; ``image_ids``
        the COCO image ids; ``category_ids`` the COCO category id of each part id
        from 1; ``part_supercategories`` the supercategory of each part id (None for
        the background and for categories without one).

    Examples
    --------
    >>> from skpartx.datasets import load_coco_parts
    >>> data = load_coco_parts("train.json", "images/train", image_size=128)  # doctest: +SKIP
    >>> data.part_names[:3]  # doctest: +SKIP
    ('background', 'Quadruped Head', 'Quadruped Body')
    """
    size = check_image_size(image_size)
    check_lazy(lazy)
    image_root = check_dir(image_root, "image_root")
    coco = _read_coco(annotations)
    categories, part_of = _coco_parts(coco["categories"])
    records = _image_records(coco["images"])
    # Checked before anything is read, so a bad file fails at once.
    files = [inside_root(image_root, r["file_name"], "the COCO annotations") for r in records]
    grouped = _group_annotations(coco, [r["id"] for r in records], part_of)
    target, target_names = _coco_targets(records, grouped, categories, class_from)
    masks = _part_masks(records, files, grouped, part_of, size)
    return loader_bunch(
        file_images(files, size, lazy),
        masks,
        ("background", *(c["name"] for c in categories)),
        target,
        target_names,
        [r["file_name"] for r in records],
        image_ids=tuple(r["id"] for r in records),
        category_ids=tuple(c["id"] for c in categories),
        part_supercategories=(None, *(c.get("supercategory") for c in categories)),
    )
