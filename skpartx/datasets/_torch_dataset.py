"""Collecting a ``torch.utils.data.Dataset`` (map-style or iterable) into :class:`~skpartx.PartImages`."""

from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.utils import Bunch

from ._common import ImageSize, check_image_size, is_int, loader_bunch, resize_mask


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
    return array if size is None else resize_mask(array, size)


def _target_value(target, index):
    """A target as an int: Python or NumPy integer, or a 0-d integer tensor or array."""
    if torch.is_tensor(target):
        target = target.detach().cpu().numpy()
    if isinstance(target, np.ndarray) and target.ndim == 0:
        target = target[()]
    if not is_int(target):
        raise TypeError(f"Item {index}: a target must be an integer class label, got {target!r}.")
    return int(target)


def _spatial(image):
    """``(H, W)`` of an image before resizing."""
    if isinstance(image, Image.Image):
        return (image.height, image.width)
    return tuple(image.shape[1:])


def _torch_target_names(dataset, target):
    """The data set's ``classes`` if they name every target, else ``("0", "1", ...)``; ``()`` without targets."""
    if target is None:
        return ()
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes) and len(classes) > target.max():
        return tuple(classes)
    return tuple(str(k) for k in range(int(target.max()) + 1))


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
    """Collate a batch into a plain list, leaving each item as the data set made it."""
    return batch


def _dataset_items(dataset, batch_size):
    """The items of a map-style or iterable data set, in order, uncollated."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=_keep_list)
    for batch in loader:
        yield from batch


def _same_form(form, mask, target, index):
    """The form ``(has mask, has target)`` of item ``index``, which must be that of the items before."""
    item_form = (mask is not None, target is not None)
    if form is not None and form != item_form:
        raise ValueError(
            f"Item {index} has {'a' if mask is not None else 'no'} mask and {'a' if target is not None else 'no'} "
            f"target, unlike item 0; all items must have the same form."
        )
    return item_form


def _same_shape(shape, pixels, index):
    """The shape of item ``index``'s ``pixels``, which must be that of the images before."""
    if shape is not None and pixels.shape != shape:
        raise ValueError(
            f"Item {index} has an image of shape {pixels.shape}, item 0 one of shape {shape}; "
            "pass image_size to resize them all to one size."
        )
    return pixels.shape


def _collect(dataset, size, batch_size):
    """Images, masks (None without) and targets (None without) of all items, which must share one form."""
    try:
        total = len(dataset)
    except TypeError:  # an IterableDataset without a length
        total = None
    images, masks, targets = _Rows(total), _Rows(total), []
    form = shape = None
    for index, item in enumerate(_dataset_items(dataset, batch_size)):
        image, mask, target = _split_item(item, index)
        form = _same_form(form, mask, target, index)
        pixels = _image_array(image, index, size)
        shape = _same_shape(shape, pixels, index)
        images.append(pixels)
        if mask is not None:
            masks.append(_mask_array(mask, index, _spatial(image), size))
        if target is not None:
            targets.append(_target_value(target, index))
    if form is None:
        raise ValueError("The data set is empty.")
    return images.result(), masks.result() if form[0] else None, targets if form[1] else None


def from_torch_dataset(
    dataset: torch.utils.data.Dataset | Iterable,
    part_names: Sequence[str] | None = None,
    image_size: ImageSize | None = None,
    batch_size: int = 64,
) -> Bunch:
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
    size = check_image_size(image_size, allow_none=True)
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    images, masks, targets = _collect(dataset, size, batch_size)
    target = None if targets is None else np.array(targets, dtype=np.int64)
    return loader_bunch(images, masks, part_names, target, _torch_target_names(dataset, target), None)
