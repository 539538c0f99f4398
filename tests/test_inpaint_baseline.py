"""The "inpaint" baseline: removed object parts filled in from what remains, per coalition."""

import numpy as np
import pytest
import torch
from shapley_reference import shapley_from_definition
from torch import nn

from skpartx import PartAttributor, PartImages
from skpartx._engine.coalitions import fill_from_sources

BODY, BACKGROUND, WINDOW = 0.5, 0.1, 0.9


def window_in_body(n_images=2, size=32):
    """Grey bodies (part 1) with a bright window (part 2) inside, on a dark background (part 0)."""
    images = np.full((n_images, 3, size, size), BACKGROUND, dtype=np.float32)
    masks = np.zeros((n_images, size, size), dtype=np.int64)
    images[:, :, 8:24, 8:24], masks[:, 8:24, 8:24] = BODY, 1
    images[:, :, 12:18, 12:18], masks[:, 12:18, 12:18] = WINDOW, 2
    return PartImages(images, masks, ("background", "body", "window"))


def test_fill_keeps_known_pixels_and_fills_each_hole_with_a_mean_of_known_ones():
    rng = np.random.RandomState(0)
    values = torch.from_numpy(rng.rand(3, 2, 19, 27).astype(np.float32))
    weights = torch.from_numpy((rng.rand(3, 1, 19, 27) < 0.2).astype(np.float32))
    filled = fill_from_sources(values, weights, torch.zeros(1, 2, 1, 1))
    known = weights.bool().expand_as(values)
    torch.testing.assert_close(filled[known], values[known])
    for image in range(3):  # each filled pixel is a convex combination of known pixels
        for channel in range(2):
            shown = values[image, channel][weights[image, 0].bool()]
            holes = filled[image, channel][~weights[image, 0].bool()]
            assert holes.min() >= shown.min() - 1e-6 and holes.max() <= shown.max() + 1e-6
    # A constant image with holes stays constant; an image with nothing known takes the fallback.
    constant = fill_from_sources(torch.full((1, 3, 16, 16), 0.7), weights[:1, :, :16, :16], torch.zeros(1, 3, 1, 1))
    torch.testing.assert_close(constant, torch.full_like(constant, 0.7))
    nothing = fill_from_sources(values, torch.zeros_like(weights), torch.tensor([0.2, 0.4]).view(1, 2, 1, 1))
    torch.testing.assert_close(nothing[:, 1], torch.full_like(nothing[:, 1], 0.4))


def test_a_hole_takes_the_colour_that_surrounds_it():
    X = window_in_body(1)
    weights = torch.from_numpy((X.masks != 2)[:, None].astype(np.float32))
    filled = fill_from_sources(torch.from_numpy(X.images), weights, torch.zeros(1, 3, 1, 1))
    hole = filled[0][:, X.masks[0] == 2]
    # Nearer the body around it than the background beyond or the window that was there.
    assert (hole - BODY).abs().max() < (BODY - BACKGROUND) / 2


class WindowContrast(nn.Module):
    """Logit of class 1: how much the window's square stands out from the body around it."""

    def forward(self, x):
        window = x[:, :, 12:18, 12:18].mean(dim=(1, 2, 3))
        ring = (x[:, :, 9:23, 9:23].sum(dim=(1, 2, 3)) - x[:, :, 12:18, 12:18].sum(dim=(1, 2, 3))) / (3 * (196 - 36))
        return torch.stack([torch.zeros_like(window), 10 * (window - ring).abs()], dim=1)


def test_a_removed_window_leaves_no_window_shaped_hole(one_torch_thread):
    X = window_in_body(2)
    scores = {}
    for baseline in ("mean", "inpaint"):
        attributor = PartAttributor(WindowContrast(), method="occlusion", baseline=baseline, output="logit",
                                    device="cpu").fit(X)
        explanation = attributor.explain(X, target=1)[0]
        scores[baseline] = explanation.scores["window"] / explanation.full_score
    # A mean-coloured square in a body still stands out (about half the contrast stays); filled in, it does not.
    assert scores["mean"] < 0.7
    assert scores["inpaint"] > 0.9


def inpainted_value(model, image, mask, kept, target, canvas):
    """Softmax probability of ``target`` on the composite of the "inpaint" baseline, built here:
    the background shows the image or the canvas, removed object parts are filled in from the rest."""
    keep_background = 0 in kept
    known = (mask == -1) | (mask == 0) | np.isin(mask, list(kept))
    values = image.copy()
    if not keep_background:
        values[:, mask == 0] = canvas[:, None]
    composite = fill_from_sources(torch.from_numpy(values[None]), torch.from_numpy(known[None, None].astype(np.float32)),
                                  torch.from_numpy(canvas).view(1, -1, 1, 1))
    with torch.no_grad():
        logits = model(composite)
    return float(torch.softmax(logits.double(), dim=1)[0, target])


def test_inpainted_shapley_matches_brute_force_from_definition(model, full_X, test_slice):
    few = full_X[np.arange(test_slice.start, test_slice.start + 2)]
    attributor = PartAttributor(model, method="shapley", baseline="inpaint").fit(few)
    canvas = attributor.mean_colour_.astype(np.float32)
    for i, explanation in enumerate(attributor.explain(few)):
        players = sorted(np.unique(few.masks[i]).tolist())
        cache = {}

        def v(s):
            if s not in cache:
                cache[s] = inpainted_value(model, few.images[i], few.masks[i], s, explanation.target, canvas)
            return cache[s]

        for player, phi in shapley_from_definition(players, v).items():
            assert explanation.scores[few.part_names[player]] == pytest.approx(phi, abs=2e-5)
        assert explanation.full_score == pytest.approx(v(frozenset(players)), abs=1e-5)
        # Nothing kept: the canvas everywhere, as with the mean colour.
        assert explanation.empty_score == pytest.approx(v(frozenset()), abs=1e-5)


def test_integrated_gradients_start_from_the_mean_colour(model, full_X, test_slice):
    few = full_X[np.arange(test_slice.start, test_slice.start + 3)]
    runs = [PartAttributor(model, method="integrated_gradients", baseline=b).fit(few).transform(few)
            for b in ("mean", "inpaint")]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-6)


def test_composite_images_are_what_the_model_is_shown(one_torch_thread):
    X = window_in_body(1)
    without_window = np.array([[True, True, False]])
    shown = {}
    for baseline in ("mean", "inpaint"):
        engine = PartAttributor(WindowContrast(), method="occlusion", baseline=baseline, device="cpu").fit(X) \
            .coalition_engine(X, target=1)
        composites = engine.composite_images([0], without_window)
        assert composites.shape == (1, 1, *X.images.shape[1:])
        # The model's value on the drawn composite is the value the engine scores.
        logits = WindowContrast()(torch.from_numpy(composites[:, 0]))
        assert engine.evaluate([0], without_window)[0] == pytest.approx(float(torch.softmax(logits, 1)[0, 1]), abs=1e-6)
        shown[baseline] = composites[0, 0][:, X.masks[0] == 2]
    mean_colour = X.images.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(shown["mean"], np.broadcast_to(mean_colour[:, None], shown["mean"].shape), atol=1e-6)
    assert np.abs(shown["inpaint"] - BODY).max() < (BODY - BACKGROUND) / 2


def test_plot_removals_draws_a_row_per_baseline_and_titles_the_scored_probabilities(one_torch_thread):
    import matplotlib

    matplotlib.use("Agg")
    from skpartx.plotting import plot_removals

    X = window_in_body(1)
    attributors = {b: PartAttributor(WindowContrast(), method="occlusion", baseline=b, device="cpu").fit(X)
                   for b in ("mean", "inpaint")}
    fig = plot_removals(attributors, X, ["window", "body"], target=1, target_names=["plain", "windowed"])
    axes = np.array(fig.axes).reshape(2, 4)  # whole, without window, without body, without both
    for row, (name, attributor) in zip(axes, attributors.items()):
        assert row[0].get_ylabel() == name
        engine = attributor.coalition_engine(X, target=1)
        keep = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 0, 0]], dtype=bool)
        for ax, value in zip(row, engine.evaluate(np.zeros(4, int), keep)):
            assert ax.get_title().endswith(f"p(windowed) = {value:.2f}")
    whole = float(torch.softmax(torch.tensor([0.0, 10 * (WINDOW - BODY)]), 0)[1])
    assert axes[0, 0].get_title().endswith(f"= {whole:.2f}")
    with pytest.raises(ValueError, match="unknown part"):
        plot_removals(attributors["mean"], X, ["wheel"])
    matplotlib.pyplot.close("all")
