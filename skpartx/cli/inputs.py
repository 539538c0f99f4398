"""The user's files for ``skpartx explain``: the model, the image folder with its part annotations, class names."""

import importlib
import logging
import os
import pickle
import sys
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.utils import Bunch

from .._core.part_images import UNLABELLED, PartImages
from ..datasets import load_coco_parts, load_image_folder

logger = logging.getLogger("skpartx")


def load_model(spec: str, weights: str | None = None) -> torch.nn.Module:
    """A classifier from a TorchScript file or a ``package.module:factory`` specification.

    Parameters
    ----------
    spec : str
        Path of an exported program (``.pt2``, from ``torch.export.save``; export with a
        dynamic batch dimension) or of a TorchScript file (``torch.jit.save``), or
        ``module:callable`` naming a function (importable from the current directory) that
        returns a ``torch.nn.Module``.
    weights : str, default=None
        A state dict to load into the model, read with ``torch.load(weights_only=True)``
        so that no code in the file runs.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on the CPU.
    """
    model = _module_from_spec(spec)
    if weights is not None:
        model.load_state_dict(_state_dict(weights))
    try:
        return model.eval()
    except NotImplementedError:  # exported programs are evaluated as exported
        return model


def _module_from_spec(spec):
    if os.path.isfile(spec) and spec.endswith(".pt2"):
        return torch.export.load(spec).module()
    if os.path.isfile(spec):
        with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13 but still what many people ship
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(spec, map_location="cpu")
    if ":" not in spec:
        raise ValueError(f"--model {spec!r} is neither a TorchScript file nor 'module:factory'.")
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:  # a user's own module next to their data
        sys.path.insert(0, os.getcwd())
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot find {attribute!r} in module {module_name!r}: {exc}") from exc
    model = factory()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module.")
    return model


def _state_dict(weights):
    try:
        return torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{weights} is not a plain state dict: it refers to objects that loading would have to run code "
            "for, which skpartx refuses (weights are read with torch.load(weights_only=True)). Save the weights "
            "with torch.save(model.state_dict(), path)."
        ) from exc


def labelled_images(images: str, annotations: str, image_size: int) -> tuple[PartImages, Bunch]:
    """The images of an image folder, with the part masks of those a COCO part file annotates.

    Returns
    -------
    X : PartImages
        Every image of the folder; those the file does not annotate are unlabelled.
    folder : Bunch
        From :func:`~skpartx.datasets.load_image_folder` (paths, classes of the folders).
    """
    folder = load_image_folder(images, image_size=image_size)
    parts = load_coco_parts(annotations, image_root=images, image_size=image_size, class_from="folder")
    position = {os.path.normpath(p): i for i, p in enumerate(folder.paths)}
    masks = np.full_like(folder.X.masks, UNLABELLED)
    for path, mask in zip(parts.paths, parts.X.masks):
        i = position.get(os.path.normpath(path))
        if i is None:
            raise ValueError(f"{annotations} annotates {path!r}, which is not an image of the folder {images}.")
        masks[i] = mask
    return PartImages(folder.X.images, masks, parts.part_names), folder


def resolve_class_names(class_names_file: str | None, folder_names: Sequence[str], n_outputs: int) -> list[str]:
    """Display names of the model's outputs.

    Parameters
    ----------
    class_names_file : str or None
        File with one class name per line, in the model's output order.
    folder_names : sequence of str
        The image folder's class folders, used when there are as many as outputs.
    n_outputs : int
        The model's number of outputs.

    Returns
    -------
    names : list of str
        From the file, else the folder names, else ``"class k"``.
    """
    if class_names_file is not None:
        with open(class_names_file, encoding="utf-8") as handle:
            names = [line.strip() for line in handle if line.strip()]
        if len(names) != n_outputs:
            raise ValueError(f"{class_names_file} names {len(names)} classes; the model has {n_outputs} outputs.")
        return names
    if len(folder_names) == n_outputs:
        return list(folder_names)
    logger.warning(
        "the model has %d outputs but the image folder %d classes; classes are shown by index", n_outputs, len(folder_names)
    )
    return [f"class {k}" for k in range(n_outputs)]
