"""Shared fixtures: one small synthetic data set and one classifier trained on it, per session."""

import numpy as np
import pytest
import torch

from skpartx import PartImages
from skpartx.datasets import make_part_shapes
from skpartx.models import predict_classes, train_classifier

IMAGE_SIZE = 40
N_TRAIN = 3000
N_TEST = 400
LABELLED_PER_CLASS = 10


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def data():
    """Synthetic part objects: the first ``N_TRAIN`` images train, the rest are held out."""
    return make_part_shapes(N_TRAIN + N_TEST, image_size=IMAGE_SIZE, random_state=0)


@pytest.fixture(scope="session")
def model(data):
    """A SmallCNN trained on the training images (about 95% held-out accuracy)."""
    torch.manual_seed(0)
    return train_classifier(data.images[:N_TRAIN], data.target[:N_TRAIN], epochs=12, random_state=0)


@pytest.fixture(scope="session")
def decisions(model, data):
    """The model's decisions on every image."""
    return predict_classes(model, data.images)


@pytest.fixture(scope="session")
def labelled_idx(data):
    """``LABELLED_PER_CLASS`` training images per class whose masks the 'user' labelled."""
    rng = np.random.RandomState(0)
    return np.concatenate(
        [rng.permutation(np.flatnonzero(data.target[:N_TRAIN] == c))[:LABELLED_PER_CLASS] for c in data.rules]
    )


@pytest.fixture(scope="session")
def partial_X(data, labelled_idx):
    """All images, with masks only on the labelled ones (-1 elsewhere)."""
    masks = np.full_like(data.masks, -1)
    masks[labelled_idx] = data.masks[labelled_idx]
    return PartImages(data.images, masks, data.part_names)


@pytest.fixture(scope="session")
def full_X(data):
    """All images with their ground-truth masks."""
    return PartImages(data.images, data.masks, data.part_names)


@pytest.fixture(scope="session")
def test_slice():
    return slice(N_TRAIN, N_TRAIN + N_TEST)
