"""The container that flows through a skpartx pipeline: images with (partial) part masks."""

import numbers

import numpy as np
import torch

from .lazy import LazyImages

UNLABELLED = -1


def check_images(images, name="images"):
    """Validate images and return them as a float32 numpy array ``(N, C, H, W)`` in [0, 1].

    ``uint8`` input is scaled by 1/255; torch tensors (any device, any memory format)
    are copied to the CPU. The caller's array is never modified.
    """
    if torch.is_tensor(images):
        if images.is_meta:
            raise ValueError(
                f"{name} is a tensor on the meta device, which holds no pixels; pass the images themselves "
                "(a numpy array or a tensor on the CPU or a GPU)."
            )
        images = images.detach().to("cpu")
        images = images.numpy() if images.dtype != torch.bfloat16 else images.float().numpy()
    try:
        array = np.asarray(images)
    except ValueError as exc:  # numpy's message on ragged input does not say what to do
        raise ValueError(
            f"{name} must be one array of shape (N, C, H, W), but its images have different shapes; resize "
            "them to one size first (the loaders of skpartx.datasets take an image_size)."
        ) from exc
    if array.ndim != 4:
        hint = " Add a batch axis for a single image." if array.ndim == 3 else ""
        raise ValueError(f"{name} must have shape (N, C, H, W), got an array of shape {array.shape}.{hint}")
    if array.shape[1] > 4 and array.shape[3] in (1, 3, 4):
        raise ValueError(
            f"{name} has shape {array.shape}, which looks channels-last (N, H, W, C); "
            "pass images.transpose(0, 3, 1, 2)."
        )
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}.")
    array = np.asarray(array, dtype=np.float32)
    if array.size:
        finite = np.isfinite(array).reshape(len(array), -1).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"{name} contains NaN or infinite values (in {len(bad)} image(s), e.g. index {int(bad[0])}); "
                "drop those images or replace the values, e.g. with np.nan_to_num."
            )
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"{name} must hold values in [0, 1] (or uint8), got values in [{low:.3g}, {high:.3g}]. "
                "Put normalisation inside the model (e.g. a wrapper module) and pass raw images."
            )
    return array


def _check_masks(masks, n_images, spatial):
    if torch.is_tensor(masks):
        masks = masks.detach().to("cpu").numpy()
    if not isinstance(masks, np.memmap):
        masks = np.asarray(masks)
    if masks.dtype == bool or not np.issubdtype(masks.dtype, np.integer):
        raise TypeError(f"masks must be an integer array of part ids, got dtype {masks.dtype}.")
    if masks.shape != (n_images, *spatial):
        raise ValueError(
            f"masks must have shape (N, H, W) = {(n_images, *spatial)} to match the images, got {masks.shape}."
        )
    low = _mask_range(masks)[0]
    if low < UNLABELLED:
        raise ValueError(f"masks hold part ids >= 0 and -1 for unlabelled pixels; found {low}.")
    if isinstance(masks, np.memmap):
        return masks  # stays on disk: read a block at a time, never copied whole
    return np.asarray(masks, dtype=np.int32)


def _mask_range(masks):
    """Smallest and largest id in ``masks``, a block at a time; ``(0, -1)`` for no pixel."""
    if not masks.size:
        return 0, -1
    ranges = _per_image(masks, lambda block: np.stack([block.min(axis=(1, 2)), block.max(axis=(1, 2))], 1),
                        np.int64, (2,))
    return int(ranges[:, 0].min()), int(ranges[:, 1].max())


def _default_part_names(masks):
    n_parts = max(_mask_range(masks)[1] + 1, 1)
    return ("background",) + tuple(f"part_{i}" for i in range(1, n_parts))


class PartImages:
    """Images with part masks, the ``X`` of every skpartx estimator.

    Parameters
    ----------
    images : array-like, torch.Tensor or LazyImages of shape (N, C, H, W)
        Float images in [0, 1], or ``uint8`` images (scaled by 1/255). Normalisation
        belongs inside the model. :class:`~skpartx.LazyImages` (what the loaders of
        :mod:`skpartx.datasets` return) and NumPy memmaps (e.g.
        ``np.load("images.npy", mmap_mode="r")``) are read batch by batch, never whole.
    masks : array-like of shape (N, H, W), default=None
        Integer part ids: 0 is background, ``1..P-1`` are parts, -1 marks unlabelled
        pixels. An image whose mask is all -1 is unlabelled. ``None`` means no image
        is labelled. A NumPy memmap stays on disk (validated a block at a time).
    part_names : sequence of str, default=None
        ``part_names[i]`` names part id ``i``; ``part_names[0]`` is the background.
        Defaults to ``("background", "part_1", ...)`` up to the largest id in ``masks``.

    Attributes
    ----------
    images : ndarray of shape (N, C, H, W), float32, or LazyImages
    masks : ndarray of shape (N, H, W), int32
    part_names : tuple of str
    labelled : ndarray of shape (N,), bool
        Whether each image has at least one labelled pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from skpartx import PartImages
    >>> X = PartImages(np.zeros((4, 3, 8, 8)), np.full((4, 8, 8), -1), ["background", "head"])
    >>> len(X), X.shape, X.labelled.any()
    (4, (4, 3, 8, 8), np.False_)
    >>> X[[0, 2]].shape
    (2, 3, 8, 8)
    """

    def __init__(self, images, masks=None, part_names=None):
        if isinstance(images, np.memmap):
            images = LazyImages(images)  # read from disk batch by batch
        self.images = images if isinstance(images, LazyImages) else check_images(images)
        n, spatial = len(self.images), self.images.shape[2:]
        if masks is None:
            self.masks = np.full((n, *spatial), UNLABELLED, dtype=np.int32)
        else:
            self.masks = _check_masks(masks, n, spatial)
        if part_names is None:
            part_names = _default_part_names(self.masks)
        if isinstance(part_names, str) or not all(isinstance(p, str) for p in part_names):
            raise TypeError("part_names must be a sequence of strings, e.g. ['background', 'head', 'wing'].")
        self.part_names = tuple(part_names)
        if not self.part_names:
            raise ValueError("part_names must name at least the background (id 0).")
        duplicates = sorted({p for p in self.part_names if self.part_names.count(p) > 1})
        if duplicates:
            raise ValueError(f"part_names must be unique; repeated: {duplicates}. Give each part id its own name.")
        largest = _mask_range(self.masks)[1]
        if largest >= len(self.part_names):
            raise ValueError(
                f"masks contain part id {largest}, but part_names names only ids "
                f"0..{len(self.part_names) - 1}; add the missing names to part_names."
            )

    @classmethod
    def _from_validated(cls, images, masks, part_names):
        """Build without re-validating (for subsets and outputs of skpartx itself)."""
        obj = cls.__new__(cls)
        obj.images, obj.masks, obj.part_names = images, masks, part_names
        return obj

    @property
    def shape(self):
        return self.images.shape

    @property
    def n_parts(self):
        return len(self.part_names)

    @property
    def labelled(self):
        return _per_image(self.masks, lambda block: (block != UNLABELLED).reshape(len(block), -1).any(axis=1), bool)

    @property
    def fully_labelled(self):
        """Whether every pixel of every image carries a part id."""
        return bool(_mask_range(self.masks)[0] > UNLABELLED) if self.masks.size else True

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        if isinstance(index, tuple):  # ``X[key, ...]``, as scikit-learn's _safe_indexing does
            if len(index) != 2 or index[1] is not Ellipsis:
                raise IndexError("PartImages is indexed along images only: X[key] or X[key, ...].")
            index = index[0]
        if isinstance(index, numbers.Integral):
            index = slice(index, index + 1 if index != -1 else None)
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.size == 0 and index.dtype != bool:
                index = index.astype(np.intp)  # ``X[[]]`` selects no image, as in numpy
            if index.dtype != bool and not np.issubdtype(index.dtype, np.integer):
                raise IndexError("PartImages can be indexed by an int, a slice, an int array or a boolean mask.")
        return self._from_validated(self.images[index], self.masks[index], self.part_names)

    def with_masks(self, masks):
        """A new ``PartImages`` with the same images and names and the given masks."""
        return PartImages(self.images, masks, self.part_names)

    def __repr__(self):
        n, c, h, w = self.shape
        return (
            f"PartImages(n_images={n}, channels={c}, size={h}x{w}, "
            f"labelled={int(self.labelled.sum())}, parts={list(self.part_names)})"
        )


def as_image_array(X):
    """The images of ``X``: a :class:`PartImages`'s (array or lazy), or ``X`` checked as images."""
    return X.images if isinstance(X, PartImages) else check_images(X, "X")


def check_fitted_parts(X, part_names, consumer, fitted):
    """``X`` as ``PartImages`` with the fitted ``part_names`` and every image labelled; a clear error otherwise.

    ``consumer`` names the estimator (``"PartAttributor"``), ``fitted`` what was fitted in the
    error's words (``"the attributor"``).
    """
    X = as_part_images(X)
    if X.part_names != tuple(part_names):
        raise ValueError(f"X has parts {list(X.part_names)} but {fitted} was fitted on {list(part_names)}.")
    require_labelled(X, consumer)
    return X


def require_labelled(X, consumer):
    """Raise a clear error unless every image of ``X`` has part labels (``consumer`` names who needs them)."""
    unlabelled = ~X.labelled
    if unlabelled.any():
        raise ValueError(
            f"{int(unlabelled.sum())} image(s) have no part labels (e.g. index {int(np.flatnonzero(unlabelled)[0])}); "
            f"fill the masks first, e.g. with PartLabelTransfer in a pipeline before {consumer}."
        )


def as_part_images(X, name="X"):
    """``X`` as ``PartImages``; plain image arrays become unlabelled ``PartImages``."""
    if isinstance(X, PartImages):
        return X
    if isinstance(X, (np.ndarray, torch.Tensor)) or hasattr(X, "__array__"):
        return PartImages(X)
    raise TypeError(
        f"{name} must be a skpartx.PartImages (or an image array of shape (N, C, H, W)), got {type(X).__name__}."
    )


_BLOCK = 512  # images or masks per step of the per-image reductions: temporaries stay small for any N


def _per_image(arrays, reduce, dtype, width=()):
    """``reduce`` applied to blocks of ``arrays`` (masks or images, lazy ones read block by
    block), so that no temporary spans all N of them."""
    out = np.empty((len(arrays), *width), dtype=dtype)
    for start in range(0, len(arrays), _BLOCK):
        out[start : start + _BLOCK] = reduce(np.asarray(arrays[start : start + _BLOCK]))
    return out


def channel_mean(images):
    """Mean of each channel over all images, read a block at a time (lazy images stay lazy)."""
    sums = _per_image(images, lambda block: block.sum(axis=(2, 3), dtype=np.float64), np.float64, images.shape[1:2])
    return (sums.sum(axis=0) / (len(images) * images.shape[2] * images.shape[3])).astype(np.float32)


def part_presence(masks, n_parts):
    """Bool ``(N, n_parts)``: which part ids occur in each mask."""

    def present_in(block):
        flat = block.reshape(len(block), -1)
        present = np.zeros((len(block), n_parts), dtype=bool)
        rows, cols = np.nonzero(flat >= 0)
        present[rows, flat[rows, cols]] = True
        return present

    return _per_image(masks, present_in, bool, (n_parts,))
