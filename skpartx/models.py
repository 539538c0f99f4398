"""Small image classifiers for demos and tests, the input normalisation wrapper, and the model's
decisions on images (``predict_logits`` lives in ``skpartx._core.torch_utils``, with the rest of the batching)."""

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state
from torch import nn

from ._core.part_images import as_image_array
from ._core.progress import progress
from ._core.torch_utils import (
    batch_slices,
    check_module,
    forward_images,
    logger,
    logits_of,
    predict_logits,
    resolve_device,
)

if TYPE_CHECKING:
    from ._core.part_images import PartImages


# The normalisation torchvision and timm ImageNet models were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "NormalizedModel",
    "SmallCNN",
    "forward_images",
    "logits_of",
    "predict_classes",
    "predict_logits",
    "train_classifier",
]


class NormalizedModel(nn.Module):
    """A classifier or backbone behind the input normalisation it was trained with.

    skpartx passes images in [0, 1] everywhere (and replaces parts by baselines in that
    space); a network trained on normalised inputs (ImageNet mean and std, a Hugging Face
    image processor's settings) sees ``(images - mean) / std`` through this wrapper.

    Parameters
    ----------
    model : torch.nn.Module
        The network; it may return any output :func:`logits_of` reads and take the images
        as ``pixel_values=``. Its modules are named ``model.<name>`` in the wrapper (give
        hyperpixel ``layers`` with that prefix).
    mean, std : sequence of float, default=IMAGENET_MEAN, IMAGENET_STD
        Per-channel mean and standard deviation, for images in [0, 1].

    See Also
    --------
    NormalizedModel.from_image_processor : the same from a Hugging Face image processor.

    Notes
    -----
    Resizing is not part of the wrapper: give the images at the resolution the network
    expects (``load_image_folder(image_size=...)``).

    Examples
    --------
    >>> from skpartx.models import NormalizedModel, SmallCNN
    >>> model = NormalizedModel(SmallCNN(4))  # ImageNet mean and std
    >>> model.mean.flatten().tolist()
    [0.485, 0.456, 0.406]
    """

    def __init__(self, model, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.model = check_module(model, "model")
        mean = torch.as_tensor(np.asarray(mean, dtype=np.float32).reshape(-1))
        std = torch.as_tensor(np.asarray(std, dtype=np.float32).reshape(-1))
        if len(mean) != len(std) or len(mean) == 0:
            raise ValueError(f"mean and std need one value per channel each; got {len(mean)} and {len(std)}.")
        if not bool(torch.all(std > 0)):
            raise ValueError(f"std must be positive for every channel, got {std.tolist()}.")
        self.register_buffer("mean", mean.view(1, -1, 1, 1))
        self.register_buffer("std", std.view(1, -1, 1, 1))

    @classmethod
    def from_image_processor(cls, model: nn.Module, processor: object) -> "NormalizedModel":
        """Wrap ``model`` with the normalisation of a Hugging Face image processor.

        Parameters
        ----------
        model : torch.nn.Module
        processor : object
            An image processor (or any object) with ``image_mean`` and ``image_std``; one
            with ``do_normalize=False`` gives the identity normalisation.

        Returns
        -------
        NormalizedModel
        """
        if not getattr(processor, "do_normalize", True):
            channels = len(getattr(processor, "image_mean", None) or IMAGENET_MEAN)
            return cls(model, mean=[0.0] * channels, std=[1.0] * channels)
        mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
        if mean is None or std is None:
            raise ValueError(f"the {type(processor).__name__} has no image_mean and image_std to normalise with.")
        return cls(model, mean=mean, std=std)

    def forward(self, images: torch.Tensor) -> Any:
        if images.shape[1] != self.mean.shape[1]:
            raise ValueError(
                f"the images have {images.shape[1]} channels but the normalisation {self.mean.shape[1]}."
            )
        return forward_images(self.model, (images - self.mean) / self.std)


class SmallCNN(nn.Module):
    """A compact convolutional classifier: four conv stages, global average pooling.

    Input is an image batch in [0, 1]; normalisation is learnt by the first batch norm,
    so raw images go in as skpartx's data model requires.

    Parameters
    ----------
    n_classes : int
        Number of output logits.
    in_channels : int, default=3
    width : int, default=16
        Channels of the first stage; doubled at the second and third.
    """

    def __init__(self, n_classes, in_channels=3, width=16):
        super().__init__()

        def stage(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())

        self.normalize = nn.BatchNorm2d(in_channels)
        self.stage1 = stage(in_channels, width)
        self.stage2 = nn.Sequential(nn.MaxPool2d(2), stage(width, 2 * width))
        self.stage3 = nn.Sequential(nn.MaxPool2d(2), stage(2 * width, 4 * width))
        self.stage4 = nn.Sequential(nn.MaxPool2d(2), stage(4 * width, 4 * width))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x = self.stage4(self.stage3(self.stage2(self.stage1(x))))
        return self.head(x)


def _check_training_labels(y, n_images, epochs):
    """``y`` as an array of class ids, one per image; a clear error otherwise."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_images:
        raise ValueError(f"y must be a 1-d array with one label per image ({n_images}), got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < -1:
        raise ValueError("y must hold integer class labels 0..n_classes-1 (or -1 for images of none of the classes).")
    if y.max() < 0:
        raise ValueError("y must hold at least one image of a class (label >= 0); -1 marks images of none.")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs!r}.")
    return y


def _classification_loss(logits, y):
    """Mean cross-entropy; an image labelled -1 has the uniform distribution over classes as its target."""
    known = y >= 0
    if bool(known.all()):
        return nn.functional.cross_entropy(logits, y)
    log_p = torch.log_softmax(logits, dim=1)
    # -mean(log p) is the cross-entropy to the uniform distribution.
    losses = torch.where(known, -log_p.gather(1, y.clamp(min=0)[:, None])[:, 0], -log_p.mean(dim=1))
    return losses.mean()


def train_classifier(
    images: "PartImages | ArrayLike",
    y: ArrayLike,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 5e-3,
    width: int = 16,
    device: str | torch.device = "auto",
    random_state: int | None = None,
    verbose: bool = False,
    model: nn.Module | None = None,
) -> nn.Module:
    """Train a :class:`SmallCNN` (or a classifier of your own) on images and labels.

    Uses AdamW with a one-cycle learning-rate schedule and random flips as the only
    augmentation. Deterministic on the CPU for a fixed ``random_state`` and number of
    torch threads (the order of floating-point sums depends on the threads).

    Parameters
    ----------
    images : PartImages or array-like of shape (N, C, H, W)
        Training images in [0, 1] (or uint8).
    y : array-like of shape (N,)
        Integer class labels ``0..n_classes-1``; ``-1`` marks an image of none of the classes,
        trained towards equal class probabilities (outlier exposure, Hendrycks et al., 2019),
        e.g. the ``incomplete`` images of :func:`~skpartx.datasets.make_part_shapes`.
    epochs : int, default=10
    batch_size : int, default=64
    learning_rate : float, default=5e-3
        Peak learning rate of the one-cycle schedule.
    width : int, default=16
        Width of the network (see :class:`SmallCNN`).
    device : str or torch.device, default="auto"
    random_state : int or None, default=None
    verbose : bool, default=False
        Show a progress bar over epochs.
    model : torch.nn.Module, default=None
        The classifier to train in place instead of a new :class:`SmallCNN` (``width`` is
        then unused), e.g. a Hugging Face image classifier: it may return any output
        :func:`skpartx.models.logits_of` reads and take the images as ``pixel_values=``.

    Returns
    -------
    model : torch.nn.Module
        The trained model in eval mode, on the CPU.
    """
    array = as_image_array(images)
    y = _check_training_labels(y, len(array), epochs)
    device = resolve_device(device)
    rng = check_random_state(random_state)
    torch.manual_seed(rng.randint(2**31 - 1))

    if model is None:
        model = SmallCNN(int(y.max()) + 1, in_channels=array.shape[1], width=width)
    model = check_module(model, "model").to(device)
    x_all = torch.from_numpy(array)
    y_all = torch.from_numpy(y.astype(np.int64))
    steps = epochs * int(np.ceil(len(array) / batch_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=steps)
    model.train()
    for epoch in progress(range(epochs), verbose, desc="training"):
        order = rng.permutation(len(array))
        total = 0.0
        for batch in batch_slices(len(array), batch_size):
            idx = torch.from_numpy(order[batch])
            xb = x_all[idx].to(device)
            yb = y_all[idx].to(device)
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5).to(device)
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            optimizer.zero_grad(set_to_none=True)
            loss = _classification_loss(logits_of(forward_images(model, xb)), yb)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        logger.info("epoch %d/%d: training loss %.4f", epoch + 1, epochs, total / len(array))
    return model.eval().to("cpu")


def predict_classes(
    model: nn.Module, X: "PartImages | ArrayLike", batch_size: int | None = None, device: str | torch.device = "auto"
) -> np.ndarray:
    """The model's decisions: the arg-max class of each image.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier mapping ``(B, C, H, W)`` images in [0, 1] to ``(B, n_classes)`` logits.
        It is evaluated in eval mode; the caller's module is left unchanged.
    X : PartImages or array-like of shape (N, C, H, W)
    batch_size : int, default=None
        Images per forward pass; default: as many as hold 512 images of 224 px on CUDA,
        4 of 224 px on CPU (at most 512 / 128 images).
    device : str or torch.device, default="auto"

    Returns
    -------
    y : ndarray of shape (N,), int64
    """
    logits = predict_logits(model, X, batch_size=batch_size, device=device)
    if not len(logits):  # no image: no decision (argmax of an empty row would raise)
        return np.zeros(0, dtype=np.int64)
    return logits.argmax(axis=1).astype(np.int64)
