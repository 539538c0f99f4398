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


@pytest.mark.trains_in_run
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


# -- NumPy memmaps: images and masks that stay on disk --------------------------------------


@pytest.fixture(scope="module")
def memmapped(tmp_path_factory, data):
    """The held-out images (uint8) and masks saved as .npy files and opened as memmaps."""
    root = tmp_path_factory.mktemp("memmap")
    index = np.arange(N_TRAIN, N_TRAIN + 64)
    np.save(root / "images.npy", np.round(data.images[index] * 255).astype(np.uint8))
    np.save(root / "masks.npy", data.masks[index].astype(np.int32))
    return root, index


def test_memmapped_images_and_masks_stay_on_disk(memmapped, data):
    root, index = memmapped
    images, masks = np.load(root / "images.npy", mmap_mode="r"), np.load(root / "masks.npy", mmap_mode="r")
    X = PartImages(images, masks, data.part_names)
    assert isinstance(X.images, LazyImages) and isinstance(X.masks, np.memmap)
    assert isinstance(X[5:9].masks, np.memmap) and X.fully_labelled and X.labelled.all()
    np.testing.assert_array_equal(np.asarray(X[3:5].images), images[3:5] / np.float32(255))
    with pytest.raises(ValueError, match="part_names names only ids"):
        PartImages(images, masks, data.part_names[:3])


def test_memmapped_images_pickle_as_their_file(memmapped, tmp_path):
    root, _ = memmapped
    images = LazyImages(np.load(root / "images.npy", mmap_mode="r"))
    payload = pickle.dumps(images)
    assert len(payload) < 2000 < images.size  # the file's name and stamp, not its pixels
    np.testing.assert_array_equal(np.asarray(pickle.loads(payload)), np.asarray(images))
    copy = tmp_path / "images.npy"
    copy.write_bytes((root / "images.npy").read_bytes())
    moved = pickle.dumps(LazyImages(np.load(copy, mmap_mode="r")))
    os.utime(copy, ns=(1, 1))
    with pytest.raises(RuntimeError, match="changed since"):
        pickle.loads(moved)


def test_memmapped_float_images_are_checked_as_they_are_read(tmp_path):
    bad = np.zeros((3, 3, 4, 4), dtype=np.float32)
    bad[1, 0, 0, 0] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    X = PartImages(np.load(tmp_path / "bad.npy", mmap_mode="r"))
    np.asarray(X[::2].images)  # the images without NaN read fine
    with pytest.raises(ValueError, match="image 1 holds values outside"):
        np.asarray(X.images)


@pytest.mark.trains_in_run
def test_estimators_give_the_same_answers_on_memmaps(memmapped, data, model, partial_X, labelled_idx, tmp_path):
    root, index = memmapped
    on_disk = PartImages(np.load(root / "images.npy", mmap_mode="r"), None, data.part_names)
    in_memory = PartImages(np.asarray(on_disk.images), None, data.part_names)
    transfer = PartLabelTransfer(backbone=model, random_state=0, out_dir=tmp_path, chunk_size=16)
    transfer.fit(partial_X[labelled_idx])
    filled_disk, filled_memory = transfer.transform(on_disk), transfer.transform(in_memory)
    assert isinstance(filled_disk.masks, np.memmap)  # the filled masks went to out_dir, not RAM
    np.testing.assert_array_equal(filled_disk.masks, filled_memory.masks)
    attributor = PartAttributor(model=model, method="shapley", baseline="mean", chunk_size=16).fit(filled_disk)
    np.testing.assert_array_equal(attributor.transform(filled_disk), attributor.transform(filled_memory))


def test_prefetching_keeps_order_and_reports_errors():
    from skpartx._core.torch_utils import prefetched

    assert list(prefetched(range(5), lambda k: k * k)) == [(k, k * k) for k in range(5)]
    assert list(prefetched([], lambda k: k)) == []

    def load(k):
        if k == 3:
            raise OSError("disk gone")
        return k

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for k, _ in prefetched(range(5), load):
            seen.append(k)
    assert seen == [0, 1, 2]
