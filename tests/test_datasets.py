import hashlib

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
        (dict(n_samples=10, family="overlapping"), "family must be one of .*'disjoint', 'shared'"),
        (dict(n_samples=10, family=None), "family"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_part_shapes(**kwargs)


def _conjunctions_met(data):
    """``{(class, conjunction): bool per image}``: the conjunction's parts are all visible."""
    names = data.part_names
    return {
        (c, term): data.present[:, [names.index(p) for p in term]].all(axis=1)
        for c, terms in data.dnf.items()
        for term in terms
    }


@pytest.fixture(scope="module", params=["disjoint", "shared"])
def family_data(request):
    return make_part_shapes(400, image_size=32, family=request.param, random_state=0)


def test_visible_parts_satisfy_exactly_the_own_class_dnf(family_data):
    """Judged on the masks, so no part the DNF needs is hidden by parts drawn over it."""
    data = family_data
    met = _conjunctions_met(data)
    for (c, term), hits in met.items():
        assert not hits[data.target != c].any(), f"{term} of class {c} is met by an image of another class"
    for c, terms in data.dnf.items():
        own = np.any([met[c, term] for term in terms], axis=0)
        assert own[data.target == c].all(), f"an image of class {c} meets none of {terms}"


def test_every_conjunction_is_planted_and_no_part_decides(family_data):
    data = family_data
    met = _conjunctions_met(data)
    for (c, term), hits in met.items():
        assert hits[data.target == c].sum() >= 20, f"{term} is (almost) never the reason for class {c}"
    names = data.part_names
    for c, terms in data.dnf.items():
        for p in {p for term in terms for p in term}:
            elsewhere = data.present[data.target != c, names.index(p)]
            assert elsewhere.any(), f"{p} never appears outside class {c}"


def test_classes_are_balanced(family_data):
    assert np.bincount(family_data.target).tolist() == [100, 100, 100, 100]
    three = make_part_shapes(100, image_size=24, n_classes=3, family=family_data.family, random_state=0)
    assert sorted(np.bincount(three.target).tolist()) == [33, 33, 34]


def test_dnf_matches_rules(family_data):
    data = family_data
    assert set(data.dnf) == set(data.rules) == set(range(len(data.target_names)))
    for c, terms in data.dnf.items():
        assert isinstance(terms, tuple) and all(isinstance(t, tuple) and len(t) == 2 for t in terms)
        assert all(p in data.part_names[2:] for t in terms for p in t)
        if data.family == "disjoint":
            assert len(terms) == 1 and data.rules[c] == terms[0]
        else:
            assert data.rules[c] == terms


def test_shared_family_shares_parts_between_classes():
    data = make_part_shapes(8, image_size=24, family="shared", random_state=0)
    assert data.target_names == ("glider", "rover", "beast", "boat")
    assert data.rules == {
        0: (("head", "wing"),),
        1: (("wheel", "tail"), ("wheel", "wing")),
        2: (("horn", "leg"), ("head", "fin")),
        3: (("fin", "window"), ("tail", "leg")),
    }
    classes_of = {p: {c for c, terms in data.dnf.items() for t in terms if p in t} for p in data.part_names[2:]}
    assert {p for p, cs in classes_of.items() if len(cs) == 2} == {"head", "wing", "tail", "leg", "fin"}


@pytest.mark.parametrize("n_classes", [2, 3])
def test_shared_family_takes_the_first_classes(n_classes):
    data = make_part_shapes(60, image_size=24, family="shared", n_classes=n_classes, random_state=0)
    full = make_part_shapes(8, image_size=24, family="shared", random_state=0)
    assert data.target_names == full.target_names[:n_classes]
    assert data.dnf == {c: full.dnf[c] for c in range(n_classes)}
    assert set(np.unique(data.target)) == set(range(n_classes))
    met = _conjunctions_met(data)
    for c in range(n_classes):  # an image meets its own class's DNF and no other kept class's
        own = np.any([met[c, t] for t in data.dnf[c]], axis=0)
        np.testing.assert_array_equal(own, data.target == c)


def test_shared_family_is_reproducible():
    a = make_part_shapes(20, image_size=24, family="shared", random_state=7)
    b = make_part_shapes(20, image_size=24, family="shared", random_state=7)
    c = make_part_shapes(20, image_size=24, family="shared", random_state=8)
    for key in ("images", "masks", "target", "present"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a.images, c.images)
    assert a.family == "shared" and make_part_shapes(4, image_size=24).family == "disjoint"


# Fingerprint of make_part_shapes(50, image_size=32, random_state=3) from before the
# families existed. Labels and part sets are hashed; pixels are compared by per-image
# sums with a tolerance, since vectorised sin/cos may differ in the last bit across CPUs.
_DISJOINT_TARGET_SHA256 = "0e335c9bcca762b030d103ab84a3862c60a401ae9aa45a5b7b14900c74d3128c"
_DISJOINT_PRESENT_SHA256 = "f34898af714248bd8627b512d4a46fbf3861b0225df4b27cadff3ebef42360d3"
_DISJOINT_MASK_SUMS = [
    374, 296, 416, 421, 373, 178, 288, 341, 352, 402, 353, 242, 415, 347, 164, 295, 389, 578, 420, 355, 372,
    184, 493, 356, 204, 220, 216, 289, 302, 261, 236, 512, 301, 360, 488, 252, 453, 180, 408, 252, 226, 324,
    325, 429, 462, 286, 162, 457, 187, 347
]
_DISJOINT_IMAGE_SUMS = [
    994.18, 870.1, 1113.01, 1101.8, 783.09, 1063.4, 709.77, 1245.28, 739.29, 1169.6, 941.95, 955.02, 983.75,
    1014.72, 1295.89, 695.09, 764.41, 899.95, 731.12, 903.46, 1034.16, 993.44, 977.92, 1110.99, 884.55,
    842.49, 859.45, 1173.01, 761.8, 938.35, 828.32, 759.61, 910.54, 782.1, 933.61, 1298.26, 1187.18, 705.18,
    1339.39, 806.21, 984.81, 1143.49, 1063.62, 713.49, 855.73, 834.47, 722.48, 868.97, 936.23, 752.21
]


def test_disjoint_family_is_unchanged():
    data = make_part_shapes(50, image_size=32, random_state=3)
    assert hashlib.sha256(data.target.astype("<i8").tobytes()).hexdigest() == _DISJOINT_TARGET_SHA256
    assert hashlib.sha256(np.packbits(data.present).tobytes()).hexdigest() == _DISJOINT_PRESENT_SHA256
    # A single flipped boundary pixel changes a mask sum by at most 9, a changed pose by far more.
    np.testing.assert_allclose(data.masks.sum(axis=(1, 2)), _DISJOINT_MASK_SUMS, atol=9)
    np.testing.assert_allclose(data.images.sum(axis=(1, 2, 3), dtype=np.float64), _DISJOINT_IMAGE_SUMS, atol=0.05)
    explicit = make_part_shapes(50, image_size=32, family="disjoint", random_state=3)
    np.testing.assert_array_equal(explicit.images, data.images)


# Images, masks and labels of 64 images of 32 px, bit for bit. The generator computes in
# float64 with exact operations (comparisons, floor, clip, +, ×) except sin and cos, which
# come from the C library; its FMA and SSE variants differ in the last bit of a few results,
# which never reach the float32 images or move a mask edge here. Checked with glibc's and
# numpy's AVX2/FMA kernels switched off (`.ci/run`'s second pass does the same).
_GENERATED_SHA256 = {
    "disjoint": ({"family": "disjoint"}, "2bab66ab0b526b00b77913cc966ae9b2754052d9b7e77bbe6d3e365fb5e5a2b9"),
    "shared": ({"family": "shared"}, "1a133fb9368ec14f899094a63eb199400d50b95496758fbe3f03fda8a3e86d2a"),
    "shortcut": ({"spurious": 1.0, "spurious_classes": [0]}, "2747a6f6f4158efd50cd4d0ba54808540b5515bd23ea683e359eefaec22b0b7a"),
    "incomplete": ({"incomplete": 0.3}, "fb40e2483135d1e38b4764d2d2a7628eb215fa6d0d86a6e5d31bac24aee5a591"),
}


@pytest.mark.cpu_kernels
@pytest.mark.parametrize("case", sorted(_GENERATED_SHA256))
def test_generated_data_are_the_same_on_every_cpu(case):
    options, expected = _GENERATED_SHA256[case]
    data = make_part_shapes(64, image_size=32, random_state=7, **options)
    digest = hashlib.sha256()
    for array in (data.images, data.masks, data.target):
        digest.update(np.ascontiguousarray(array).tobytes())
    assert digest.hexdigest() == expected
