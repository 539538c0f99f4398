"""Loaders: image folders, COCO-style part annotations, CUB-200-2011 keypoints and torch data sets.

Every loader returns a :class:`~sklearn.utils.Bunch` whose ``X`` is a
:class:`~skpartx.PartImages` with all images resized to one ``image_size``
(bilinear for images, nearest for masks, so part ids never blend). The file loaders
read pixels lazily by default: ``X.images`` is a :class:`~skpartx.LazyImages` that
reads (and resizes) each image when an estimator's batch needs it, so a data set
larger than memory can be explained; ``lazy=False`` reads them all at once.

These loaders read files that other people made, so they parse JSON and plain text
only (nothing is executed or unpickled), and every image path taken from an
annotation or list file must be relative and resolve (symbolic links followed)
inside the given root; anything else raises a ``ValueError`` naming the path.
"""

import json
import math
import numbers
import os
import warnings
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from sklearn.utils import Bunch

from .._lazy import LazyImages
from .._part_images import UNLABELLED, PartImages

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_CLASS_FROM = ("supercategory", "folder")
_SPLITS = ("train", "test")


# --------------------------------------------------------------------------- helpers


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_image_size(image_size, allow_none=False):
    """``image_size`` as a pair ``(height, width)`` of positive ints (or None if allowed)."""
    if image_size is None and allow_none:
        return None
    if _is_int(image_size):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2 and all(_is_int(s) for s in image_size):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"image_size must be an int or a pair (height, width) of ints, got {image_size!r}.")
    if min(size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}.")
    return size


def _check_dir(root, what):
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"{what} {root!r} does not exist.")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{what} {root!r} is not a directory.")
    return root


def _inside(root, relative, source):
    """Real path of ``root/relative``, refusing absolute paths and paths that leave ``root``.

    ``source`` names where the path came from, for the error message.
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise ValueError(f"Image path {relative!r} in {source} must be a non-empty string without NUL characters.")
    if os.path.isabs(relative) or os.path.splitdrive(relative)[0]:
        raise ValueError(f"Image path {relative!r} in {source} is absolute; paths must be relative to {root!r}.")
    real_root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(real_root, relative))
    if os.path.commonpath([real_root, path]) != real_root:
        raise ValueError(
            f"Image path {relative!r} in {source} resolves to {path!r}, outside {root!r}; "
            "refusing to read files outside the root."
        )
    return path


def _require_image_file(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image file not found: {path!r}.")


def _read_image(path, size):
    """RGB pixels ``(3, H, W)`` uint8 resized bilinearly to ``size``, and the original ``(height, width)``.

    No EXIF rotation is applied: annotation coordinates refer to the stored pixels.
    """
    _require_image_file(path)
    with Image.open(path) as image:
        image = image.convert("RGB")  # loads the pixels, so the file can close
    original = (image.height, image.width)
    if original != size:
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image).transpose(2, 0, 1), original


def _image_size(path):
    """``(height, width)`` of an image file, from its header only."""
    _require_image_file(path)
    with Image.open(path) as image:
        return (image.height, image.width)


class ImageFiles:
    """A source of :class:`~skpartx.LazyImages`: image files read and resized on demand.

    Each file's size and modification time are recorded when the source is made; they
    identify the content for caching, and reading a file that changed since raises an
    error rather than silently mixing old and new pixels.
    """

    def __init__(self, files, size):
        self.files = tuple(os.fspath(f) for f in files)
        self.size = tuple(size)
        self.item_shape = (3, *self.size)
        self.stamps = tuple(self._stamp(f) for f in self.files)

    @staticmethod
    def _stamp(path):
        _require_image_file(path)
        stat = os.stat(path)
        return (stat.st_size, stat.st_mtime_ns)

    def __len__(self):
        return len(self.files)

    def read(self, i):
        path = self.files[i]
        if self._stamp(path) != self.stamps[i]:
            raise RuntimeError(f"Image file {path!r} changed after it was loaded; load the data again.")
        return _read_image(path, self.size)[0].astype(np.float32) / np.float32(255.0)

    def __repr__(self):
        return f"ImageFiles({len(self.files)} files at {self.size[0]}x{self.size[1]})"


def _file_images(files, size, lazy):
    """Float32 images of ``files`` in [0, 1]: a ``LazyImages`` or, if not ``lazy``, an array."""
    images = LazyImages(ImageFiles(files, size))
    return images if lazy else np.asarray(images)


def _check_lazy(lazy):
    if not isinstance(lazy, bool):
        raise TypeError(f"lazy must be True or False, got {lazy!r}.")


def _resize_mask(mask, size):
    """Nearest-neighbour resize of an int32 part-id mask (PIL mode "I" keeps -1 and every id)."""
    if mask.shape == tuple(size):
        return mask
    resized = Image.fromarray(mask.astype(np.int32, copy=False)).resize((size[1], size[0]), Image.Resampling.NEAREST)
    return np.asarray(resized, dtype=np.int32)


def _bunch(images, masks, part_names, target, target_names, paths, **extras):
    """The common result, with ``images`` float32 in [0, 1] (an array or ``LazyImages``)."""
    X = PartImages(images, masks, part_names)
    return Bunch(
        X=X,
        target=target,
        target_names=tuple(target_names),
        part_names=X.part_names,
        paths=None if paths is None else tuple(paths),
        **extras,
    )


# --------------------------------------------------------------------------- image folder


def _check_extensions(extensions):
    if isinstance(extensions, str) or not extensions or not all(isinstance(e, str) and e for e in extensions):
        raise ValueError(f"extensions must be a non-empty sequence of file endings such as '.jpg', got {extensions!r}.")
    return tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)


def _find_images(folder, extensions):
    """Image files under ``folder`` (recursively, sorted, hidden entries skipped)."""
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.join(current, f)
            for f in sorted(files)
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in extensions
        ]
    return found


def load_image_folder(root, image_size=224, extensions=IMAGE_EXTENSIONS, lazy=True):
    """Load images laid out as ``root/<class>/<image>``, without part masks.

    Class names are the sorted names of the sub-folders of ``root`` (hidden ones
    skipped), so target ids match those of ``torchvision.datasets.ImageFolder``. Images
    are found recursively inside each class folder; file endings are matched without
    regard to case. A class folder without any image is kept in ``target_names`` (so
    the ids of the other classes do not shift) and a warning names it.

    Parameters
    ----------
    root : str or path-like
        Folder holding one sub-folder per class.
    image_size : int or (int, int), default=224
        Size ``(height, width)`` every image is resized to (bilinear).
    extensions : sequence of str, default=(".jpg", ".jpeg", ".png", ".bmp")
        File endings of the images to load.
    lazy : bool, default=True
        Read each image only when it is needed (``X.images`` is a
        :class:`~skpartx.LazyImages`); False reads them all now into one array.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` :class:`~skpartx.PartImages` of RGB images with every mask pixel
        unlabelled (-1); ``target`` (N,) int64 class ids; ``target_names`` tuple of
        class names; ``part_names`` ``("background",)``; ``paths`` tuple of image paths
        relative to ``root``.

    Examples
    --------
    >>> from skpartx.datasets import load_image_folder
    >>> data = load_image_folder("photos", image_size=64)  # doctest: +SKIP
    >>> data.X.shape, data.target_names  # doctest: +SKIP
    ((120, 3, 64, 64), ('cat', 'dog'))
    """
    size = _check_image_size(image_size)
    extensions = _check_extensions(extensions)
    _check_lazy(lazy)
    root = _check_dir(root, "Image folder root")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise ValueError(f"{root!r} has no class sub-folders; expected the layout root/<class name>/<image file>.")

    paths, target, empty = [], [], []
    for label, name in enumerate(classes):
        found = _find_images(os.path.join(root, name), extensions)
        if not found:
            empty.append(name)
        paths += [os.path.relpath(p, root) for p in found]
        target += [label] * len(found)
    if not paths:
        raise ValueError(f"No image with an ending in {extensions} found in the class folders of {root!r}.")
    if empty:
        warnings.warn(
            f"Class folders without images in {root!r}: {empty}; they stay in target_names but no image has their id.",
            UserWarning,
            stacklevel=2,
        )

    images = _file_images([os.path.join(root, path) for path in paths], size, lazy)
    return _bunch(images, None, ("background",), np.array(target, dtype=np.int64), classes, paths)


# --------------------------------------------------------------------------- COCO parts


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
    if not (isinstance(rle_size, (list, tuple)) and len(rle_size) == 2 and all(_is_int(s) for s in rle_size)):
        raise ValueError(f"RLE 'size' must be [height, width], got {rle_size!r}.")
    # Checked before decoding, so a forged size cannot make us allocate a huge mask.
    if tuple(rle_size) != (height, width):
        raise ValueError(f"RLE size {list(rle_size)} does not match the image size [{height}, {width}].")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        counts = _rle_string_counts(counts)
    elif not (isinstance(counts, (list, tuple)) and all(_is_int(c) for c in counts)):
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


def _rasterise_parts(annotations, part_of, height, width, file_name):
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


def _read_coco(annotations):
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


def load_coco_parts(annotations, image_root, image_size=224, class_from="supercategory", lazy=True):
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
    size = _check_image_size(image_size)
    _check_lazy(lazy)
    image_root = _check_dir(image_root, "image_root")
    coco = _read_coco(annotations)
    categories, part_of = _coco_parts(coco["categories"])
    records = coco["images"]
    if not records:
        raise ValueError("The COCO annotations list no images.")
    if not all(isinstance(r, dict) and "id" in r and isinstance(r.get("file_name"), str) for r in records):
        raise ValueError("Every COCO image record needs an 'id' and a string 'file_name'.")
    # Checked before anything is read, so a bad file fails at once.
    files = [_inside(image_root, r["file_name"], "the COCO annotations") for r in records]
    image_ids = [r["id"] for r in records]
    grouped = _group_annotations(coco, image_ids, part_of)
    class_names, target_names = _coco_class_names(records, grouped, categories, class_from)
    index = {n: k for k, n in enumerate(target_names)}
    target = np.array([index.get(n, -1) for n in class_names], dtype=np.int64)
    unknown = [r["file_name"] for r, t in zip(records, target) if t < 0]
    if unknown:
        why = "they have no part annotation" if class_from == "supercategory" else "class_from returned None"
        warnings.warn(
            f"{len(unknown)} image(s) have no class ({why}), e.g. {unknown[0]!r}; their target is -1.",
            UserWarning,
            stacklevel=2,
        )

    masks = np.empty((len(records), *size), dtype=np.int32)
    for i, rec in enumerate(records):
        height, width = _image_size(files[i])
        stated = (rec.get("height", height), rec.get("width", width))
        if stated != (height, width):
            raise ValueError(
                f"Image {rec['file_name']!r} is {height}x{width} pixels but its record says "
                f"{stated[0]}x{stated[1]}; the annotations would not line up."
            )
        masks[i] = _resize_mask(_rasterise_parts(grouped[i], part_of, height, width, rec["file_name"]), size)

    return _bunch(
        _file_images(files, size, lazy),
        masks,
        ("background", *(c["name"] for c in categories)),
        target,
        target_names,
        [r["file_name"] for r in records],
        image_ids=tuple(image_ids),
        category_ids=tuple(c["id"] for c in categories),
        part_supercategories=(None, *(c.get("supercategory") for c in categories)),
    )


# --------------------------------------------------------------------------- CUB-200-2011


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


def load_cub_parts(root, image_size=224, radius=0.06, split=None, lazy=True):
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
    size = _check_image_size(image_size)
    if not (isinstance(radius, numbers.Real) and math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive fraction of the shorter image side, got {radius!r}.")
    if split is not None and split not in _SPLITS:
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}.")
    _check_lazy(lazy)
    root = _check_dir(root, "CUB root")

    image_rows = _read_table(root, "images.txt", (int, str), "image_id relative/path")
    ids = _unique_ids(image_rows, "images.txt")
    # Checked before anything is read, so a bad list fails at once.
    files = [_inside(os.path.join(root, "images"), path, "images.txt") for _, path in image_rows]
    labels = dict(_read_table(root, "image_class_labels.txt", (int, int), "image_id class_id"))
    classes = sorted(_read_table(root, "classes.txt", (int, str), "class_id name"))
    _unique_ids(classes, "classes.txt")
    parts = _read_table(root, os.path.join("parts", "parts.txt"), (int, str), "part_id name")
    _unique_ids(parts, "parts/parts.txt")
    locs = _read_table(
        root, os.path.join("parts", "part_locs.txt"), (int, int, float, float, float), "image_id part_id x y visible"
    )

    class_of = {cid: k for k, (cid, _) in enumerate(classes)}
    unknown = [i for i in ids if labels.get(i) not in class_of]
    if unknown:
        raise ValueError(f"Image id(s) {unknown[:5]} have no class in image_class_labels.txt / classes.txt.")
    row_of = {image_id: row for row, image_id in enumerate(ids)}
    part_of = {pid: k for k, (pid, _) in enumerate(parts)}
    points = np.zeros((len(ids), len(parts), 3), dtype=np.float32)
    for image_id, part_id, x, y, visible in locs:
        if image_id not in row_of or part_id not in part_of:
            raise ValueError(f"part_locs.txt refers to unknown image id {image_id} or part id {part_id}.")
        points[row_of[image_id], part_of[part_id]] = (x, y, visible > 0)

    is_train, keep = _cub_split(root, ids, split)
    masks = np.empty((len(keep), *size), dtype=np.int32)
    keypoints = points[keep]
    for i, row in enumerate(keep):
        height, width = _image_size(files[row])
        disks = _keypoint_disks(points[row], height, width, radius * min(height, width))
        masks[i] = _resize_mask(disks, size)
        keypoints[i, :, 0] = (keypoints[i, :, 0] + 0.5) * size[1] / width - 0.5
        keypoints[i, :, 1] = (keypoints[i, :, 1] + 0.5) * size[0] / height - 0.5

    return _bunch(
        _file_images([files[row] for row in keep], size, lazy),
        masks,
        ("background", *(name for _, name in parts)),
        np.array([class_of[labels[ids[row]]] for row in keep], dtype=np.int64),
        [name for _, name in classes],
        [os.path.join("images", image_rows[row][1]) for row in keep],
        image_ids=np.array([ids[row] for row in keep], dtype=np.int64),
        keypoints=keypoints,
        is_train=is_train,
    )


# --------------------------------------------------------------------------- torch data sets


def _split_item(item, index):
    """``(image, mask or None, target or None)`` of one data set item."""
    if isinstance(item, dict):
        if "image" not in item:
            raise ValueError(f"Item {index} is a dict without an 'image' key; expected keys image, mask, target.")
        return item["image"], item.get("mask"), item.get("target")
    if isinstance(item, (tuple, list)):
        if not 1 <= len(item) <= 3:
            raise ValueError(
                f"Item {index} has {len(item)} elements; expected image, (image, target), "
                "(image, mask) or (image, mask, target)."
            )
        if len(item) == 3:
            return item[0], item[1], item[2]
        if len(item) == 2:
            second = item[1]
            # A mask is a 2-D array; a target is a scalar.
            is_mask = isinstance(second, Image.Image) or getattr(second, "ndim", 0) == 2
            return (item[0], second, None) if is_mask else (item[0], None, second)
        return item[0], None, None
    return item, None, None


def _image_array(image, index, size):
    """Float32 ``(C, H, W)`` in [0, 1], resized bilinearly to ``size`` if given."""
    if isinstance(image, Image.Image):
        image = np.array(image.convert("RGB")).transpose(2, 0, 1)
    tensor = image.detach().cpu() if torch.is_tensor(image) else torch.tensor(np.asarray(image))
    if tensor.ndim != 3:
        raise ValueError(f"Item {index}: an image must have shape (C, H, W), got shape {tuple(tensor.shape)}.")
    if tensor.dtype == torch.uint8:
        tensor = tensor.float() / 255.0
    elif tensor.is_floating_point():
        tensor = tensor.float()
        if tensor.numel() and not (tensor.min() >= 0 and tensor.max() <= 1):  # also catches NaN
            raise ValueError(
                f"Item {index}: float images must hold values in [0, 1], got values in "
                f"[{tensor.min().item():.3g}, {tensor.max().item():.3g}]. Pass raw images, not normalised ones."
            )
    else:
        raise TypeError(f"Item {index}: images must be uint8 or float in [0, 1], got {tensor.dtype}.")
    if size is not None and tuple(tensor.shape[1:]) != size:
        tensor = F.interpolate(tensor[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        tensor = tensor.clamp_(0.0, 1.0)  # only rounding can leave [0, 1]: the weights are convex
    return tensor.numpy()


def _mask_array(mask, index, spatial, size):
    """Int32 ``(H, W)`` mask matching the image's ``spatial`` size, resized (nearest) to ``size``."""
    if isinstance(mask, Image.Image):
        mask = np.array(mask)
    array = mask.detach().cpu().numpy() if torch.is_tensor(mask) else np.asarray(mask)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"Item {index}: a mask must be an integer tensor of part ids, got dtype {array.dtype}.")
    if array.shape != tuple(spatial):
        raise ValueError(f"Item {index}: the mask has shape {array.shape}, the image (H, W) = {tuple(spatial)}.")
    array = array.astype(np.int32)
    return array if size is None else _resize_mask(array, size)


def _target_value(target, index):
    """A target as an int: Python or NumPy integer, or a 0-d integer tensor or array."""
    if torch.is_tensor(target):
        target = target.detach().cpu().numpy()
    if isinstance(target, np.ndarray) and target.ndim == 0:
        target = target[()]
    if not _is_int(target):
        raise TypeError(f"Item {index}: a target must be an integer class label, got {target!r}.")
    return int(target)


class _Rows:
    """Rows stacked into one array, filled in place when their number is known up front."""

    def __init__(self, total):
        self.total, self.rows, self.array, self.count = total, [], None, 0

    def append(self, row):
        if self.total is None:
            self.rows.append(row)
        else:
            if self.array is None:
                self.array = np.empty((self.total, *row.shape), dtype=row.dtype)
            if self.count >= self.total:
                raise ValueError(f"The data set yields more items than its len() of {self.total}.")
            self.array[self.count] = row
        self.count += 1

    def result(self):
        return np.stack(self.rows) if self.total is None else self.array[: self.count]


def _keep_list(batch):
    return batch


def _dataset_items(dataset, batch_size):
    """The items of a map-style or iterable data set, in order, uncollated."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=_keep_list)
    for batch in loader:
        yield from batch


def from_torch_dataset(dataset, part_names=None, image_size=None, batch_size=64):
    """Collect a ``torch.utils.data.Dataset`` into :class:`~skpartx.PartImages`.

    An item is an image, a tuple ``(image, target)``, ``(image, mask)`` or
    ``(image, mask, target)``, or a dict with key ``"image"`` and optional keys
    ``"mask"`` and ``"target"`` (other keys are ignored). An image is a ``(C, H, W)``
    tensor or array, uint8 or float in [0, 1], or a PIL image (converted to RGB); a
    mask is an integer ``(H, W)`` tensor of part ids (-1: unlabelled); a target is an
    integer scalar. In a pair, a 2-D second element is a mask, a scalar a target. All
    items must have the same form.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset or IterableDataset
        The data, read in order.
    part_names : sequence of str, default=None
        Names of the part ids; default ``("background", "part_1", ...)``.
    image_size : int, (int, int) or None, default=None
        Size to resize images (bilinear, antialiased) and masks (nearest) to. None
        keeps the sizes, which must then agree.
    batch_size : int, default=64
        Items fetched per step of the internal ``DataLoader``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` :class:`~skpartx.PartImages` (all masks -1 without masks); ``target``
        (N,) int64 or None without targets; ``target_names`` the data set's
        ``classes`` attribute if it has one (as torchvision data sets do), else
        ``("0", "1", ...)`` up to the largest target, ``()`` without targets;
        ``part_names``; ``paths`` None.

    Examples
    --------
    >>> import torch
    >>> from skpartx.datasets import from_torch_dataset
    >>> items = [(torch.rand(3, 8, 8), torch.zeros(8, 8, dtype=torch.long), 1)] * 4
    >>> data = from_torch_dataset(items, part_names=["background"])
    >>> data.X.shape, data.target.tolist()
    ((4, 3, 8, 8), [1, 1, 1, 1])
    """
    size = _check_image_size(image_size, allow_none=True)
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    try:
        total = len(dataset)
    except TypeError:  # an IterableDataset without a length
        total = None

    images, masks, targets = _Rows(total), _Rows(total), []
    form = shape = None
    for index, item in enumerate(_dataset_items(dataset, batch_size)):
        image, mask, target = _split_item(item, index)
        if form is None:
            form = (mask is not None, target is not None)
        elif form != (mask is not None, target is not None):
            raise ValueError(
                f"Item {index} has {'a' if mask is not None else 'no'} mask and {'a' if target is not None else 'no'} "
                f"target, unlike item 0; all items must have the same form."
            )
        pixels = _image_array(image, index, size)
        if shape is None:
            shape = pixels.shape
        elif pixels.shape != shape:
            raise ValueError(
                f"Item {index} has an image of shape {pixels.shape}, item 0 one of shape {shape}; "
                "pass image_size to resize them all to one size."
            )
        images.append(pixels)
        if mask is not None:
            masks.append(_mask_array(mask, index, _spatial(image), size))
        if target is not None:
            targets.append(_target_value(target, index))
    if form is None:
        raise ValueError("The data set is empty.")

    target = np.array(targets, dtype=np.int64) if form[1] else None
    X = PartImages(images.result(), masks.result() if form[0] else None, part_names)
    return Bunch(
        X=X,
        target=target,
        target_names=_torch_target_names(dataset, target),
        part_names=X.part_names,
        paths=None,
    )


def _spatial(image):
    """``(H, W)`` of an image before resizing."""
    if isinstance(image, Image.Image):
        return (image.height, image.width)
    return tuple(image.shape[1:])


def _torch_target_names(dataset, target):
    if target is None:
        return ()
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes) and len(classes) > target.max():
        return tuple(classes)
    return tuple(str(k) for k in range(int(target.max()) + 1))
