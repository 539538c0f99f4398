"""Images read on demand: an array-like over a source of images too large to hold in memory."""

import mmap
import numbers
import os

import numpy as np


class LazyImages:
    """Images ``(N, C, H, W)``, float32 in [0, 1], read from a source only when needed.

    Behaves like a read-only NumPy array where skpartx needs it to: ``len``, ``shape``,
    ``dtype``, ``ndim``; an integer index reads one image ``(C, H, W)``; a slice, an int
    array or a boolean mask gives another ``LazyImages`` (nothing is read, so subsets for
    cross-validation stay cheap); ``np.asarray(images)`` reads the selected images into
    one array. Estimators read ``LazyImages`` batch by batch.

    Parameters
    ----------
    source : object or array-like
        An array-like of shape (N, C, H, W) (a NumPy memmap such as
        ``np.load("images.npy", mmap_mode="r")``, an HDF5 or zarr data set), read one
        image at a time through :class:`ArraySource`; or any object with ``__len__``, ``item_shape`` ``(C, H, W)`` and ``read(i)`` returning image ``i``
        as float32 ``(C, H, W)`` in [0, 1]. It is pickled with the images (and hashed
        for caching), so it should hold what identifies its content (paths, sizes, file
        modification times), not the pixels.
    index : ndarray of int, default=None
        Positions in ``source`` of the selected images; all by default.
    """

    ndim = 4
    dtype = np.dtype(np.float32)

    def __init__(self, source, index=None):
        if isinstance(source, np.ndarray) or (hasattr(source, "shape") and hasattr(source, "dtype")):
            source = ArraySource(source)
        self.source = source
        self.index = np.arange(len(source), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)

    @property
    def shape(self):
        return (len(self.index), *self.source.item_shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __len__(self):
        return len(self.index)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
            if all(k is Ellipsis for k in rest):
                rest = ()
        if isinstance(key, numbers.Integral):
            image = self.source.read(int(self.index[key]))
            return image[rest] if rest else image
        if not isinstance(key, slice):
            key = np.asarray(key)
            if key.dtype != bool and not np.issubdtype(key.dtype, np.integer):
                raise IndexError("LazyImages can be indexed by an int, a slice, an int array or a boolean mask.")
        subset = LazyImages(self.source, self.index[key])
        # Indexing inside images (channels, pixels) needs the pixels.
        return np.asarray(subset)[(slice(None), *rest)] if rest else subset

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, dtype=np.float32)
        for row, position in enumerate(self.index):
            out[row] = self.source.read(int(position))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self):
        return f"LazyImages(shape={self.shape}, source={self.source!r})"


class ArraySource:
    """A source of :class:`LazyImages` over an array-like ``(N, C, H, W)`` read image by image.

    ``uint8`` images are scaled by 1/255; float images must lie in [0, 1] and be finite,
    which is checked for each image as it is read (checking all of them up front would
    read the whole array). A NumPy memmap of a whole file pickles as its file name, offset
    and the file's size and modification time, so that sending the images to worker
    processes or hashing them for caching never copies the pixels; a file that changed
    since is an error when unpickled.

    Parameters
    ----------
    array : array-like of shape (N, C, H, W)
    """

    def __init__(self, array):
        shape = tuple(array.shape)
        if len(shape) != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got an array of shape {shape}.")
        if shape[1] > 4 and shape[3] in (1, 3, 4):
            raise ValueError(
                f"images have shape {shape}, which looks channels-last (N, H, W, C); store them as (N, C, H, W)."
            )
        dtype = np.dtype(array.dtype)
        if dtype != np.uint8 and not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise TypeError(f"images must be numeric, got dtype {dtype}.")
        self.array = array
        self.item_shape = shape[1:]

    def __len__(self):
        return len(self.array)

    def read(self, i):
        image = np.asarray(self.array[i])
        if image.dtype == np.uint8:
            return image.astype(np.float32) / np.float32(255.0)
        image = image.astype(np.float32)
        if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
            raise ValueError(
                f"image {i} holds values outside [0, 1] (or NaN/inf); images must be float in [0, 1] or uint8."
            )
        return image

    def __getstate__(self):
        array = self.array
        if isinstance(array, np.memmap) and array.filename and isinstance(array.base, mmap.mmap):
            stat = os.stat(array.filename)
            return {
                "memmap": (array.filename, array.offset, array.dtype.str, array.shape, array.flags.f_contiguous),
                "stamp": (stat.st_size, stat.st_mtime_ns),
                "item_shape": self.item_shape,
            }
        return dict(self.__dict__)

    def __setstate__(self, state):
        if "memmap" not in state:
            self.__dict__.update(state)
            return
        filename, offset, dtype, shape, fortran = state["memmap"]
        stat = os.stat(filename)
        if (stat.st_size, stat.st_mtime_ns) != tuple(state["stamp"]):
            raise RuntimeError(f"the image file {filename!r} changed since the images were made; load it again.")
        order = "F" if fortran else "C"
        self.array = np.memmap(filename, dtype=dtype, mode="r", offset=offset, shape=tuple(shape), order=order)
        self.item_shape = tuple(state["item_shape"])

    def __repr__(self):
        name = getattr(self.array, "filename", None)
        return f"ArraySource({type(self.array).__name__} of shape {tuple(self.array.shape)}{f' from {name}' if name else ''})"
