"""The demo and the command line: a reduced run checked on its printed rules and written report."""

import os
import subprocess
import sys

import matplotlib.image as mpimg
import pytest

from skpartx.cli import QUICK_SETTINGS, main
from skpartx.cli.demo import run_demo
from skpartx.cli.demo_classifier import (
    DEMO_SETTINGS,
    MODEL_SETTINGS,
    shipped_demo_model,
    shipped_weights,
    trained_demo_model,
)
from skpartx.datasets import make_part_shapes
from skpartx.models import predict_classes

pytestmark = pytest.mark.cpu_kernels  # the demo trains a classifier or explains a shipped one


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines = []
    result = run_demo(out_dir=str(out), cache_dir=None, verbose=False, print_fn=lines.append, **QUICK_SETTINGS)
    return out, "\n".join(lines), result


@pytest.mark.trains_in_run
def test_demo_prints_rules_and_quality(demo_run):
    _, printed, result = demo_run
    assert "Global rules" in printed
    assert "transfer mIoU" in printed and "rule fidelity" in printed and "rule coverage" in printed
    for key in ("model_accuracy", "transfer_miou", "fidelity", "coverage"):
        assert 0.0 <= result[key] <= 1.0
    assert result["model_accuracy"] > 0.5
    assert result["transfer_miou"] > 0.4
    # Every fitted rule is printed, with its training and held-out figures; so is the baseline check.
    # The demo's rules are a scorecard (the 0.3 default): each rule with its points, and the card as a table.
    for rule in result["rules"].rules_:
        assert (f"{rule.label} ← {' ∧ '.join(rule.condition_strings())} ({rule.weight_string()}; "
                f"precision {rule.precision:.2f} [") in printed
    assert printed.count("; held out: precision") == len(result["rules"].rules_)
    assert "Baseline (held-out images):" in printed and "the baseline alone keeps the model's confidence for" in printed
    assert "Decision: additive: each class sums its intercept" in printed
    assert "Weights (each firing rule adds its row" in printed


@pytest.mark.trains_in_run
def test_demo_writes_report_with_rules_and_figures(demo_run):
    out, _, result = demo_run
    report = (out / "report.html").read_text(encoding="utf-8")
    for rule in result["rules"].rules_:
        assert " ∧ ".join(rule.condition_strings()) in report
    assert "transfer mIoU (held-out)" in report
    for figure in ("part_masks.png", "part_importance.png", "rules.png"):
        assert f"src='{figure}'" in report
        picture = mpimg.imread(out / figure)
        assert picture.ndim == 3 and picture.shape[0] > 200 and picture.shape[1] > 200
        assert picture.std() > 0.05  # not a blank canvas


@pytest.mark.trains_in_run
def test_model_cache_is_reused(tmp_path):
    settings = dict(QUICK_SETTINGS, n_train=300, n_explain=60, n_test=40, epochs=1)
    first = run_demo(out_dir=None, cache_dir=str(tmp_path), verbose=False, print_fn=lambda *_: None, **settings)
    assert "model training" in first["timings"]
    assert len(os.listdir(tmp_path)) == 1
    second = run_demo(out_dir=None, cache_dir=str(tmp_path), verbose=False, print_fn=lambda *_: None, **settings)
    assert "model (cached)" in second["timings"]
    assert second["model_accuracy"] == first["model_accuracy"]


def test_unknown_demo_setting_is_refused():
    with pytest.raises(TypeError, match="unknown demo settings"):
        run_demo(out_dir=None, n_trian=5)


def test_command_line_help_and_entry_point(tmp_path, monkeypatch):
    completed = subprocess.run(
        [sys.executable, "-m", "skpartx", "demo", "--help"], capture_output=True, text=True, check=True
    )
    assert "--out" in completed.stdout and "--quick" in completed.stdout
    calls = {}
    monkeypatch.setattr("skpartx.cli.demo.run_demo", lambda **kwargs: calls.update(kwargs))
    assert main(["demo", "--out", str(tmp_path), "--quick", "--no-cache", "--quiet", "--seed", "3"]) == 0
    assert calls["out_dir"] == str(tmp_path) and calls["cache_dir"] is None and calls["random_state"] == 3
    assert calls["n_train"] == QUICK_SETTINGS["n_train"] and calls["verbose"] is False
    assert calls["print_fn"] is print


def test_shipped_classifiers_reach_their_recorded_accuracy_on_fresh_images():
    shipped = shipped_weights()
    assert set(shipped) == {"disjoint", "shared"}
    for family, entry in shipped.items():
        settings = {**DEMO_SETTINGS, "family": family}
        assert entry["settings"] == {key: settings[key] for key in MODEL_SETTINGS}
        model = shipped_demo_model(settings)
        # Images of a generator seed neither training nor the recorded check used.
        fresh = make_part_shapes(400, image_size=settings["image_size"], family=family, random_state=77)
        accuracy = (predict_classes(model, fresh.images, device="cpu") == fresh.target).mean()
        # 400 images: a binomial standard error of about 0.01 at these accuracies.
        assert accuracy >= entry["held_out_accuracy"] - 0.04
        assert accuracy > 0.85  # far above chance (0.25) either way


@pytest.mark.trains_in_run
def test_demo_settings_use_the_shipped_classifier_without_training(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "skpartx.cli.demo_classifier.train_classifier", lambda *a, **k: pytest.fail("trained a shipped model")
    )
    model, source = trained_demo_model(None, None, DEMO_SETTINGS, cache_dir=str(tmp_path))
    assert source == "shipped" and not os.listdir(tmp_path)
    assert shipped_demo_model({**DEMO_SETTINGS, "random_state": 1}) is None  # other settings: trained, as before
    monkeypatch.undo()
    # With no cache (--no-cache) the training path is kept.
    settings = dict(DEMO_SETTINGS, n_train=64, image_size=32, epochs=1)
    data = make_part_shapes(64, image_size=32, random_state=0)
    assert trained_demo_model(data.images, data.target, settings, cache_dir=None)[1] == "trained"


def test_a_changed_shipped_file_is_refused(tmp_path, monkeypatch):
    entry = shipped_weights()["disjoint"]
    (tmp_path / entry["file"]).write_bytes(b"not the weights")
    monkeypatch.setattr("skpartx.cli.demo_classifier.WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="does not match its checksum"):
        shipped_demo_model(DEMO_SETTINGS)
