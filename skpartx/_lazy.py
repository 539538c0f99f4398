"""Images read on demand: an array-like over a source of images too large to hold in memory."""

import numbers

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
    source : object
        Has ``__len__``, ``item_shape`` ``(C, H, W)`` and ``read(i)`` returning image ``i``
        as float32 ``(C, H, W)`` in [0, 1]. It is pickled with the images (and hashed
        for caching), so it should hold what identifies its content (paths, sizes, file
        modification times), not the pixels.
    index : ndarray of int, default=None
        Positions in ``source`` of the selected images; all by default.
    """

    ndim = 4
    dtype = np.dtype(np.float32)

    def __init__(self, source, index=None):
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
