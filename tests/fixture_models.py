"""The suite's trained models and transferred part masks, shipped with the tests.

A model trained inside a test differs in its last bits between CPUs (AVX-512, AVX2 and
SSE4.1 kernels round differently), and training amplifies that into different decisions
near the edges between classes, and so into different rules. The tests that assert what
an explanation says therefore explain these models, trained once by
``scripts/train_test_fixtures.py`` and recorded in ``fixtures/manifest.json`` with their
settings, SHA-256 and held-out accuracy. Where a part-label transfer feeds an explanation
its masks ship too (the transfer's probe is trained as well), so that every CPU explains
the same model on the same parts.

``SKPARTX_TEST_TRAIN=1`` trains the models and runs the transfers in the run instead
(``SKPARTX_TEST_MODEL_SEED`` picks the seed, ``SKPARTX_TEST_THREADS`` torch's threads
while training): a check that the tests' bounds hold for other models, not just the
shipped ones.
"""

import functools
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from skpartx import PartImages, PartLabelTransfer
from skpartx.datasets import make_part_shapes
from skpartx.models import SmallCNN, predict_classes, train_classifier

FIXTURES_DIR = Path(__file__).parent / "fixtures"
MANIFEST = FIXTURES_DIR / "manifest.json"

IMAGE_SIZE = 40
N_TRAIN = 3000
N_TEST = 400
LABELLED_PER_CLASS = 10

TRAIN_IN_RUN = os.environ.get("SKPARTX_TEST_TRAIN", "") not in ("", "0")
MODEL_SEED = int(os.environ.get("SKPARTX_TEST_MODEL_SEED", "0"))
TRAIN_THREADS = os.environ.get("SKPARTX_TEST_THREADS")

# Each model: the generator's arguments of its data, the first ``n_train`` images of which
# it is trained on, and train_classifier's settings. "conjunctive" also trains on images of
# none of the classes (label -1) drawn from a second data set.
MAIN_DATA = {"n_samples": N_TRAIN + N_TEST, "image_size": IMAGE_SIZE, "random_state": 0}
MODELS = {
    # The suite's model of the disjoint family (about 95% held-out accuracy).
    "main": {"data": MAIN_DATA, "n_train": N_TRAIN, "epochs": 12},
    # The shared-part family: classes share parts and some are disjunctions.
    "shared": {"data": {**MAIN_DATA, "family": "shared"}, "n_train": N_TRAIN, "epochs": 12},
    # Flyers always before backgrounds of their own hue, other classes on random hues.
    "shortcut": {
        "data": {"n_samples": 1800, "image_size": IMAGE_SIZE, "spurious": 1.0, "spurious_classes": [0], "random_state": 0},
        "n_train": 1600,
        "epochs": 8,
    },
    # Every class before backgrounds of its own hue, trained briefly.
    "every_class_shortcut": {
        "data": {"n_samples": 1000, "image_size": IMAGE_SIZE, "spurious": 1.0, "random_state": 1},
        "n_train": 800,
        "epochs": 3,
    },
    # The main model's images plus a third as many images of none of the classes: it needs
    # both parts of a class's pair.
    "conjunctive": {
        "data": MAIN_DATA,
        "n_train": N_TRAIN,
        "none_of_the_classes": {"n_samples": 2 * N_TRAIN // 3, "image_size": IMAGE_SIZE, "incomplete": 0.5,
                                "random_state": 1, "n_images": N_TRAIN // 3},
        "epochs": 12,
    },
    # A narrow model of small images for the fault tests.
    "faults": {"data": {"n_samples": 400, "image_size": 24, "random_state": 1}, "n_train": 400, "epochs": 10, "width": 8},
}

# Transferred masks: the model's own probe transfer (random_state=0) fitted on
# LABELLED_PER_CLASS images per class of its training images, filling every image of its data.
MASKS = {"main": {"model": "main"}, "shared": {"model": "shared"}}

# Held-out accuracy is measured on images of another seed of each model's generator.
CHECK = {"n_samples": 1000, "random_state": 2026}


@functools.lru_cache(maxsize=None)
def dataset(name):
    """The generated data set of model ``name`` (a Bunch, see ``make_part_shapes``)."""
    return make_part_shapes(**MODELS[name]["data"])


def training_set(name):
    """``(images, target)`` model ``name`` is trained on."""
    spec, data = MODELS[name], dataset(name)
    images, target = data.images[: spec["n_train"]], data.target[: spec["n_train"]]
    if "none_of_the_classes" in spec:
        extra = dict(spec["none_of_the_classes"])
        n_images = extra.pop("n_images")
        partial = make_part_shapes(**extra)
        none = partial.images[partial.target == -1][:n_images]
        images = np.concatenate([images, none])
        target = np.concatenate([target, np.full(len(none), -1)])
    return images, target


def train(name, seed=0):
    """Model ``name`` trained now with ``seed``, in eval mode on the CPU."""
    spec = MODELS[name]
    images, target = training_set(name)
    threads = torch.get_num_threads()
    if TRAIN_THREADS:
        torch.set_num_threads(int(TRAIN_THREADS))
    try:
        torch.manual_seed(seed)
        return train_classifier(images, target, epochs=spec["epochs"], width=spec.get("width", 16), random_state=seed)
    finally:
        torch.set_num_threads(threads)


def labelled_idx(name):
    """The training images of model ``name`` whose masks the 'user' labelled."""
    spec, data = MODELS[name], dataset(name)
    rng = np.random.RandomState(0)
    train_target = data.target[: spec["n_train"]]
    return np.concatenate(
        [rng.permutation(np.flatnonzero(train_target == c))[:LABELLED_PER_CLASS] for c in sorted(data.dnf)]
    )


def partially_labelled(name):
    """Every image of model ``name``'s data, with masks only on the labelled ones (-1 elsewhere)."""
    data = dataset(name)
    masks = np.full_like(data.masks, -1)
    labelled = labelled_idx(name)
    masks[labelled] = data.masks[labelled]
    return PartImages(data.images, masks, data.part_names)


def transfer(name, model):
    """Masks of every image of the data of ``MASKS[name]`` filled by the probe transfer of ``model``."""
    X = partially_labelled(MASKS[name]["model"])
    fitted = PartLabelTransfer(backbone=model, random_state=0).fit(X[labelled_idx(MASKS[name]["model"])])
    return fitted.transform(X).masks


def held_out_accuracy(name, model):
    """Accuracy of ``model`` on ``CHECK`` images of another seed of model ``name``'s generator."""
    spec = {**MODELS[name]["data"], **CHECK}
    fresh = make_part_shapes(**spec)
    return float((predict_classes(model, fresh.images, device="cpu") == fresh.target).mean())


def mean_iou(predicted, truth, n_parts, where):
    """Mean over parts of the IoU of ``predicted`` with ``truth`` on the images ``where``."""
    predicted, truth = predicted[where], truth[where]
    ious = []
    for part in range(n_parts):
        union = ((predicted == part) | (truth == part)).sum()
        if union:
            ious.append(((predicted == part) & (truth == part)).sum() / union)
    return float(np.mean(ious))


def manifest():
    """The recorded fixtures: ``{"models": {name: entry}, "masks": {name: entry}}``."""
    with open(MANIFEST, encoding="utf-8") as f:
        return json.load(f)


def checked_bytes(entry):
    """The content of a shipped file, after checking it against its recorded SHA-256."""
    path = FIXTURES_DIR / entry["file"]
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != entry["sha256"]:
        raise ValueError(f"{path} does not match its SHA-256 in {MANIFEST}; run scripts/train_test_fixtures.py.")
    return content


def check_settings(kind, name, entry, expected):
    if entry["settings"] != expected:
        raise ValueError(
            f"the shipped {kind} {name!r} was made with other settings than tests/fixture_models.py states "
            f"({entry['settings']} != {expected}); run scripts/train_test_fixtures.py."
        )


def settings(name):
    """What decides model ``name``'s weights, as the manifest records it (JSON types)."""
    return json.loads(json.dumps({**MODELS[name], "seed": 0}))


def shipped_model(name):
    """The shipped model ``name`` in eval mode, checked against its settings and SHA-256."""
    entry = manifest()["models"][name]
    check_settings("model", name, entry, settings(name))
    net = SmallCNN(entry["n_classes"], width=MODELS[name].get("width", 16))
    net.load_state_dict(torch.load(io.BytesIO(checked_bytes(entry)), map_location="cpu", weights_only=True))
    return net.eval()


def shipped_masks(name):
    """The shipped transferred masks ``name``, checked against their settings and SHA-256."""
    entry = manifest()["masks"][name]
    check_settings("masks", name, entry, MASKS[name])
    with np.load(io.BytesIO(checked_bytes(entry))) as stored:
        return stored["masks"].astype(np.int32)


@functools.lru_cache(maxsize=None)
def model(name):
    """Model ``name``: shipped, or trained now under ``SKPARTX_TEST_TRAIN``."""
    return train(name, MODEL_SEED) if TRAIN_IN_RUN else shipped_model(name)


@functools.lru_cache(maxsize=None)
def transferred_masks(name):
    """Masks of every image of ``MASKS[name]``'s data, filled by its model's transfer (shipped,
    or transferred now under ``SKPARTX_TEST_TRAIN``)."""
    return transfer(name, model(MASKS[name]["model"])) if TRAIN_IN_RUN else shipped_masks(name)


def data_digest(name):
    """SHA-256 of model ``name``'s generated images, labels and masks: shipped masks belong to these images."""
    data = dataset(name)
    digest = hashlib.sha256()
    for array in (data.images, data.target, data.masks):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def transferred(name):
    """Every image of ``MASKS[name]``'s data with its transferred masks (labelled images keep theirs)."""
    data = dataset(MASKS[name]["model"])
    return PartImages(data.images, transferred_masks(name), data.part_names)
