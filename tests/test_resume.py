"""Long transforms write their chunks to ``out_dir``; a killed run resumes to the uninterrupted result."""

import os
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from skpartx import PartAttributor, PartImages, PartLabelTransfer
from skpartx.attribution._run import AttributionRun
from skpartx.datasets import make_part_shapes
from skpartx.models import SmallCNN
from slow_model import SlowModel

TESTS = Path(__file__).parent

# Loads a fitted estimator, slows its model down and runs ``transform`` into ``out_dir``.
CHILD = """
import sys, joblib
estimator, X = joblib.load(sys.argv[1])
getattr(estimator, sys.argv[2]).delay = float(sys.argv[3])
estimator.set_params(out_dir=sys.argv[4]).transform(X)
"""


@pytest.fixture(scope="module")
def shapes():
    data = make_part_shapes(48, image_size=32, random_state=3)
    torch.manual_seed(0)
    model = SlowModel(SmallCNN(len(data.target_names)).eval())
    return data, model


def chunk_files(out_dir):
    return sorted(Path(out_dir).glob("*/chunk-*.npz"))


def kill_midway(tmp_path, estimator, X, module_attribute, delay, n_chunks):
    """Run ``estimator.transform(X)`` in a subprocess and kill it once some chunks are written."""
    job = tmp_path / "job.joblib"
    joblib.dump((estimator, X), job)
    out_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(job), module_attribute, str(delay), str(out_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while len(chunk_files(out_dir)) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.kill()
    _, stderr = child.communicate()
    done = len(chunk_files(out_dir))
    assert 2 <= done < n_chunks, f"the run was not interrupted midway ({done} of {n_chunks} chunks): {stderr[-2000:]}"
    return out_dir, done


def count_calls(monkeypatch, cls, name):
    calls = []
    original = getattr(cls, name)

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


def test_killed_attribution_resumes_to_the_uninterrupted_result(tmp_path, shapes, monkeypatch):
    data, model = shapes
    X = PartImages(data.images, data.masks, data.part_names)
    attributor = PartAttributor(model, method="shapley", chunk_size=4, random_state=0, device="cpu").fit(X)
    expected = attributor.transform(X)
    n_chunks = len(X) // 4

    out_dir, done = kill_midway(tmp_path, attributor, X, "model_", delay=0.25, n_chunks=n_chunks)
    calls = count_calls(monkeypatch, AttributionRun, "chunk")
    resumed = attributor.set_params(out_dir=str(out_dir)).transform(X)
    assert len(calls) == n_chunks - done  # only the missing chunks were computed
    np.testing.assert_array_equal(resumed, expected)
    # A finished run is read back without computing anything, and explain() resumes alike.
    calls.clear()
    np.testing.assert_array_equal(attributor.transform(X), expected)
    assert not calls


def test_sampled_methods_resume_bit_for_bit(tmp_path, shapes):
    data, model = shapes
    X = PartImages(data.images, data.masks, data.part_names)
    params = dict(method="shapley", max_exact_parts=2, max_evals=24, chunk_size=8, random_state=5, device="cpu")
    expected = PartAttributor(model, **params).fit(X).explain(X)
    interrupted = PartAttributor(model, out_dir=str(tmp_path), **params).fit(X)
    interrupted.explain(X[:16])  # a different call: its own run, never mixed with the next
    run = interrupted.explain(X)
    for chunk in chunk_files(tmp_path)[::2]:
        chunk.unlink()  # "lost" chunks of both runs are recomputed
    resumed = interrupted.explain(X)
    for a, b, c in zip(expected, run, resumed):
        assert a.scores == b.scores == c.scores and a.extras == b.extras == c.extras


def test_killed_transfer_resumes_and_returns_a_memory_map(tmp_path, shapes, monkeypatch):
    data, model = shapes
    masks = np.full_like(data.masks, -1)
    masks[:8] = data.masks[:8]
    X = PartImages(data.images, masks, data.part_names)
    transfer = PartLabelTransfer(backbone=model, chunk_size=5, random_state=0, device="cpu").fit(X[:8])
    expected = transfer.transform(X)
    n_chunks = -(-len(X) // 5)

    out_dir, done = kill_midway(tmp_path, transfer, X, "backbone_", delay=0.3, n_chunks=n_chunks)
    calls = count_calls(monkeypatch, PartLabelTransfer, "_fill")
    resumed = transfer.set_params(out_dir=str(out_dir)).transform(X)
    assert len(calls) == n_chunks - done
    assert isinstance(resumed.masks, np.memmap) and not resumed.masks.flags.writeable
    np.testing.assert_array_equal(resumed.masks, expected.masks)
    np.testing.assert_array_equal(resumed.masks[:8], data.masks[:8])  # given labels are kept
