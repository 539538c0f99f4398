"""Faults: out-of-memory errors cost time, not results; a failing model names the images it
failed on and keeps the work already done; fixed seeds give identical runs."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

import fixture_models
from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer
from skpartx.attribution._run import AttributionRun
from skpartx._engine.coalitions import CoalitionEngine
from skpartx._core.torch_utils import ModelCallError
from skpartx.datasets import make_part_shapes
from skpartx.models import predict_logits, train_classifier
from skpartx.parallel import _attribution_chunk

POISON = 0.123456789  # a pixel value no synthetic image has


pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.cpu_kernels]


@pytest.fixture(scope="module")
def shapes():
    """Twelve images and a small classifier trained well enough for non-trivial explanations (shipped)."""
    data = fixture_models.dataset("faults")
    return PartImages(data.images[:12], data.masks[:12], data.part_names), fixture_models.model("faults")


class OutOfMemoryAbove(torch.nn.Module):
    """Fails as a GPU does when a batch holds more than ``limit`` images."""

    def __init__(self, model, limit, error):
        super().__init__()
        self.model, self.limit, self.error = model, limit, error
        self.largest_run = 0

    def forward(self, x):
        if len(x) > self.limit:
            raise self.error
        self.largest_run = max(self.largest_run, len(x))
        return self.model(x)


class FailsOnPoison(torch.nn.Module):
    """Raises on any batch holding an image whose top-left pixel is ``poison`` (if set)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.poison = model, None

    def forward(self, x):
        if self.poison is not None and bool((x[:, :, 0, 0] == self.poison).all(dim=1).any()):
            raise ValueError("cannot classify a poisoned image")
        return self.model(x)


OOM_ERRORS = {
    "torch-oom": torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)"),
    "runtime-oom": RuntimeError("CUDA error: out of memory (simulated)"),
}


@pytest.mark.parametrize("error", list(OOM_ERRORS), ids=list(OOM_ERRORS))
@pytest.mark.parametrize("method", ["shapley", "msx"])
def test_out_of_memory_halves_the_batch_and_loses_nothing(shapes, method, error, caplog):
    X, model = shapes
    params = dict(method=method, max_exact_parts=3, max_evals=32, random_state=0, device="cpu")
    expected = PartAttributor(model, batch_size=4, **params).fit(X).explain(X)
    faulty = OutOfMemoryAbove(model, limit=5, error=OOM_ERRORS[error]).eval()
    with caplog.at_level(logging.WARNING, logger="skpartx"):
        got = PartAttributor(faulty, batch_size=64, **params).fit(X).explain(X)
    assert 0 < faulty.largest_run <= 5
    assert "retrying it in two halves" in caplog.text  # the full-image pass that picks the classes
    assert "batch size halved" in caplog.text  # the coalition engine
    for a, b in zip(expected, got):
        assert a.target == b.target
        assert a.n_evaluations == b.n_evaluations  # every request answered, none twice
        np.testing.assert_allclose(list(b.scores.values()), list(a.scores.values()), atol=1e-6)
        assert a.msx == b.msx


def test_engine_retries_the_failed_batch_with_identical_values(shapes, caplog):
    X, model = shapes
    rng = np.random.RandomState(0)
    requests = rng.randint(len(X), size=300)
    keep = rng.rand(300, X.n_parts) < 0.5
    targets = np.zeros(len(X), dtype=np.int64)
    # The reference runs the batches the engine ends up with (6), so the values are the same
    # bit for bit: other batch sizes may round convolutions differently.
    reference = CoalitionEngine(model, X.images, X.masks, targets, X.n_parts, batch_size=6)
    faulty = OutOfMemoryAbove(model, limit=7, error=OOM_ERRORS["torch-oom"]).eval()
    engine = CoalitionEngine(faulty, X.images, X.masks, targets, X.n_parts, batch_size=100)
    with caplog.at_level(logging.WARNING, logger="skpartx"):
        values = engine.evaluate(requests, keep)
    assert engine.batch_size == 6  # 100 -> 50 -> 25 -> 12 -> 6: halved until a batch fits
    assert caplog.text.count("batch size halved") == 4
    np.testing.assert_array_equal(values, reference.evaluate(requests, keep))
    assert engine.n_evaluations == reference.n_evaluations


def test_out_of_memory_on_a_single_image_is_raised_as_is(shapes):
    X, model = shapes
    faulty = OutOfMemoryAbove(model, limit=0, error=OOM_ERRORS["torch-oom"]).eval()
    with pytest.raises(torch.OutOfMemoryError, match="CUDA out of memory"):
        predict_logits(faulty, X, batch_size=4, device="cpu")


def chunk_files(out_dir):
    return sorted(p.name for p in Path(out_dir).glob("*/chunk-*.npz"))


def test_a_failing_batch_names_its_images_and_completed_chunks_are_kept(shapes, tmp_path, monkeypatch):
    X, model = shapes
    params = dict(method="shapley", max_exact_parts=2, max_evals=24, chunk_size=4, batch_size=2, random_state=3,
                  device="cpu")
    expected = PartAttributor(model, **params).fit(X).transform(X)

    images = X.images.copy()
    images[6, :, 0, 0] = POISON  # image 6, in the second chunk (images 4-7)
    poisoned = PartImages(images, X.masks, X.part_names)
    flaky = FailsOnPoison(model).eval()
    attributor = PartAttributor(flaky, out_dir=str(tmp_path), **params).fit(poisoned)
    attributor.model_.poison = np.float32(POISON)
    with pytest.raises(ModelCallError, match=r"raised ValueError on a batch of image\(s\) 6, 7: cannot") as info:
        attributor.transform(poisoned)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value.__cause__, ValueError)  # chained to what the model raised
    assert info.value.indices.tolist() == [6, 7]  # positions in X, not in the chunk
    assert "with out_dir set keeps the chunks it finished and, rerun, computes only the missing" in str(info.value)
    assert chunk_files(tmp_path) == ["chunk-000000.npz"]  # the first chunk was finished and kept

    # With explicit targets there is no class pass: the coalition engine's batch fails, and is named.
    with pytest.raises(ModelCallError, match=r"on a batch of image\(s\) .*6") as info:
        attributor.explain(poisoned, target=0)
    assert 6 in info.value.indices and set(info.value.indices) <= {4, 5, 6, 7}

    # Fixed, the rerun computes only the missing chunks, and gives the uninterrupted result.
    attributor.model_.poison = None
    calls = []
    original = AttributionRun.chunk
    monkeypatch.setattr(AttributionRun, "chunk", lambda self, *a: calls.append(1) or original(self, *a))
    scores = attributor.transform(poisoned)
    assert len(calls) == 2
    clean = PartAttributor(model, **params).fit(poisoned).transform(poisoned)
    np.testing.assert_array_equal(scores, clean)
    np.testing.assert_array_equal(scores[:4], expected[:4])  # the poisoned pixel only touches chunk 2


def test_a_failing_chunk_on_a_cluster_worker_names_images_by_their_position_in_X(shapes):
    X, model = shapes
    images = X.images.copy()
    images[10, :, 0, 0] = POISON
    poisoned = PartImages(images, X.masks, X.part_names)
    flaky = FailsOnPoison(model).eval()
    attributor = PartAttributor(flaky, method="occlusion", batch_size=2, chunk_size=4, device="cpu").fit(poisoned)
    attributor.model_.poison = np.float32(POISON)
    with pytest.raises(ModelCallError, match=r"image\(s\) 10, 11: cannot classify"):
        _attribution_chunk(attributor, poisoned[8:12], 0, 8)  # what each worker of transform_on_cluster runs


def test_a_failure_in_predict_classes_names_the_images(shapes):
    X, model = shapes
    images = X.images.copy()
    images[9, :, 0, 0] = POISON
    flaky = FailsOnPoison(model).eval()
    flaky.poison = np.float32(POISON)
    with pytest.raises(ModelCallError, match=r"image\(s\) 8, 9, 10, 11: cannot classify") as info:
        predict_logits(flaky, images, batch_size=4, device="cpu")
    assert isinstance(info.value.__cause__, ValueError)


def run_pipeline(X, model, y, random_state):
    """Transfer, sampled attribution, rules: the transferred masks, the scores, the rules and
    the permutation tests of a local explanation."""
    pipe = make_pipeline(
        PartLabelTransfer(backbone=model, method="probe", random_state=random_state, device="cpu"),
        PartAttributor(model, method="shapley", max_exact_parts=2, max_evals=24, random_state=random_state,
                       device="cpu"),
        GlobalRuleExplainer(min_support=1, min_precision=0.5, random_state=random_state),
    )
    pipe.fit(X, y)
    filled = pipe[0].transform(X)
    scores = pipe[:-1].transform(X)
    explanations = pipe[1].set_params(method="property_gradient", n_permutations=50).explain(filled[:4])
    return filled.masks, scores, pipe[-1].report(), explanations


@pytest.mark.trains_in_run
def test_fixed_random_state_gives_identical_runs():
    data = make_part_shapes(24, image_size=24, random_state=2)
    first = train_classifier(data.images, data.target, epochs=2, width=4, random_state=0)
    second = train_classifier(data.images, data.target, epochs=2, width=4, random_state=0)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    masks = data.masks.copy()
    masks[8:] = -1
    X = PartImages(data.images, masks, data.part_names)
    (masks_a, scores_a, report_a, local_a), (masks_b, scores_b, report_b, local_b) = (
        run_pipeline(X, first, data.target, random_state=7) for _ in range(2)
    )
    np.testing.assert_array_equal(masks_a, masks_b)
    np.testing.assert_array_equal(scores_a, scores_b)  # bit for bit
    assert report_a == report_b and "←" in report_a
    for a, b in zip(local_a, local_b):
        assert a.scores == b.scores and a.extras.keys() == b.extras.keys()
        for key in a.extras:
            assert a.extras[key].keys() == b.extras[key].keys()
            for part in a.extras[key]:
                np.testing.assert_array_equal(a.extras[key][part], b.extras[key][part])
    other = run_pipeline(X, first, data.target, random_state=8)
    assert not np.array_equal(other[1], scores_a)  # the seed matters: sampling is really seeded
