import numpy as np
import pytest

from skpartx.datasets import make_part_shapes


@pytest.fixture(scope="module")
def shapes():
    return make_part_shapes(600, image_size=48, random_state=3)


def test_shapes_and_types(shapes):
    assert shapes.images.shape == (600, 3, 48, 48)
    assert shapes.images.dtype == np.float32
    assert shapes.images.min() >= 0 and shapes.images.max() <= 1
    assert shapes.masks.shape == (600, 48, 48)
    assert shapes.part_names[0] == "background"
    assert set(np.unique(shapes.target)) == {0, 1, 2, 3}
    assert len(shapes.target_names) == 4


def test_masks_and_rules_are_consistent(shapes):
    names = shapes.part_names
    present = np.stack([(shapes.masks == k).any(axis=(1, 2)) for k in range(len(names))], axis=1)
    np.testing.assert_array_equal(present, shapes.present)
    for c, parts in shapes.rules.items():
        ids = [names.index(p) for p in parts]
        assert present[shapes.target == c][:, ids].all(), f"class {c} images must show {parts}"
    # No image satisfies another class's rule.
    for i in range(len(shapes.target)):
        for c, parts in shapes.rules.items():
            if c != shapes.target[i]:
                assert not all(present[i, names.index(p)] for p in parts)


def test_rules_are_conjunctions_no_single_part_decides(shapes):
    """Every defining part also appears in images of other classes (as a distractor)."""
    names = shapes.part_names
    for c, parts in shapes.rules.items():
        assert len(parts) == 2
        for p in parts:
            others = shapes.target != c
            assert shapes.present[others, names.index(p)].any(), f"{p} never appears outside class {c}"


def test_every_part_has_visible_pixels_and_exact_masks(shapes):
    # Each present part covers at least a few pixels, and background is the largest region.
    areas = np.stack([(shapes.masks == k).sum(axis=(1, 2)) for k in range(len(shapes.part_names))], axis=1)
    assert areas[shapes.present].min() >= 4
    assert (areas[:, 0] > areas[:, 1:].max(axis=1)).all()


def test_random_state_reproduces_and_differs():
    a = make_part_shapes(20, image_size=32, random_state=7)
    b = make_part_shapes(20, image_size=32, random_state=7)
    c = make_part_shapes(20, image_size=32, random_state=8)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, c.images)


def _background_hue(data):
    """Mean hue angle of background pixels per image (circular mean)."""
    import matplotlib.colors as mcolors

    hues = []
    for img, mask in zip(data.images, data.masks):
        hsv = mcolors.rgb_to_hsv(img.transpose(1, 2, 0)[mask == 0])
        angle = 2 * np.pi * hsv[:, 0]
        hues.append(np.mod(np.arctan2(np.sin(angle).mean(), np.cos(angle).mean()) / (2 * np.pi), 1))
    return np.array(hues)


def test_spurious_ties_background_hue_to_class():
    plain = make_part_shapes(400, image_size=32, spurious=0.0, random_state=0)
    shortcut = make_part_shapes(400, image_size=32, spurious=1.0, random_state=0)

    def class_hue_spread(data):
        hue = _background_hue(data)
        expected = data.target / 4
        distance = np.abs((hue - expected + 0.5) % 1 - 0.5)
        return np.median(distance)

    assert class_hue_spread(shortcut) < 0.05
    assert class_hue_spread(plain) > 0.15
    assert shortcut.spurious_classes == (0, 1, 2, 3) and plain.spurious_classes == ()
    one = make_part_shapes(400, image_size=32, spurious=1.0, spurious_classes=[2], random_state=0)
    assert one.spurious_classes == (2,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=10, image_size=8), "image_size"),
        (dict(n_samples=10, n_classes=7), "n_classes"),
        (dict(n_samples=10, spurious=1.5), "spurious"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_part_shapes(**kwargs)
