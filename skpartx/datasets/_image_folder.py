"""Loader of images laid out as ``root/<class>/<image>`` (the ``torchvision`` ImageFolder layout)."""

import os
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.utils import Bunch

from ._common import ImageSize, PathLike, check_dir, check_image_size, check_lazy, file_images, loader_bunch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


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


def load_image_folder(
    root: PathLike,
    image_size: ImageSize = 224,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    lazy: bool = True,
) -> Bunch:
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
    size = check_image_size(image_size)
    extensions = _check_extensions(extensions)
    check_lazy(lazy)
    root = check_dir(root, "Image folder root")
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

    images = file_images([os.path.join(root, path) for path in paths], size, lazy)
    return loader_bunch(images, None, ("background",), np.array(target, dtype=np.int64), classes, paths)
