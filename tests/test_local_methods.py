"""MSX, property gradients, gradient methods and faithfulness curves, against references."""

import matplotlib

matplotlib.use("Agg")

import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn

from skpartx import PartAttributor, PartImages
from skpartx._engine.games import permutation_test
from skpartx.attribution import score_intervention
from skpartx.metrics import part_deletion_curve, part_insertion_curve
from skpartx.plotting import plot_local_explanation


def value_with(model, image, mask, kept, target, baseline):
    """Model probability of ``target`` with only the ``kept`` part ids shown."""
    composite = np.where(np.isin(mask, list(kept))[None], image, baseline).astype(np.float32)
    with torch.no_grad():
        return float(torch.softmax(model(torch.from_numpy(composite[None])).double(), 1)[0, target])


@pytest.fixture(scope="module")
def some(full_X, test_slice):
    return full_X[np.arange(test_slice.start, test_slice.start + 12)]


def grid_masks(n, size, rows=3, cols=4):
    """Each image split into a rows × cols grid of parts (P = rows * cols, as in SAG)."""
    r = np.minimum(np.arange(size) * rows // size, rows - 1)
    c = np.minimum(np.arange(size) * cols // size, cols - 1)
    return np.repeat((r[:, None] * cols + c[None, :])[None], n, axis=0)


@pytest.mark.parametrize("parts", ["object parts", "grid of 12"])
def test_every_msx_is_sufficient_and_minimal(model, some, parts):
    if parts == "grid of 12":
        masks = grid_masks(len(some), some.shape[2])
        X = PartImages(some.images, masks, [f"cell{i}" for i in range(12)])
    else:
        X = some
    tau = 0.9
    attributor = PartAttributor(model, method="msx", tau=tau, baseline="mean").fit(X)
    baseline = attributor.mean_colour_[:, None, None]
    names = list(X.part_names)
    for i, explanation in enumerate(attributor.explain(X)):
        assert explanation.msx, "every image has at least one MSX"
        threshold = tau * explanation.full_score
        for msx in explanation.msx:
            ids = {names.index(p) for p in msx}
            # Recomputed one image at a time (the search runs batches): equal up to a few 1e-7.
            assert value_with(model, X.images[i], X.masks[i], ids, explanation.target, baseline) >= threshold - 1e-5
            for p in ids:  # minimal: dropping any member loses sufficiency
                assert value_with(model, X.images[i], X.masks[i], ids - {p}, explanation.target, baseline) < threshold + 1e-5
        assert len(set(explanation.msx)) == len(explanation.msx)  # no duplicates
        share = {p: sum(p in s for s in explanation.msx) / len(explanation.msx) for p in names}
        assert explanation.scores == pytest.approx(share)


def test_msx_search_uses_few_evaluations_at_twelve_parts(model, some):
    X = PartImages(some.images, grid_masks(len(some), some.shape[2]), [f"cell{i}" for i in range(12)])
    attributor = PartAttributor(model, method="msx", baseline="mean").fit(X)
    evaluations = [e.n_evaluations for e in attributor.explain(X)]
    assert max(evaluations) <= 0.1 * 2**12
    assert min(evaluations) > 0


class PartBrightness(nn.Module):
    """Logit of class 0 = ``weight`` × mean brightness inside a fixed square; class 1 = 0."""

    def __init__(self, weight, region):
        super().__init__()
        self.weight, self.region = weight, region

    def forward(self, x):
        rows, cols = self.region
        brightness = x[:, :, rows, cols].mean(dim=(1, 2, 3))
        return torch.stack([self.weight * brightness, torch.zeros_like(brightness)], dim=1)


def test_property_gradient_on_a_planted_monotone_response():
    size, region = 16, (slice(4, 8), slice(4, 8))
    images = np.full((2, 3, size, size), 0.8, dtype=np.float32)
    masks = np.zeros((2, size, size), dtype=int)
    masks[:, region[0], region[1]] = 1  # part 1 is exactly the square the model reads
    masks[:, 10:, 10:] = 2  # part 2 is elsewhere: the model ignores it
    X = PartImages(images, masks, ["background", "lamp", "shade"])
    model = PartBrightness(weight=3.0, region=region).eval()
    attributor = PartAttributor(model, method="property_gradient", output="logit", n_steps=11, random_state=0)
    explanation = attributor.fit(X).explain(X, target=0)[0]
    # Fading the lamp to black lowers the logit linearly from 3 * 0.8 to 0: EPGM = 2.4.
    assert explanation.scores["lamp"] == pytest.approx(2.4, rel=1e-5)
    np.testing.assert_allclose(explanation.extras["curves"]["lamp"], 2.4 * (1 - np.linspace(0, 1, 11)), atol=1e-5)
    assert explanation.scores["shade"] == pytest.approx(0.0, abs=1e-6)
    assert explanation.extras["p_values"]["lamp"] < 0.01
    assert explanation.extras["p_values"]["shade"] == 1.0
    # A straight fade has the smallest EPGM of all orders of its values: far below the shuffles'.
    assert explanation.extras["effect_sizes"]["lamp"] < -2
    assert explanation.extras["effect_sizes"]["shade"] == 0.0


def reference_permutation_test(curves, strengths, n_permutations, rng):
    """The straightforward test: every shuffle of every curve at once."""
    def epgm(c):
        return np.abs(np.diff(c, axis=-1) / np.diff(strengths)).mean(axis=-1)

    observed = epgm(curves)
    orders = np.argsort(rng.random((n_permutations, curves.shape[1])), axis=1)
    shuffled = epgm(curves[:, orders])
    centre = shuffled.mean(axis=1)
    extreme = np.abs(shuffled - centre[:, None]) >= np.abs(observed - centre)[:, None] - 1e-12
    std = shuffled.std(axis=1)
    effect = np.array([(o - c) / d if d > 0 else 0.0 for o, c, d in zip(observed, centre, std)])
    return (1 + extreme.sum(axis=1)) / (1 + n_permutations), effect


def test_permutation_test_in_blocks_equals_the_straightforward_one_in_bounded_memory():
    rng = np.random.RandomState(0)
    strengths = np.linspace(0.0, 1.0, 9)
    curves = np.cumsum(rng.normal(size=(300, 9)), axis=1)  # more curves than one block
    curves[:5] = 0.3
    curves[5:10] = np.linspace(1.0, 0.0, 9)
    p_values, effect_sizes = permutation_test(curves, strengths, 1000, np.random.RandomState(7))
    expected_p, expected_effect = reference_permutation_test(curves, strengths, 1000, np.random.RandomState(7))
    np.testing.assert_array_equal(p_values, expected_p)
    np.testing.assert_allclose(effect_sizes, expected_effect, rtol=1e-12, atol=1e-12)  # sums in another order
    assert (p_values[:5] == 1.0).all() and (effect_sizes[:5] == 0.0).all()
    assert (p_values[5:10] < 0.01).all() and (effect_sizes[5:10] < -2).all()
    # 300 curves x 2000 shuffles x 50 steps at once would take 240 MB.
    long = np.cumsum(rng.normal(size=(300, 50)), axis=1)
    tracemalloc.start()
    try:
        permutation_test(long, np.linspace(0.0, 1.0, 50), 2000, np.random.RandomState(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40e6


def test_score_intervention_of_a_user_sequence():
    region = (slice(4, 8), slice(4, 8))
    model = PartBrightness(weight=3.0, region=region).eval()
    fade = np.stack([np.full((3, 16, 16), 0.8 * (1 - a), dtype=np.float32) for a in np.linspace(0, 1, 21)])
    result = score_intervention(model, fade, target=0, output="logit", random_state=0)
    assert result["epgm"] == pytest.approx(2.4, rel=1e-5)
    assert result["p_value"] < 0.01 and result["effect_size"] < -2
    still = score_intervention(model, np.repeat(fade[:1], 10, axis=0), target=0, output="logit", random_state=0)
    assert still["epgm"] == 0.0 and still["p_value"] == 1.0 and still["effect_size"] == 0.0
    with pytest.raises(ValueError, match="increasing"):
        score_intervention(model, fade, strengths=np.zeros(21))


class LinearCNN(nn.Module):
    """1x1 convolution (the Grad-CAM layer) → global average pooling → linear: all linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.conv(x).mean(dim=(2, 3)))


@pytest.fixture
def linear_case():
    rng = np.random.RandomState(0)
    images = rng.rand(3, 3, 8, 8).astype(np.float32)
    masks = np.zeros((3, 8, 8), dtype=int)
    masks[:, :4] = 1
    masks[:, 4:, :3] = 2
    return PartImages(images, masks, ["background", "top", "corner"]), LinearCNN().eval()


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_integrated_gradients_of_a_linear_model_by_hand(linear_case, pooling):
    X, model = linear_case
    attributor = PartAttributor(model, method="integrated_gradients", output="logit", pooling=pooling, n_steps=4)
    scores = attributor.fit(X).explain(X, target=1)
    # The logit is linear: IG is exact, (x - 0) times its gradient, d logit / d x[c, h, w].
    w = (model.head.weight[1] @ model.conv.weight.view(4, 3)).detach().numpy() / 64  # per channel
    pixel = np.einsum("nchw,c->nhw", X.images, w)
    for i, explanation in enumerate(scores):
        for pid, name in enumerate(X.part_names):
            values = pixel[i][X.masks[i] == pid]
            expected = values.sum() if pooling == "sum" else values.mean()
            assert explanation.scores[name] == pytest.approx(expected, rel=1e-4, abs=1e-7)
    # Completeness: attributions add up to logit(image) - logit(baseline).
    with torch.no_grad():
        gap = model(torch.from_numpy(X.images))[:, 1] - model(torch.zeros(1, 3, 8, 8))[:, 1]
    if pooling == "sum":
        np.testing.assert_allclose([sum(e.scores.values()) for e in scores], gap.numpy(), rtol=1e-4)


def test_gradcam_of_a_linear_model_by_hand(linear_case):
    X, model = linear_case
    attributor = PartAttributor(model, method="gradcam", layer="conv").fit(X)
    assert attributor.layer_ == "conv"
    explanations = attributor.explain(X, target=0)
    with torch.no_grad():
        activation = model.conv(torch.from_numpy(X.images)).numpy()  # (n, 4, 8, 8)
    channel_weight = model.head.weight[0].detach().numpy() / 64  # mean gradient of the logit per channel
    cam = np.maximum(np.einsum("nkhw,k->nhw", activation, channel_weight), 0)
    for i, explanation in enumerate(explanations):
        for pid, name in enumerate(X.part_names):
            assert explanation.scores[name] == pytest.approx(cam[i][X.masks[i] == pid].sum(), rel=1e-4, abs=1e-6)


def test_gradcam_picks_a_spatial_layer_by_default(model, some):
    attributor = PartAttributor(model, method="gradcam").fit(some)
    assert attributor.layer_ == "stage4"
    scores = attributor.transform(some)
    assert (scores >= 0).all() and scores.sum() > 0


def test_deletion_and_insertion_rank_shapley_above_random(model, some):
    attributor = PartAttributor(model, baseline="mean").fit(some)
    shapley = attributor.transform(some)
    random = np.random.RandomState(0).rand(*shapley.shape)
    deletion = {name: part_deletion_curve(attributor, some, s) for name, s in (("shapley", shapley), ("random", random))}
    insertion = {name: part_insertion_curve(attributor, some, s) for name, s in (("shapley", shapley), ("random", random))}
    assert deletion["shapley"]["auc"] < deletion["random"]["auc"]
    assert insertion["shapley"]["auc"] > insertion["random"]["auc"]
    # Curves start at the full image's value and end at the empty one's (and the reverse).
    explanations = attributor.explain(some)
    full = np.mean([e.full_score for e in explanations])
    empty = np.mean([e.empty_score for e in explanations])
    assert deletion["shapley"]["curve"][0] == pytest.approx(full, abs=1e-5)
    assert deletion["shapley"]["curve"][-1] == pytest.approx(empty, abs=1e-5)
    assert insertion["shapley"]["curve"][0] == pytest.approx(empty, abs=1e-5)
    assert insertion["shapley"]["curve"][-1] == pytest.approx(full, abs=1e-5)
    with pytest.raises(ValueError, match="scores must have shape"):
        part_deletion_curve(attributor, some, shapley[:, :3])


def test_local_explanation_plot(model, some, data):
    attributor = PartAttributor(model, method="msx", baseline="mean").fit(some)
    explanation = attributor.explain(some[:1])[0]
    fig = plot_local_explanation(
        some.images[0], some.masks[0], explanation, list(some.part_names), target_names=data.target_names
    )
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith(data.target_names[explanation.target])
    for msx in explanation.msx[:3]:
        assert "MSX: " + " ∧ ".join(sorted(msx)) in titles


def test_expected_gradients_over_reference_images_of_a_linear_model_by_hand(linear_case):
    X, model = linear_case
    attributor = PartAttributor(model, method="integrated_gradients", output="logit", baseline="reference",
                                n_references=2, n_steps=4, random_state=0).fit(X)
    refs = attributor.references_
    scores = attributor.explain(X, target=1)
    # Linear logit: the integrated gradients from each reference are (x - r) times the
    # gradient; their mean over the references is (x - mean of the references) times it.
    w = (model.head.weight[1] @ model.conv.weight.view(4, 3)).detach().numpy() / 64
    pixel = np.einsum("nchw,c->nhw", X.images - refs.mean(axis=0), w)
    for i, explanation in enumerate(scores):
        for pid, name in enumerate(X.part_names):
            assert explanation.scores[name] == pytest.approx(pixel[i][X.masks[i] == pid].sum(), rel=1e-4, abs=1e-7)
