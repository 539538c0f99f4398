import numpy as np
import pytest
import torch
from sklearn.model_selection import KFold, train_test_split
from sklearn.utils import _safe_indexing

from skpartx import PartImages


def make(n=6, c=3, h=8, w=10, labelled=(0, 2)):
    rng = np.random.RandomState(0)
    images = rng.rand(n, c, h, w).astype(np.float32)
    masks = np.full((n, h, w), -1)
    for i in labelled:
        masks[i] = rng.randint(0, 3, (h, w))
    return images, masks


def test_basic_properties():
    images, masks = make()
    X = PartImages(images, masks, ["background", "head", "wing"])
    assert len(X) == 6
    assert X.shape == (6, 3, 8, 10)
    assert X.part_names == ("background", "head", "wing")
    assert X.n_parts == 3
    np.testing.assert_array_equal(X.labelled, [True, False, True, False, False, False])
    assert X.masks.dtype == np.int32
    assert not X.fully_labelled


@pytest.mark.parametrize(
    "index",
    [np.array([4, 0, 2]), slice(1, 5), np.array([True, False, True, False, True, False]), [1, 3]],
    ids=["int-array", "slice", "bool-mask", "list"],
)
def test_indexing_returns_partimages_with_matching_rows(index):
    images, masks = make()
    X = PartImages(images, masks, ["background", "head", "wing"])
    sub = X[index]
    assert isinstance(sub, PartImages)
    np.testing.assert_array_equal(sub.images, images[index])
    np.testing.assert_array_equal(sub.masks, masks[index])
    assert sub.part_names == X.part_names


def test_int_index_gives_single_image():
    images, masks = make()
    X = PartImages(images, masks, ["background", "head", "wing"])
    assert len(X[3]) == 1 and len(X[-1]) == 1
    np.testing.assert_array_equal(X[-1].images[0], images[-1])


def test_sklearn_splitters_and_safe_indexing():
    images, masks = make(n=10)
    X = PartImages(images, masks, ["background", "head", "wing"])
    y = np.arange(10) % 2
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    assert isinstance(X_train, PartImages) and len(X_train) == 7 and len(X_test) == 3
    for train, test in KFold(3).split(X):
        part = _safe_indexing(X, test)
        assert isinstance(part, PartImages)
        np.testing.assert_array_equal(part.images, images[test])


def test_uint8_is_scaled_and_tensors_accepted():
    images = (np.arange(2 * 3 * 4 * 4) % 256).astype(np.uint8).reshape(2, 3, 4, 4)
    X = PartImages(images)
    np.testing.assert_allclose(X.images, images / 255.0, rtol=1e-6)
    T = PartImages(torch.from_numpy(images.astype(np.float32) / 255).contiguous(memory_format=torch.channels_last))
    np.testing.assert_allclose(T.images, X.images, rtol=1e-6)
    assert not X.labelled.any()
    assert X.part_names == ("background",)


def test_default_part_names_follow_largest_id():
    images, masks = make()
    X = PartImages(images, masks)
    assert X.part_names == ("background", "part_1", "part_2")


def test_inputs_are_not_modified():
    images, masks = make()
    before_images, before_masks = images.copy(), masks.copy()
    X = PartImages(images, masks, ["background", "head", "wing"])
    X.masks[:] = 1
    np.testing.assert_array_equal(masks, before_masks)
    np.testing.assert_array_equal(images, before_images)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(images=np.zeros((3, 8, 8))), ValueError, "shape \\(N, C, H, W\\).*batch axis"),
        (dict(images=np.zeros((2, 8, 8, 3))), ValueError, "channels-last"),
        (dict(images=np.full((1, 3, 4, 4), 2.0)), ValueError, "values in \\[0, 1\\].*normalisation"),
        (dict(images=np.full((1, 3, 4, 4), np.nan)), ValueError, "NaN"),
        (dict(images=np.zeros((1, 3, 4, 4)), masks=np.zeros((1, 5, 4), int)), ValueError, "masks must have shape"),
        (dict(images=np.zeros((1, 3, 4, 4)), masks=np.zeros((1, 4, 4))), TypeError, "integer array"),
        (dict(images=np.zeros((1, 3, 4, 4)), masks=np.full((1, 4, 4), -2)), ValueError, "-1 for unlabelled"),
        (
            dict(images=np.zeros((1, 3, 4, 4)), masks=np.full((1, 4, 4), 3), part_names=["background", "a"]),
            ValueError,
            "part id 3.*part_names",
        ),
        (dict(images=np.zeros((1, 3, 4, 4)), part_names=["background", "a", "a"]), ValueError, "unique.*'a'"),
        (dict(images=np.zeros((1, 3, 4, 4)), part_names="background"), TypeError, "sequence of strings"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(kwargs, error, match):
    with pytest.raises(error, match=match):
        PartImages(**kwargs)
