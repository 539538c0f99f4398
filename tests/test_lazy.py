"""Lazy images: read on demand, identical results to images held in memory."""

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from conftest import N_TRAIN
from skpartx import LazyImages, PartAttributor, PartImages, PartLabelTransfer
from skpartx.datasets import load_image_folder
from skpartx.datasets._loaders import ImageFiles

N_FILES = 24


class CountingSource:
    """A source over an array that counts its reads."""

    def __init__(self, array):
        self.array, self.item_shape, self.reads = array, array.shape[1:], 0

    def __len__(self):
        return len(self.array)

    def read(self, i):
        self.reads += 1
        return self.array[i].copy()


@pytest.fixture
def counting():
    source = CountingSource(np.random.RandomState(0).rand(10, 3, 6, 5).astype(np.float32))
    return source, LazyImages(source)


def test_indexing_follows_numpy_and_reads_only_what_is_asked(counting):
    source, images = counting
    assert images.shape == (10, 3, 6, 5) and len(images) == 10 and images.ndim == 4 and images.dtype == np.float32
    subset = images[2:9][[0, 3, 5]][np.array([True, False, True])]
    assert isinstance(subset, LazyImages) and source.reads == 0
    np.testing.assert_array_equal(np.asarray(subset), source.array[2:9][[0, 3, 5]][[True, False, True]])
    assert source.reads == 2
    np.testing.assert_array_equal(images[-1], source.array[-1])
    np.testing.assert_array_equal(images[1:3, ...], source.array[1:3])
    np.testing.assert_array_equal(images[:4, 0], source.array[:4, 0])
    with pytest.raises(IndexError, match="int, a slice"):
        images[np.array([0.5])]


def test_part_images_keep_lazy_images_lazy(counting):
    source, images = counting
    X = PartImages(images, np.zeros((10, 6, 5), dtype=int), ["background"])
    assert isinstance(X.images, LazyImages) and isinstance(X[::2].images, LazyImages)
    assert len(X[::2]) == 5 and source.reads == 0


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, data):
    """Held-out synthetic images written as PNG files, one class folder per class."""
    root = tmp_path_factory.mktemp("folder")
    index = np.arange(N_TRAIN, N_TRAIN + N_FILES)
    for i in index:
        folder = root / data.target_names[data.target[i]]
        folder.mkdir(exist_ok=True)
        pixels = np.round(data.images[i].transpose(1, 2, 0) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:05d}.png")
    return root


def test_lazy_folder_equals_eager_folder_and_pickles(image_files):
    lazy, eager = load_image_folder(image_files, image_size=40), load_image_folder(image_files, 40, lazy=False)
    assert isinstance(lazy.X.images, LazyImages) and isinstance(eager.X.images, np.ndarray)
    np.testing.assert_array_equal(np.asarray(lazy.X.images), eager.X.images)
    restored = pickle.loads(pickle.dumps(lazy.X))
    np.testing.assert_array_equal(np.asarray(restored.images[:3]), eager.X.images[:3])


def test_a_file_changed_after_loading_is_an_error(tmp_path):
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "a.png")
    source = ImageFiles([tmp_path / "a.png"], (8, 8))
    assert source.read(0)[0].min() == 1.0
    Image.new("RGB", (8, 8), (0, 255, 0)).save(tmp_path / "a.png")
    os.utime(tmp_path / "a.png", ns=(1, 1))
    with pytest.raises(RuntimeError, match="changed after it was loaded"):
        source.read(0)


def _files_order(data, image_files):
    """Positions in ``data`` of the images in the folder loader's order."""
    names = sorted((p.parent.name, p.name) for p in image_files.glob("*/*.png"))
    return np.array([int(name[:-4]) for _, name in names])


def test_estimators_give_the_same_answers_on_lazy_images(image_files, data, model, partial_X, labelled_idx):
    lazy = load_image_folder(image_files, image_size=40).X
    eager = PartImages(np.asarray(lazy.images), None, data.part_names)
    lazy = PartImages(lazy.images, None, data.part_names)
    transfer = PartLabelTransfer(backbone=model, random_state=0).fit(partial_X[labelled_idx])
    filled_lazy, filled_eager = transfer.transform(lazy), transfer.transform(eager)
    assert isinstance(filled_lazy.images, LazyImages)
    np.testing.assert_array_equal(filled_lazy.masks, filled_eager.masks)
    # The transfer finds the parts on the PNG copies of the images, too.
    truth = PartImages(np.asarray(lazy.images), data.masks[_files_order(data, image_files)], data.part_names)
    assert transfer.score(truth) > 0.7

    attributor = PartAttributor(model=model, method="occlusion", baseline="mean").fit(filled_lazy)
    np.testing.assert_allclose(attributor.mean_colour_, np.asarray(lazy.images).mean(axis=(0, 2, 3)), atol=1e-6)
    np.testing.assert_array_equal(attributor.transform(filled_lazy), attributor.transform(filled_eager))
