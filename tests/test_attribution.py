"""Part attribution against brute-force references computed with the model directly."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from shapley_reference import shapley_from_definition
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from skpartx import PartAttributor, PartImages
from skpartx._engine.coalitions import CoalitionEngine, make_baseline
from skpartx._core.part_scores import PartScoreArray, table_info
from skpartx.attribution import decode_msx, msx_part_shares


def model_value(model, image, mask, keep_ids, target, baseline):
    """Softmax probability of ``target`` with pixels of parts outside ``keep_ids`` replaced."""
    keep = np.isin(mask, list(keep_ids))[None]
    composite = np.where(keep, image, baseline).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(composite[None]))
    return float(torch.softmax(logits.double(), dim=1)[0, target])


def brute_force_shapley(model, image, mask, target, baseline):
    players = sorted(np.unique(mask).tolist())
    cache = {}

    def v(s):
        if s not in cache:
            cache[s] = model_value(model, image, mask, s, target, baseline)
        return cache[s]

    phi = shapley_from_definition(players, v)
    return phi, v(frozenset(players)), v(frozenset())


@pytest.fixture(scope="module")
def few(full_X, test_slice):
    idx = np.arange(test_slice.start, test_slice.start + 6)
    return full_X[idx]


@pytest.mark.parametrize("baseline", ["zero", "blur", 0.5])
def test_exact_shapley_matches_brute_force_from_definition(model, few, baseline):
    attributor = PartAttributor(model, method="shapley", baseline=baseline).fit(few)
    explanations = attributor.explain(few)
    names = few.part_names
    blurred = make_baseline(baseline, torch.from_numpy(few.images)).numpy() if isinstance(baseline, str) else None
    for i, explanation in enumerate(explanations):
        base = np.full_like(few.images[i], baseline) if blurred is None else blurred[i]
        phi, full, empty = brute_force_shapley(model, few.images[i], few.masks[i], explanation.target, base)
        for pid, value in phi.items():
            assert explanation.scores[names[pid]] == pytest.approx(value, abs=2e-5)
        # Efficiency: the values add up to f(all) - f(none).
        assert sum(explanation.scores.values()) == pytest.approx(full - empty, abs=2e-5)
        assert explanation.full_score == pytest.approx(full, abs=1e-5)
        assert explanation.empty_score == pytest.approx(empty, abs=1e-5)
        # Parts absent from the image are null players.
        absent = set(range(len(names))) - set(phi)
        assert all(explanation.scores[names[p]] == 0.0 for p in absent)


@pytest.mark.parametrize("method, encoding", [("occlusion", "scores"), ("msx", "msx")])
def test_transform_carries_part_names_and_encoding_plain_and_pandas(model, few, method, encoding):
    attributor = PartAttributor(model, method=method, baseline="mean").fit(few)
    scores = attributor.transform(few)
    assert isinstance(scores, PartScoreArray) and scores.shape == (len(few), len(few.part_names))
    assert table_info(scores) == (list(few.part_names), encoding)
    np.testing.assert_array_equal(attributor.get_feature_names_out(), few.part_names)
    assert table_info(pickle.loads(pickle.dumps(scores))) == (list(few.part_names), encoding)
    frame = clone(attributor).set_output(transform="pandas").fit_transform(few)
    assert isinstance(frame, pd.DataFrame) and table_info(frame) == (list(few.part_names), encoding)
    np.testing.assert_allclose(frame.to_numpy(), scores)
    if method == "msx":  # integer codes: each image's sets are those explain lists, in order
        shares = msx_part_shares(scores)
        for i, (sets, explanation) in enumerate(zip(decode_msx(scores), attributor.explain(few))):
            assert [frozenset(few.part_names[p] for p in s) for s in sets] == explanation.msx
            assert list(explanation.scores.values()) == pytest.approx(shares[i])


class Recorder(ClassifierMixin, BaseEstimator):
    """Final step that keeps what the pipeline hands it."""

    def fit(self, X, y):
        self.seen_, self.classes_ = X, np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


@pytest.mark.parametrize("pandas", [False, True])
def test_pipeline_hands_names_and_encoding_to_the_next_step(model, few, pandas):
    pipe = make_pipeline(PartAttributor(model, method="msx", baseline="mean", relations=True), Recorder())
    if pandas:
        pipe.set_output(transform="pandas")
    seen = pipe.fit(few, np.zeros(len(few), dtype=int))[-1].seen_
    assert isinstance(seen, pd.DataFrame if pandas else PartScoreArray)
    names, encoding = table_info(seen)
    assert encoding == "msx" and names == list(pipe[0].get_feature_names_out())
    assert names[: len(few.part_names)] == list(few.part_names) and len(names) > len(few.part_names)
    relations = np.asarray(seen)[:, len(few.part_names) :]
    assert set(np.unique(relations)) <= {0.0, 1.0}  # relation indicators follow the codes as 0/1


def test_grid_search_memory_and_resumable_chunks_keep_the_container(model, full_X, decisions, test_slice, tmp_path):
    idx = np.arange(test_slice.start, test_slice.start + 12)
    X, y = full_X[idx], decisions[idx]
    pipe = make_pipeline(PartAttributor(model, method="msx", baseline="mean"), DecisionTreeClassifier(random_state=0))
    search = GridSearchCV(pipe, {"partattributor__tau": [0.8, 0.95]}, cv=KFold(2)).fit(X, y)
    assert search.best_params_["partattributor__tau"] in (0.8, 0.95)
    for params in ({"memory": str(tmp_path / "cache")}, {"out_dir": str(tmp_path / "runs"), "chunk_size": 5}):
        # Against a run of the same chunks (other batches may round differently at tau's edge).
        chunking = {key: value for key, value in params.items() if key == "chunk_size"}
        reference = PartAttributor(model, method="msx", baseline="mean", **chunking).fit(X).transform(X)
        attributor = PartAttributor(model, method="msx", baseline="mean", **params).fit(X)
        for _ in range(2):  # computed, then read back from the cache or the chunk files
            scores = attributor.transform(X)
            assert isinstance(scores, PartScoreArray) and table_info(scores) == (list(X.part_names), "msx")
            np.testing.assert_array_equal(scores, reference)


def test_occlusion_and_keep_one_match_direct_evaluation(model, few):
    occl = PartAttributor(model, method="occlusion").fit(few).explain(few)
    keep = PartAttributor(model, method="keep_one").fit(few).explain(few)
    base = np.zeros_like(few.images[0])
    for i in range(len(few)):
        parts = np.unique(few.masks[i]).tolist()
        target = occl[i].target
        full = model_value(model, few.images[i], few.masks[i], parts, target, base)
        empty = model_value(model, few.images[i], few.masks[i], [], target, base)
        for p in parts:
            name = few.part_names[p]
            without = model_value(model, few.images[i], few.masks[i], set(parts) - {p}, target, base)
            only = model_value(model, few.images[i], few.masks[i], [p], target, base)
            assert occl[i].scores[name] == pytest.approx(full - without, abs=2e-5)
            assert keep[i].scores[name] == pytest.approx(only - empty, abs=2e-5)


@pytest.mark.parametrize("approximator", ["adjusted", "leverage", "permutation"])
def test_sampled_shapley_converges_to_exact_within_the_budget(model, few, approximator):
    exact = PartAttributor(model, method="shapley", baseline="zero").fit(few).transform(few)
    errors = []
    for max_evals in (28, 96):  # two antithetic pairs of orders at 7 parts: a spread to report
        sampled = PartAttributor(model, method="shapley", baseline="zero", max_exact_parts=2, max_evals=max_evals,
                                 approximator=approximator, random_state=0)
        explanations = sampled.fit(few).explain(few)
        scores = np.array([list(e.scores.values()) for e in explanations])
        errors.append(np.abs(scores - exact).mean())
        se = np.array([list(e.extras["standard_errors"].values()) for e in explanations])
        assert (se >= 0).all() and se.max() > 0
        # At most max_evals per image, and the baseline report's shared canvas (all classes' softmax), once.
        assert sum(e.n_evaluations for e in explanations) <= max_evals * len(explanations) + 1
        # Efficiency: each image's values sum to its full value minus its empty value.
        totals = np.array([e.full_score - e.empty_score for e in explanations])
        np.testing.assert_allclose(scores.sum(axis=1), totals, atol=1e-6)
    assert errors[1] < 0.5 * errors[0]


def test_n_samples_is_deprecated_and_still_gives_02s_permutations(model, few):
    present = np.array([(np.unique(m[m >= 0]).size) for m in np.asarray(few.masks)])
    seven = few[np.flatnonzero(present == present.max())]
    q = int(present.max())
    legacy = PartAttributor(model, method="shapley", baseline="zero", max_exact_parts=2, n_samples=8, random_state=0)
    with pytest.warns(FutureWarning, match="n_samples is deprecated") as record:
        legacy.fit(seven)
    assert record[0].filename == __file__
    # 8 orders cost 8 (q - 1) + 2 evaluations at q parts: the same orders, the same values.
    budget = PartAttributor(model, method="shapley", baseline="zero", max_exact_parts=2, max_evals=8 * (q - 1) + 2,
                            approximator="permutation", random_state=0).fit(seven)
    np.testing.assert_array_equal(np.asarray(legacy.transform(seven)), np.asarray(budget.transform(seven)))


def test_explicit_target_and_logit_output(model, few):
    attributor = PartAttributor(model, method="shapley", output="logit").fit(few)
    explanations = attributor.explain(few, target=2)
    assert all(e.target == 2 for e in explanations)
    with torch.no_grad():
        logits = model(torch.from_numpy(few.images))[:, 2].numpy()
    np.testing.assert_allclose([e.full_score for e in explanations], logits, rtol=1e-4, atol=1e-4)


def test_engine_memoises_and_builds_exact_composites(model, few):
    engine = CoalitionEngine(model, few.images, few.masks, np.zeros(len(few), int), len(few.part_names))
    rng = np.random.RandomState(0)
    coalitions = rng.rand(10, len(few.part_names)) < 0.5
    idx = rng.randint(0, len(few), 10)
    first = engine.evaluate(idx, coalitions)
    evaluations = engine.n_evaluations
    again = engine.evaluate(np.concatenate([idx, idx]), np.concatenate([coalitions, coalitions]))
    assert engine.n_evaluations == evaluations  # nothing evaluated twice
    np.testing.assert_array_equal(again, np.concatenate([first, first]))
    for k in range(10):
        kept = np.flatnonzero(coalitions[k])
        direct = model_value(model, few.images[idx[k]], few.masks[idx[k]], kept, 0, np.zeros_like(few.images[0]))
        assert first[k] == pytest.approx(direct, abs=1e-5)


class OutOfMemoryAbove(torch.nn.Module):
    """Wraps a model and fails like CUDA does when a batch is larger than ``limit``."""

    def __init__(self, model, limit):
        super().__init__()
        self.model, self.limit, self.calls = model, limit, 0

    def forward(self, x):
        self.calls += 1
        if len(x) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.model(x)


def test_out_of_memory_halves_batch_with_identical_results(model, few, caplog):
    reference = PartAttributor(model, batch_size=8).fit(few).transform(few)
    faulty = OutOfMemoryAbove(model, limit=10).eval()
    attributor = PartAttributor(faulty, batch_size=64).fit(few)
    with caplog.at_level("WARNING", logger="skpartx"):
        scores = attributor.transform(few)
    np.testing.assert_allclose(scores, reference, atol=1e-6)
    assert "batch size halved" in caplog.text


def test_estimator_conventions_clone_and_pickle(model, few):
    attributor = PartAttributor(model, method="occlusion", batch_size=32)
    assert clone(attributor).get_params()["batch_size"] == 32
    assert "model" in attributor.get_params(deep=True)
    fitted = attributor.fit(few)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.transform(few), fitted.transform(few), atol=1e-6)


def test_callers_model_is_left_in_train_mode(model, few):
    model.train()
    try:
        scores_train_mode = PartAttributor(model, method="occlusion").fit(few).transform(few)
        assert model.training, "the caller's model must keep its mode"
    finally:
        model.eval()
    scores_eval = PartAttributor(model, method="occlusion").fit(few).transform(few)
    np.testing.assert_allclose(scores_train_mode, scores_eval, atol=1e-6)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda m: PartAttributor(), ValueError, "needs the classifier"),
        (lambda m: PartAttributor("not a model"), TypeError, "torch.nn.Module"),
        (lambda m: PartAttributor(m, method="magic"), ValueError, "method"),
        (lambda m: PartAttributor(m, baseline="purple"), ValueError, "baseline='purple' is unknown"),
        (lambda m: PartAttributor(m, baseline="reference", n_references=0), ValueError, "n_references"),
    ],
)
def test_bad_parameters_fail_in_fit(model, few, make, error, match):
    with pytest.raises(error, match=match):
        make(model).fit(few)


def test_unlabelled_images_are_refused_at_transform(model, few):
    attributor = PartAttributor(model).fit(few)
    unlabelled = PartImages(few.images)
    with pytest.raises(ValueError, match="PartLabelTransfer"):
        attributor.transform(PartImages(few.images, np.full_like(few.masks, -1), few.part_names))
    with pytest.raises(ValueError, match="has parts"):
        attributor.transform(unlabelled)


def test_default_baseline_is_black_with_a_notice_of_the_change(model, few):
    with pytest.warns(FutureWarning, match=r"becomes 'blur' .* in 0\.3"):
        default = PartAttributor(model, method="occlusion").fit(few)
    assert default.get_params()["baseline"] == "warn"
    black = PartAttributor(model, method="occlusion", baseline="zero").fit(few)
    np.testing.assert_array_equal(np.asarray(default.transform(few)), np.asarray(black.transform(few)))
    announced = PartAttributor(model, method="occlusion", baseline="blur").fit(few)
    assert not np.allclose(np.asarray(announced.transform(few)), np.asarray(black.transform(few)))
    # An explicit choice is silent.
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        PartAttributor(model, method="occlusion", baseline="zero").fit(few)


def test_reference_baseline_is_the_mean_game_over_images_drawn_in_fit(model, full_X, few):
    train = full_X[:30]
    attributor = PartAttributor(model, method="shapley", baseline="reference", n_references=3, random_state=0)
    refs = attributor.fit(train).references_
    assert refs.shape == (3, *few.images.shape[1:])
    drawn = [int(np.flatnonzero([np.array_equal(r, im) for im in train.images])[0]) for r in refs]
    assert len(set(drawn)) == 3, "references are distinct images seen in fit"
    np.testing.assert_array_equal(clone(attributor).fit(train).references_, refs)
    assert len(PartAttributor(model, baseline="reference", n_references=50).fit(train).references_) == 30
    # Drawn evenly across the model's classes: one reference of each of the four.
    balanced = PartAttributor(model, baseline="reference", n_references=4, random_state=1).fit(full_X[:200])
    with torch.no_grad():
        logits = model(torch.from_numpy(balanced.references_))
    assert sorted(logits.argmax(dim=1).tolist()) == [0, 1, 2, 3]
    top_two = logits.sort(dim=1).values[:, -2:]
    assert (top_two[:, 1] - top_two[:, 0]).min() > 1e-3  # decided clearly, in any batch
    for i, explanation in enumerate(attributor.explain(few[:3])):
        # The value of a coalition is the mean over the references, and Shapley values are
        # linear in the game: the mean of the Shapley values against each reference alone.
        games = [brute_force_shapley(model, few.images[i], few.masks[i], explanation.target, r) for r in refs]
        for pid in games[0][0]:
            expected = np.mean([phi[pid] for phi, _, _ in games])
            assert explanation.scores[few.part_names[pid]] == pytest.approx(expected, abs=2e-5)
        assert explanation.empty_score == pytest.approx(np.mean([empty for _, _, empty in games]), abs=1e-5)
        assert sum(explanation.scores.values()) == pytest.approx(explanation.full_score - explanation.empty_score,
                                                                abs=2e-5)
    # The baseline report averages the class probabilities over the references.
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(refs)).double(), dim=1).mean(dim=0).numpy()
    report = attributor.baseline_report(few)
    for cls, row in report.iterrows():
        assert row["baseline_probability"] == pytest.approx(expected[cls], abs=1e-5)


def test_reference_baseline_refuses_images_of_another_size(model, full_X, few):
    attributor = PartAttributor(model, method="occlusion", baseline="reference", random_state=0).fit(full_X[:10])
    small = PartImages(few.images[:, :, :24, :24].copy(), few.masks[:, :24, :24].copy(), few.part_names)
    with pytest.raises(ValueError, match="reference images must have shape"):
        attributor.transform(small)


def test_attributor_pickled_before_reference_baselines_loads(model, few):
    fitted = PartAttributor(model, method="occlusion", baseline="mean").fit(few)
    state = fitted.__getstate__()
    del state["n_references"], state["references_"]
    restored = PartAttributor.__new__(PartAttributor)
    restored.__setstate__(pickle.loads(pickle.dumps(state)))
    assert restored.get_params()["n_references"] == 8 and restored.references_ is None
    np.testing.assert_array_equal(np.asarray(restored.transform(few)), np.asarray(fitted.transform(few)))


def test_attributor_pickled_before_budgets_loads_and_keeps_its_permutations(model, few):
    with pytest.warns(FutureWarning, match="n_samples is deprecated"):
        old = PartAttributor(model, method="shapley", baseline="zero", max_exact_parts=2, n_samples=8,
                             random_state=0).fit(few)
    state = old.__getstate__()
    del state["max_evals"], state["approximator"]
    state["max_exact_parts"], state["n_samples"] = 2, 8  # as 0.2 stored them
    restored = PartAttributor.__new__(PartAttributor)
    restored.__setstate__(pickle.loads(pickle.dumps(state)))
    assert restored.get_params()["max_evals"] == 512 and restored.get_params()["approximator"] == "adjusted"
    np.testing.assert_array_equal(np.asarray(restored.transform(few)), np.asarray(old.transform(few)))


def test_touching_parts_come_from_the_masks(model):
    masks = np.array([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, -1, 3], [2, 2, -1, 3]]])
    engine = CoalitionEngine(model, np.zeros((1, 3, 4, 4), np.float32), masks, np.zeros(1, int), 5)
    touching = engine.touching_parts([0])[0]
    expected = {(0, 1), (0, 2), (1, 3)}  # 2 and 3 are kept apart by unlabelled pixels; part 4 is absent
    assert {(i, j) for i, j in zip(*np.nonzero(np.triu(touching)))} == expected
    np.testing.assert_array_equal(touching, touching.T)
