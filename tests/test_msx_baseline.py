"""MSX correctness and baseline honesty, against brute force over every coalition of a
hand-made model whose class probabilities are a lookup table of the parts it sees."""

import warnings
from itertools import combinations

import numpy as np
import pytest
import torch
from torch import nn

import skpartx.attribution._methods
import skpartx.attribution
from skpartx import PartAttributor, PartImages
from skpartx.attribution import decode_msx

HEIGHT, WIDTH = 4, 3  # each part is a HEIGHT x WIDTH block of columns


class ShownParts(nn.Module):
    """Logits ``table[s]``, where bit ``p`` of ``s`` says whether column block ``p`` is shown
    (bright); counts the images it is asked about."""

    def __init__(self, table):
        super().__init__()
        self.register_buffer("table", torch.as_tensor(np.asarray(table), dtype=torch.float32))
        self.n_blocks = int(np.log2(len(self.table)))
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        blocks = x[:, 0].reshape(len(x), HEIGHT, self.n_blocks, WIDTH).mean(dim=(1, 3))
        index = ((blocks > 0.5).long() << torch.arange(self.n_blocks)).sum(dim=1)
        return self.table[index]


def block_images(masks):
    """Bright images over ``masks`` ``(N, HEIGHT, n_blocks * WIDTH)``, as ``PartImages``."""
    n_parts = int(masks.max()) + 1
    return PartImages(np.ones((len(masks), 1, *masks.shape[1:]), dtype=np.float32), masks,
                      ["background"] + [f"part{p}" for p in range(1, n_parts)])


def stripe_masks(n_images, n_blocks, absent=()):
    """Block ``p`` labelled part ``p``; the blocks of parts in ``absent[i]`` labelled as block 0 instead."""
    ids = np.repeat(np.arange(n_blocks), WIDTH)
    masks = np.tile(ids, (n_images, HEIGHT, 1))
    for i, parts in enumerate(absent):
        masks[i][np.isin(masks[i], list(parts))] = 0
    return masks


def probabilities_of(model, X, i, kept):
    """Softmax of the model on image ``i`` with only the parts ``kept`` shown (zero baseline)."""
    composite = np.where(np.isin(X.masks[i], list(kept))[None], X.images[i], 0.0).astype(np.float32)
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(composite[None])), dim=1)[0].numpy()


def check_msx_by_brute_force(model, X, explanations, tau):
    """Every listed MSX is sufficient on probabilities, 1-minimal, and contains no other."""
    names = list(X.part_names)
    for i, explanation in enumerate(explanations):
        present = sorted(np.unique(X.masks[i]).tolist())
        target = explanation.target
        value = {
            frozenset(s): probabilities_of(model, X, i, s)[target]
            for size in range(len(present) + 1)
            for s in combinations(present, size)
        }
        threshold = tau * value[frozenset(present)]
        sufficient = {s: v >= threshold for s, v in value.items()}
        listed = [frozenset(names.index(p) for p in m) for m in explanation.msx]
        assert listed and len(set(listed)) == len(listed)
        if sufficient[frozenset()]:
            assert listed == [frozenset()], "a sufficient baseline is the only MSX"
        for m in listed:
            assert value[m] >= threshold - 1e-6, f"image {i}: {sorted(m)} is not sufficient"  # (a)
            assert not any(other < m for other in listed), f"image {i}: {sorted(m)} contains another MSX"  # (b)
            for p in m:  # (c) 1-minimal: dropping any member loses sufficiency
                assert not sufficient[m - {p}], f"image {i}: {sorted(m)} without {p} is still sufficient"
        assert explanation.baseline_sufficient == sufficient[frozenset()]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("output", ["probability", "logit"])
def test_msx_are_sufficient_minimal_and_antichains_by_brute_force(one_torch_thread, seed, output):
    rng = np.random.RandomState(seed)
    n_blocks, n_classes = 5, 3
    # Non-monotone: the probabilities jump around as parts are added. Logits are shifted
    # below zero so that tau x logit lies above the logit.
    table = rng.normal(scale=2.5, size=(2**n_blocks, n_classes)) - 6.0
    model = ShownParts(table).eval()
    X = block_images(stripe_masks(4, n_blocks, absent=[(), (2,), (1, 4), ()]))
    attributor = PartAttributor(model, method="msx", output=output, tau=0.9, max_roots=5, device="cpu").fit(X)
    for target in range(n_classes):
        check_msx_by_brute_force(model, X, attributor.explain(X, target=target), tau=0.9)
    # transform's codes decode to explain's sets, bit m to the m-th.
    for sets, explanation in zip(decode_msx(attributor.transform(X)), attributor.explain(X)):
        assert [{X.part_names[p] for p in s} for s in sets] == [set(m) for m in explanation.msx]


def test_a_pruned_superset_of_a_sufficient_part_is_not_listed(one_torch_thread):
    # Part 0 alone is sufficient; every pair is not; all three together are. The search
    # from part 1 reaches {0, 1, 2}, which no single drop shrinks: 1-minimal, yet it
    # contains {0}.
    margin = {0b000: -3, 0b001: 3, 0b010: -1, 0b100: -1, 0b011: -2, 0b101: -2, 0b110: -2, 0b111: 2}
    table = np.array([[margin[s] - 5.0, -5.0] for s in range(8)])
    model = ShownParts(table).eval()
    X = block_images(stripe_masks(1, 3))
    for output in ("probability", "logit"):
        explanation = PartAttributor(model, method="msx", output=output, device="cpu").fit(X).explain(X, target=0)[0]
        assert explanation.msx == [frozenset({"background"})]
        check_msx_by_brute_force(model, X, [explanation], tau=0.9)


def confident_baseline_model(baseline_class, n_blocks=3, n_classes=3):
    """Class 0 on the full image; on the all-baseline image ``baseline_class`` with
    probability 0.99, or all classes alike (``None``); in between, evenly spread."""
    table = np.zeros((2**n_blocks, n_classes))
    table[-1, 0] = 4.0
    if baseline_class is not None:
        table[0, baseline_class] = 6.0
    return ShownParts(table).eval()


def test_confident_baseline_warns_names_the_class_and_shows_in_the_report(one_torch_thread, tmp_path):
    model = confident_baseline_model(baseline_class=2)
    X = block_images(stripe_masks(6, 3))
    attributor = PartAttributor(model, method="occlusion", baseline="zero", device="cpu").fit(X)
    for call in (attributor.transform, attributor.explain):
        with pytest.warns(UserWarning, match=r"class 2 .*6 of\s+6 images.*Try another baseline \(baseline='mean' or baseline='blur' or baseline='reference' or baseline='inpaint'\)") as record:
            call(X)
        assert sum("all-baseline" in str(w.message) for w in record) == 1  # once per call
    expected = torch.softmax(model.table[0], dim=0).numpy()
    with pytest.warns(UserWarning, match="class 2"):
        explanations = attributor.explain(X)
    for explanation in explanations:
        np.testing.assert_allclose(explanation.baseline_probabilities, expected, rtol=1e-6)
        assert explanation.target == 0 and not explanation.baseline_sufficient
    report = attributor.baseline_report(X)
    assert list(report.index) == [0]
    row = report.loc[0]
    assert row["n_images"] == 6 and row["baseline_class"] == 2
    assert row["baseline_probability"] == pytest.approx(expected[0])
    assert row["baseline_class_probability"] == pytest.approx(expected[2]) and expected[2] > 0.99
    assert row["baseline_sufficient"] == 0.0
    # Explaining class 2 itself: the baseline alone suffices, the empty MSX says so.
    msx = PartAttributor(model, method="msx", device="cpu").fit(X)
    with pytest.warns(UserWarning, match="class 2"):
        explanations = msx.explain(X, target=2)
    assert all(e.baseline_sufficient and e.msx == [frozenset()] for e in explanations)
    assert msx.baseline_report(X, target=2).loc[2, "baseline_sufficient"] == 1.0
    # The warning comes with cached results too.
    cached = PartAttributor(model, method="occlusion", memory=str(tmp_path), device="cpu").fit(X)
    for _ in range(2):
        with pytest.warns(UserWarning, match="class 2"):
            cached.transform(X)


def test_neutral_baseline_does_not_warn(one_torch_thread):
    model = confident_baseline_model(baseline_class=None)
    X = block_images(stripe_masks(6, 3))
    attributor = PartAttributor(model, method="occlusion", device="cpu").fit(X)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        attributor.transform(X)
        explanations = attributor.explain(X)
    assert not [w for w in record if "baseline" in str(w.message)]
    assert all(not e.baseline_sufficient for e in explanations)
    np.testing.assert_allclose(explanations[0].baseline_probabilities, np.full(3, 1 / 3), rtol=1e-6)

    # Confident on some baseline composites only: those that keep block 0 (unlabelled
    # pixels stay) are class 1; it warns from half of the images on.
    table = np.zeros((8, 3))
    table[-1, 0] = 4.0
    table[0b001, 1] = 6.0
    for n_confident, warns in ((2, False), (3, True)):
        masks = stripe_masks(6, 3)
        masks[:n_confident][masks[:n_confident] == 0] = -1
        mixed = block_images(masks)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            PartAttributor(ShownParts(table).eval(), method="occlusion", device="cpu").fit(mixed).transform(mixed)
        messages = [str(w.message) for w in record if "all-baseline" in str(w.message)]
        assert len(messages) == warns and all("class 1 " in m and f"{n_confident} of 6" in m for m in messages)


@pytest.mark.parametrize(
    "baseline, unlabelled, extra", [("zero", 0, 1), ("mean", 0, 1), ("zero", 2, 3), ("blur", 0, 8), ("inpaint", 0, 1), ("inpaint", 2, 3)]
)
def test_baseline_report_needs_one_pass_per_image_and_one_per_distinct_composite(
    one_torch_thread, baseline, unlabelled, extra
):
    model = confident_baseline_model(baseline_class=2)
    masks = stripe_masks(8, 3)
    masks[:unlabelled, 0, 0] = -1  # an unlabelled pixel stays in the composite: its own pass
    X = block_images(masks)
    attributor = PartAttributor(model, baseline=baseline, device="cpu").fit(X)
    model.seen = 0
    attributor.baseline_report(X)
    assert model.seen == len(X) + extra
    model.seen = 0
    attributor.baseline_report(X, target=1)  # the full images' probabilities still take one pass
    assert model.seen == len(X) + extra


def test_more_msx_than_the_codes_hold_warns(one_torch_thread, monkeypatch):
    n_blocks = 12
    X = block_images(stripe_masks(2, n_blocks))
    pairs = [tuple(pair) for pair in combinations(range(n_blocks), 2)]  # 66 sets, more than 53

    def many(engine, present, *args):
        return [pairs] * len(present), np.zeros(len(present), dtype=bool)

    monkeypatch.setattr(skpartx.attribution._methods, "search_msx", many)
    attributor = PartAttributor(ShownParts(np.zeros((2**n_blocks, 2))).eval(), method="msx", device="cpu").fit(X)
    with pytest.warns(UserWarning, match="2 image.*more than 53"):
        codes = attributor.transform(X)
    assert decode_msx(codes)[0] == [frozenset(p) for p in pairs[:53]]
    with pytest.warns(UserWarning, match="more than 53"):
        assert len(attributor.explain(X[:1])[0].msx) == 66


def test_msx_search_within_a_budget_warns_where_it_stopped(one_torch_thread):
    n_blocks = 10
    table = np.zeros((2**n_blocks, 2))
    table[:, 1] = 2.0
    table[-1] = [6.0, 0.0]  # class 0 only with every block shown: the one MSX is all parts
    X = block_images(stripe_masks(2, n_blocks))
    model = ShownParts(table).eval()
    searched = PartAttributor(model, method="msx", baseline="zero", device="cpu").fit(X).explain(X)
    assert all(e.msx == [frozenset(X.part_names)] for e in searched)
    budget = 30
    attributor = PartAttributor(model, method="msx", baseline="zero", max_evals=budget, device="cpu").fit(X)
    with pytest.warns(UserWarning, match=r"MSX search of 2 image\(s\).*spent max_evals"):
        stopped = attributor.explain(X)
    # Stopped early, the image keeps all its parts (sufficient), within the budget and the shared canvas.
    assert all(e.msx == [frozenset(X.part_names)] for e in stopped)
    assert sum(e.n_evaluations for e in stopped) <= budget * len(X) + 1
    assert sum(e.n_evaluations for e in stopped) < sum(e.n_evaluations for e in searched)


def test_exact_values_beyond_the_budget_under_the_default_announce_the_change(one_torch_thread):
    n_blocks = 10  # 2**10 coalitions: more than the default budget of 512
    table = np.random.RandomState(0).normal(size=(2**n_blocks, 2))
    X = block_images(stripe_masks(2, n_blocks))
    model = ShownParts(table).eval()
    default = PartAttributor(model, baseline="zero", random_state=0, device="cpu").fit(X)
    with pytest.warns(FutureWarning, match="becomes None") as record:
        exact = default.explain(X)
    assert record[0].filename == __file__
    assert all(e.n_evaluations >= 2**n_blocks for e in exact)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        kept = PartAttributor(model, baseline="zero", max_exact_parts=12, device="cpu").fit(X).explain(X)
        estimated = PartAttributor(model, baseline="zero", max_exact_parts=None, random_state=0,
                                   device="cpu").fit(X).explain(X)
    for e, k, s in zip(exact, kept, estimated):
        assert k.scores == e.scores
        assert s.n_evaluations <= 512 + 1
        values, truth = np.array(list(s.scores.values())), np.array(list(e.scores.values()))
        assert np.sum((values - truth) ** 2) < 0.05 * np.sum(truth**2)
