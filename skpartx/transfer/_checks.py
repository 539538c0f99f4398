"""Checks of a part-label transfer's inputs: backbone, images to learn from, ``y``, and
images given to a fitted transfer."""

import warnings

import numpy as np

from .._core.features import hookable
from .._core.part_images import as_part_images, part_presence
from .._core.torch_utils import check_module


def check_backbone(backbone):
    """Raise unless ``backbone`` is a module whose layers forward hooks can read."""
    if backbone is None:
        raise ValueError(
            "PartLabelTransfer needs a feature network: PartLabelTransfer(backbone=model), e.g. the "
            "classifier you explain."
        )
    check_module(backbone, "backbone")
    if not hookable(backbone):
        raise ValueError(
            "the backbone is a scripted or exported module, which cannot expose its intermediate layers (no "
            "forward hooks); give the transfer a regular torch.nn.Module with the same weights as backbone."
        )


def check_fit_images(X):
    """``X`` as ``PartImages``, with at least one labelled image."""
    X = as_part_images(X)
    if not X.labelled.any():
        raise ValueError(
            "X has no labelled image: give part masks (ids >= 0) for at least one image; -1 marks "
            "unlabelled pixels."
        )
    return X


def check_fit_labels(X, y, stacklevel=2):
    """Check ``y`` against ``X`` and warn about what the labelled images cannot teach.

    A part no labelled image shows is never transferred; a class of ``y`` without a
    labelled image is labelled only from the other classes' examples. The warnings point
    ``stacklevel`` frames up, as :func:`warnings.warn`'s do.
    """
    labelled = X.labelled
    shown = part_presence(X.masks[labelled], len(X.part_names)).any(axis=0)
    if not shown.all():
        missing = [name for name, seen in zip(X.part_names, shown) if not seen]
        warnings.warn(
            f"no labelled image shows the part(s) {missing}, so the transfer never assigns them; label them in "
            "at least one image (or leave them out of part_names).",
            UserWarning,
            stacklevel=stacklevel,
        )
    if y is None:
        return
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must hold one class per image of X ({len(X)}), got shape {y.shape}.")
    unlabelled_classes = np.setdiff1d(np.unique(y), np.unique(y[labelled])).tolist()
    if unlabelled_classes:
        warnings.warn(
            f"no labelled image belongs to class(es) {unlabelled_classes} of y; their images are labelled from "
            "the other classes' examples. Label a few images of every class for a reliable transfer.",
            UserWarning,
            stacklevel=stacklevel,
        )


def check_fitted_images(X, image_shape, part_names):
    """``X`` as ``PartImages`` of the fitted ``image_shape`` (C, H, W); labelled images
    must name the fitted ``part_names``."""
    X = as_part_images(X)
    if X.shape[1:] != image_shape:
        raise ValueError(f"X has images of shape {X.shape[1:]}, but the transfer was fitted on {image_shape}.")
    if X.part_names != part_names and X.labelled.any():
        raise ValueError(f"X names parts {list(X.part_names)}, the transfer was fitted on {list(part_names)}.")
    return X


def labelled_images(X):
    """The labelled images of ``X``, of which scoring needs at least one."""
    if not X.labelled.any():
        raise ValueError("scoring needs images with ground-truth masks; X has no labelled image.")
    return X[X.labelled]
