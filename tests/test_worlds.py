"""Worlds of part-composed objects: the distribution they are drawn from, and scenes drawn again
with parts truly absent. No trained model is needed here."""

import hashlib
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv
from scipy.stats import spearmanr
from shapley_reference import shapley_from_definition
import torch
from torch import nn

from skpartx import PartAttributor, PartImages
from skpartx.datasets import PartWorld, make_part_world, sample_world
from skpartx.datasets._worlds import BACKGROUNDS
from skpartx.metrics import (
    agreement_with_truth,
    interventional_engine,
    interventional_msx,
    interventional_shapley,
    interventional_values,
)

SEEDS = range(24)
# sha256 (first 16 digits) of the images and masks of worlds 0 and 7, 24 images of 32 px
PINNED_DIGESTS = ["f8a3979ffd3b4f56", "2d7f16e33a3ff29a"]


@pytest.fixture(scope="module")
def worlds():
    return [sample_world(seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def data():
    return make_part_world(240, world=3, random_state=0)


def _satisfies(parts, dnf):
    return any(set(term) <= parts for term in dnf)


def test_worlds_follow_the_stated_distribution(worlds):
    for world in worlds:
        assert isinstance(world, PartWorld)
        assert 6 <= len(world.kinds) - 1 <= 20 and world.kinds[0].name == "body"
        assert 3 <= len(world.class_names) <= 8 and len(world.rules) == len(world.class_names)
        assert 1 <= len(world.backgrounds) <= 3 and set(world.backgrounds) <= set(BACKGROUNDS)
        assert 0.25 <= world.distractor_rate <= 0.6 and world.always[0] == "body"
        assert len(set(world.part_names)) == len(world.part_names)
        terms = [(c, set(term)) for c, dnf in enumerate(world.rules) for term in dnf]
        for c, term in terms:
            assert 1 <= len(term) <= 3 and not term & set(world.always)
            assert all(not term <= other for d, other in terms if d != c), "a conjunction inside another class's"
    # across worlds every form of rule occurs: single parts, conjunctions, disjunctions, shared parts
    terms = [term for world in worlds for dnf in world.rules for term in dnf]
    assert {len(term) for term in terms} == {1, 2, 3}
    assert any(len(dnf) > 1 for world in worlds for dnf in world.rules)
    shared = [world for world in worlds
              if any(sum(part in {p for t in dnf for p in t} for dnf in world.rules) > 1 for part in world.part_names)]
    assert len(shared) > len(worlds) // 2
    assert any(len(world.always) == 2 for world in worlds) and any(len(world.always) == 1 for world in worlds)


def test_a_seed_is_one_world_and_one_set_of_images():
    a, b = make_part_world(16, world=5, random_state=1), make_part_world(16, world=5, random_state=1)
    assert a.world == b.world
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert sample_world(5) != sample_world(6)


@pytest.mark.cpu_kernels
def test_world_images_are_the_same_on_every_cpu():
    # Pixels come from integer hashing and arithmetic, with trigonometry rounded to 9 digits:
    # `.ci/run` checks these hashes again with every kernel capped at SSE4.1.
    digests = []
    for seed in (0, 7):
        data = make_part_world(24, world=seed, image_size=32, random_state=0)
        digests.append(hashlib.sha256(data.images.tobytes() + data.masks.tobytes()).hexdigest()[:16])
    assert digests == PINNED_DIGESTS



def test_every_image_shows_its_class_and_no_other(data):
    world = data.world
    for present, c, mask in zip(data.scenes.present, data.target, data.masks):
        parts = {world.part_names[p] for p in np.flatnonzero(present)}
        assert _satisfies(parts, world.rules[c])
        assert not any(_satisfies(parts, dnf) for d, dnf in enumerate(world.rules) if d != c)
        assert set(world.always) <= parts
        shown = set(np.unique(mask).tolist())
        assert shown <= set(np.flatnonzero(present).tolist())
    # a present part is seen: in nearly every image every present part has pixels of its own
    visible = np.stack([(data.masks == p).any(axis=(1, 2)) for p in range(len(world.part_names))], axis=1)
    assert (visible | ~data.scenes.present).all(axis=1).mean() > 0.97
    assert np.bincount(data.target).min() == np.bincount(data.target).max() == len(data.target) // len(world.rules)


def test_incomplete_objects_lack_one_rule_part_truly_and_belong_to_no_class(data):
    world = data.world
    mixed = make_part_world(240, world=3, incomplete=0.3, random_state=0)
    out = np.flatnonzero(mixed.target == -1)
    assert 0.2 * 240 <= len(out) <= 0.3 * 240 + 1  # a few objects have no part whose removal leaves no class
    kept = np.setdiff1d(np.arange(240), out)
    # the complete images are those drawn without incomplete ones
    np.testing.assert_array_equal(mixed.images[kept], data.images[kept])
    np.testing.assert_array_equal(mixed.scenes.target, data.target)
    for i in out:
        removed = np.flatnonzero(data.scenes.present[i] & ~mixed.scenes.present[i])
        assert len(removed) == 1 and not (mixed.scenes.present[i] & ~data.scenes.present[i]).any()
        rule_parts = {p for term in world.rules[data.target[i]] for p in term}
        assert world.part_names[removed[0]] in rule_parts
        assert world.satisfied(mixed.scenes.present[i]) == [] and world.satisfied(data.scenes.present[i]) == [data.target[i]]
        # truly absent: the original scene drawn without that part
        keep = np.ones(len(world.part_names), dtype=bool)
        keep[removed[0]] = False
        np.testing.assert_array_equal(mixed.images[i], world.render(data.scenes[i:i + 1], keep)[0][0])
    with pytest.raises(ValueError, match="incomplete"):
        make_part_world(10, world=3, incomplete=1.0)


def test_drawing_again_with_every_part_kept_gives_the_same_images(data):
    images, masks = data.world.render(data.scenes, keep=np.ones(len(data.part_names), dtype=bool))
    np.testing.assert_array_equal(images, data.images)
    np.testing.assert_array_equal(masks, data.masks)
    assert images.dtype == np.float32 and images.min() >= 0 and images.max() <= 1


def test_a_removed_part_shows_what_lay_behind_it(data):
    world, scenes = data.world, data.scenes[:60]
    images, masks = data.images[:60], data.masks[:60]
    empty, empty_masks = world.render(scenes, keep=np.eye(len(world.part_names), dtype=bool)[0])  # background only
    assert (empty_masks == 0).all()
    for part in range(2, len(world.part_names)):
        keep = np.ones(len(world.part_names), dtype=bool)
        keep[part] = False
        without, without_masks = world.render(scenes, keep)
        was = masks == part
        assert not (without_masks == part).any()
        # elsewhere nothing changes
        np.testing.assert_array_equal(without_masks[~was], masks[~was])
        np.testing.assert_array_equal(np.moveaxis(without, 1, -1)[~was], np.moveaxis(images, 1, -1)[~was])
        # where the part was and nothing else lies behind it, the background shows
        behind = was & (without_masks == 0)
        np.testing.assert_array_equal(np.moveaxis(without, 1, -1)[behind], np.moveaxis(empty, 1, -1)[behind])
        # where another part lies behind it, that part shows as it does when drawn alone
        for other in np.unique(without_masks[was]):
            if other == 0:
                continue
            alone, _ = world.render(scenes, keep=np.isin(np.arange(len(world.part_names)), [0, other]))
            region = was & (without_masks == other)
            np.testing.assert_array_equal(np.moveaxis(without, 1, -1)[region], np.moveaxis(alone, 1, -1)[region])


def test_keep_per_image_removes_only_that_images_parts(data):
    scenes = data.scenes[:2]
    keep = np.ones((2, len(data.part_names)), dtype=bool)
    keep[0, 1] = False  # the body of the first image only
    images, masks = data.world.render(scenes, keep)
    assert not (masks[0] == 1).any() and (masks[1] == data.masks[1]).all()
    np.testing.assert_array_equal(images[1], data.images[1])


def test_a_shortcut_marks_one_classs_backgrounds_at_its_rate():
    data = make_part_world(600, world=2, shortcut=(1, 0.8, 0.2), random_state=0)
    cue, target = data.scenes.cue, data.target
    assert not cue[target != 1].any()
    assert abs(cue[target == 1].mean() - 0.8) < 0.1
    cut = data.world.shortcut
    assert cut.target == 1 and cut.rate == 0.8 and cut.contrast == 0.2
    hue = rgb_to_hsv(np.clip(data.scenes.background_colours, 1e-9, 1))[..., 0]
    distance = np.abs((hue - cut.hue + 0.5) % 1.0 - 0.5)
    assert (distance[cue] < 0.05).all()
    assert (distance[~cue] >= cut.contrast - 1e-6).all()
    # the same seed is the same world, with or without a shortcut
    for seed in (2, 11):
        assert replace(sample_world(seed, shortcut=(0, 0.5, 0.1)), shortcut=None) == sample_world(seed)


@pytest.mark.parametrize("size", [16, 40, 224])
def test_any_image_size_from_16_to_224(size):
    data = make_part_world(4, world=1, image_size=size, random_state=0)
    assert data.images.shape == (4, 3, size, size) and data.masks.shape == (4, size, size)


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="image_size must lie between 16 and 224"):
        sample_world(0, image_size=8)
    with pytest.raises(ValueError, match="the shortcut's class must be one of the world's"):
        sample_world(0, shortcut=(99, 0.5, 0.2))


# -- interventional truth ---------------------------------------------------------------------------


class MeanColour(nn.Module):
    """A model whose answer is known by hand: logits are 8 × each channel's mean (3 classes)."""

    def forward(self, x):
        return 8 * x.mean(dim=(2, 3))


def _by_hand(world, scene, parts, target):
    """v*(S) from its definition: the scene drawn with only ``parts`` (and the background), one
    image through the model, the softmax of the target."""
    keep = np.zeros(len(world.part_names), dtype=bool)
    keep[[0, *parts]] = True
    image, _ = world.render(scene, keep[None])
    return float(torch.softmax(MeanColour()(torch.from_numpy(image)), dim=1)[0, target])


@pytest.fixture(scope="module")
def truth_case():
    data = make_part_world(6, world=5, image_size=24, random_state=2)  # 4 to 6 parts an image
    targets = np.arange(6) % 3
    return data, targets


def test_interventional_values_are_the_model_on_the_scene_drawn_without_parts(truth_case):
    data, targets = truth_case
    world, scenes = data.world, data.scenes
    rng = np.random.RandomState(0)
    keep = scenes.present & (rng.rand(*scenes.present.shape) < 0.5)
    values = interventional_values(MeanColour(), world, scenes, keep, targets, device="cpu")
    for i in range(len(scenes)):
        parts = [p for p in np.flatnonzero(keep[i]) if p != 0]
        assert values[i] == pytest.approx(_by_hand(world, scenes[i:i + 1], parts, targets[i]), abs=1e-6)


def test_interventional_shapley_is_the_shapley_value_of_the_drawn_game(truth_case):
    data, targets = truth_case
    world, scenes = data.world, data.scenes
    phi = interventional_shapley(MeanColour(), world, scenes, targets, device="cpu")
    for i in range(len(scenes)):
        shown = [int(p) for p in np.unique(data.masks[i])]  # the engine's players: the parts drawn
        reference = shapley_from_definition(
            shown, lambda s: _by_hand(world, scenes[i:i + 1], sorted(p for p in s if p != 0), targets[i]))
        for part in shown:
            assert phi[i, part] == pytest.approx(reference[part], abs=1e-6)
        assert phi[i, 0] == pytest.approx(0.0, abs=1e-7)  # the background is always drawn: removing it does nothing
        assert not phi[i, np.setdiff1d(np.arange(len(world.part_names)), shown)].any()


def test_interventional_msx_are_sufficient_and_minimal_against_every_subset(truth_case):
    data, targets = truth_case
    world, scenes = data.world, data.scenes
    tau = 0.99
    found = interventional_msx(MeanColour(), world, scenes, targets, tau=tau, device="cpu")
    for i, sets in enumerate(found):
        shown = [int(p) for p in np.unique(data.masks[i])]
        full = _by_hand(world, scenes[i:i + 1], [p for p in shown if p != 0], targets[i])
        sufficient = {frozenset(c) for k in range(len(shown) + 1) for c in combinations(shown, k)
                      if _by_hand(world, scenes[i:i + 1], sorted(p for p in c if p != 0), targets[i]) >= tau * full}
        minimal = {s for s in sufficient if not any(o < s for o in sufficient)}
        assert {frozenset(s) for s in sets} == minimal and len(sets) >= 1


def test_an_engine_that_draws_refuses_fades(truth_case):
    data, targets = truth_case
    engine = interventional_engine(MeanColour(), data.world, data.scenes, targets, device="cpu")
    with pytest.raises(ValueError, match="no fades"):
        engine.evaluate([0], np.full((1, len(data.part_names)), 0.5))
    # with everything kept the engine's value is the model's on the image itself
    full = engine.evaluate(np.arange(len(engine)), engine.present)
    logits = 8 * data.images.astype(np.float64).mean(axis=(2, 3))
    expected = np.exp(logits[np.arange(6), targets]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(full, expected, atol=1e-6)


def test_agreement_with_the_truth_by_hand(truth_case):
    data, targets = truth_case
    world, scenes = data.world, data.scenes
    truth = interventional_engine(MeanColour(), world, scenes, targets, device="cpu")
    itself = agreement_with_truth(truth, truth)
    np.testing.assert_array_equal(itself["value_error"], 0.0)
    assert np.all(np.isnan(itself["spearman"]) | (itself["spearman"] > 1 - 1e-9))
    assert (itself["n_parts"] == [len(np.unique(m)) - 1 for m in data.masks]).all()
    X = PartImages(data.images, data.masks, data.part_names)
    engine = PartAttributor(MeanColour(), baseline="zero", device="cpu").fit(X).coalition_engine(X, targets)
    agreement = agreement_with_truth(engine, truth)
    for i in range(len(scenes)):
        parts = [int(p) for p in np.unique(data.masks[i]) if p != 0]
        errors, painted, drawn = [], {}, {}
        for k in range(len(parts) + 1):
            for kept in combinations(parts, k):
                composite = np.where(np.isin(data.masks[i], [0, *kept])[None], data.images[i], 0)[None]
                value = float(torch.softmax(MeanColour()(torch.from_numpy(composite)), dim=1)[0, targets[i]])
                truth_value = _by_hand(world, scenes[i:i + 1], list(kept), targets[i])
                errors.append(abs(value - truth_value))
                painted[frozenset(kept)], drawn[frozenset(kept)] = value, truth_value
        assert agreement["value_error"][i] == pytest.approx(np.mean(errors), abs=1e-6)
        if len(parts) >= 3:
            phi = shapley_from_definition(parts, painted.__getitem__)
            true_phi = shapley_from_definition(parts, drawn.__getitem__)
            expected = spearmanr([phi[p] for p in parts], [true_phi[p] for p in parts]).statistic
            assert agreement["spearman"][i] == pytest.approx(expected, abs=1e-9)
        else:
            assert np.isnan(agreement["spearman"][i])
    with pytest.raises(ValueError, match="same images with the same parts"):
        agreement_with_truth(engine, interventional_engine(MeanColour(), world, scenes[:3], targets[:3], device="cpu"))
