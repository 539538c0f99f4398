"""The demo's settings and its classifier: shipped with the package, cached, or trained now."""

import hashlib
import io
import json
import os
from collections.abc import Mapping

import numpy as np
import torch

from .. import __version__
from ..models import SmallCNN, train_classifier

DEMO_SETTINGS = dict(
    n_train=3000,
    n_explain=600,
    n_test=400,
    image_size=64,
    n_classes=4,
    family="disjoint",
    labelled_per_class=10,
    epochs=10,
    width=16,
    learning_rate=5e-3,
    random_state=0,
)

# The settings that decide the demo classifier's weights (the rest only decide what is explained);
# n_test counts because the training images are the first n_train of n_train + n_test generated.
MODEL_SETTINGS = ("n_train", "n_test", "image_size", "n_classes", "family", "epochs", "width", "learning_rate", "random_state")
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")
WEIGHTS_MANIFEST = os.path.join(WEIGHTS_DIR, "demo.json")


def default_cache_dir() -> str:
    """Where trained demo models are kept: ``$SKPARTX_CACHE`` or ``~/.cache/skpartx``."""
    return os.environ.get("SKPARTX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "skpartx"))


def train_demo_classifier(images: np.ndarray, target: np.ndarray, settings: Mapping, verbose: bool = False) -> SmallCNN:
    """Train the demo's :class:`~skpartx.models.SmallCNN` with ``settings`` (see ``DEMO_SETTINGS``)."""
    return train_classifier(
        images,
        target,
        epochs=settings["epochs"],
        width=settings["width"],
        learning_rate=settings["learning_rate"],
        random_state=settings["random_state"],
        verbose=verbose,
    )


def shipped_weights() -> dict:
    """The demo classifiers shipped with the package: ``{family: entry}``.

    Each entry holds the ``settings`` it was trained with (the ``MODEL_SETTINGS`` of
    ``DEMO_SETTINGS``), its ``file`` in ``skpartx/weights``, the file's ``sha256``, and
    the ``held_out_accuracy`` it reached on freshly generated images. The weights are
    produced by ``scripts/train_demo_weights.py``.
    """
    if not os.path.exists(WEIGHTS_MANIFEST):
        return {}
    with open(WEIGHTS_MANIFEST, encoding="utf-8") as f:
        return json.load(f)["models"]


def _demo_cnn(source, settings):
    """A :class:`SmallCNN` shaped by ``settings`` with the state dict read from ``source`` (a path or a file)."""
    model = SmallCNN(settings["n_classes"], width=settings["width"])
    model.load_state_dict(torch.load(source, map_location="cpu", weights_only=True))
    return model.eval()


def shipped_demo_model(settings: Mapping) -> SmallCNN | None:
    """The shipped demo classifier trained with ``settings``, or ``None`` when none was.

    Raises
    ------
    ValueError
        When the shipped file does not match its recorded checksum.
    """
    wanted = {key: settings[key] for key in MODEL_SETTINGS}
    for entry in shipped_weights().values():
        if entry["settings"] == wanted:
            path = os.path.join(WEIGHTS_DIR, entry["file"])
            with open(path, "rb") as f:
                content = f.read()
            if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                raise ValueError(f"{path} does not match its checksum in {WEIGHTS_MANIFEST}; reinstall skpartx.")
            # Loaded from the bytes checked, not from the file again.
            return _demo_cnn(io.BytesIO(content), settings)
    return None


def trained_demo_model(
    images: np.ndarray | None,
    target: np.ndarray | None,
    settings: Mapping,
    cache_dir: str | None = None,
    verbose: bool = False,
) -> tuple[SmallCNN, str]:
    """The demo classifier for ``settings``: shipped, cached, or trained now.

    With a ``cache_dir``, the classifier shipped with the package is used when it was
    trained with the same settings, then one cached by an earlier run; otherwise it is
    trained on ``images`` and cached. With ``cache_dir=None`` it is always trained.

    Returns
    -------
    model : SmallCNN
    source : {"shipped", "cached", "trained"}
    """
    path = None
    if cache_dir is not None:
        shipped = shipped_demo_model(settings)
        if shipped is not None:
            return shipped, "shipped"
        key = repr(sorted(settings.items())) + torch.__version__ + __version__
        path = os.path.join(cache_dir, f"demo-model-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt")
        if os.path.exists(path):
            return _demo_cnn(path, settings), "cached"
    model = train_demo_classifier(images, target, settings, verbose)
    if path is not None:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + ".tmp"
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)
    return model, "trained"
