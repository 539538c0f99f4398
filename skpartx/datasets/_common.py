"""What the loaders share: argument checks, safe paths, reading image files, and the result.

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

import numbers
import os

import numpy as np
from PIL import Image
from sklearn.utils import Bunch

from .._core.lazy import LazyImages
from .._core.part_images import PartImages

PathLike = str | os.PathLike
ImageSize = int | tuple[int, int]


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), booleans excluded."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_image_size(image_size, allow_none=False):
    """``image_size`` as a pair ``(height, width)`` of positive ints (or None if allowed)."""
    if image_size is None and allow_none:
        return None
    if is_int(image_size):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2 and all(is_int(s) for s in image_size):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"image_size must be an int or a pair (height, width) of ints, got {image_size!r}.")
    if min(size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}.")
    return size


def check_dir(root, what):
    """``root`` as a string, after checking that it is an existing directory (``what`` names it)."""
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"{what} {root!r} does not exist.")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{what} {root!r} is not a directory.")
    return root


def check_lazy(lazy):
    """Refuse a ``lazy`` flag that is not a bool (a truthy string would silently mean True)."""
    if not isinstance(lazy, bool):
        raise TypeError(f"lazy must be True or False, got {lazy!r}.")


def inside_root(root, relative, source):
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


def read_image_size(path):
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


def file_images(files, size, lazy):
    """Float32 images of ``files`` in [0, 1]: a ``LazyImages`` or, if not ``lazy``, an array."""
    images = LazyImages(ImageFiles(files, size))
    return images if lazy else np.asarray(images)


def resize_mask(mask, size):
    """Nearest-neighbour resize of an int32 part-id mask (PIL mode "I" keeps -1 and every id)."""
    if mask.shape == tuple(size):
        return mask
    resized = Image.fromarray(mask.astype(np.int32, copy=False)).resize((size[1], size[0]), Image.Resampling.NEAREST)
    return np.asarray(resized, dtype=np.int32)


def loader_bunch(images, masks, part_names, target, target_names, paths, **extras):
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
