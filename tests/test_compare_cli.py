"""``skpartx compare`` on files written the way a user would have them."""

import json

import numpy as np
import pytest

from coco_helpers import write_user_files
from skpartx.cli import main
from skpartx.cli.compare_models import run_compare

N_IMAGES = 80  # 20 per class: every class A decides often enough is tested (>= 10 images)
LABELLED_PER_CLASS = 6


@pytest.fixture(scope="module")
def user_files(tmp_path_factory, data, model, test_slice):
    """An image folder (class sub-folders named in the model's output order), part labels
    for a few images per class in a COCO file, and the model as TorchScript and as a factory
    (``compared_models:build`` with its weights; ``compared_models:three`` a network of three outputs)."""
    root = tmp_path_factory.mktemp("compare")
    idx = np.arange(test_slice.start, test_slice.start + N_IMAGES)
    folders = write_user_files(root, data, model, idx, LABELLED_PER_CLASS)
    # A module name of its own: test_explain_cli.py writes another ``mymodels.py``, and a process
    # that runs both (pytest -n) keeps the first one it imported.
    (root / "compared_models.py").write_text(
        "from skpartx.models import SmallCNN\n\ndef build():\n    return SmallCNN(4)\n\n"
        "def three():\n    return SmallCNN(3)\n"
    )
    return root, folders


def _args(root, out, *more):
    return ["compare", "--images", str(root / "images"), "--annotations", str(root / "parts.json"),
            "--out", str(out), "--image-size", "40", "--n-bootstrap", "200", "--quiet", *more]


@pytest.mark.trains_in_run
def test_compare_command_writes_the_comparison(user_files, capsys, monkeypatch):
    root, folders = user_files
    monkeypatch.chdir(root)  # the user's module sits next to their data
    out = root / "trained-vs-untrained"
    # A scripted model cannot show the part transfer its layers: the backbone is given as a module.
    args = _args(root, out, "--model-a", str(root / "model.pt"), "--model-b", "compared_models:build",
                 "--names", "trained", "untrained")
    with pytest.raises(ValueError, match="scripted or exported model cannot expose"):
        main(args)
    args += ["--backbone", "compared_models:build", "--backbone-weights", str(root / "weights.pt")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Comparison of trained and untrained: two models on the same images (paired)" in printed
    assert "Decision agreement:" in printed and "trained accuracy against the folders:" in printed
    assert f"report: {out / 'comparison.html'}" in printed
    for name in ("comparison.html", "comparison.json", "comparison.md", "shifts.png"):
        assert (out / name).stat().st_size > 0, name
    comparison = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert comparison["names"] == ["trained", "untrained"] and comparison["n_images"] == [N_IMAGES, N_IMAGES]
    assert comparison["n_bootstrap"] == 200 and set(comparison["class_names"]) <= set(folders)
    assert comparison["agreement"] < 1  # an untrained network decides otherwise
    assert any("part labels of 24 images" in note for note in comparison["notes"])
    assert any("shapley attribution, mean baseline" in note for note in comparison["notes"])
    assert (out / "comparison.md").read_text(encoding="utf-8").startswith("# Comparison of trained and untrained")


@pytest.mark.trains_in_run
def test_a_model_compared_with_itself_changes_nothing(user_files, tmp_path, monkeypatch):
    root, _ = user_files
    monkeypatch.chdir(root)
    model = ["compared_models:build", "--weights-a", str(root / "weights.pt")]
    args = _args(root, tmp_path / "same", "--model-a", model[0], *model[1:], "--model-b", "compared_models:build",
                 "--weights-b", str(root / "weights.pt"), "--margin", "0.02", "--seed", "3", "--baseline", "mean")
    assert main(args) == 0
    comparison = json.loads((tmp_path / "same" / "comparison.json").read_text(encoding="utf-8"))
    assert comparison["agreement"] == 1.0 and comparison["margin"] == 0.02
    assert comparison["names"] == ["A", "B"]
    assert not any(row["flagged"] for row in comparison["shifts"])
    assert all(row["shift"] == 0 for row in comparison["shifts"])
    assert {row["change"] for row in comparison["rules"]} <= {"kept"}


def test_bad_arguments_fail_clearly(user_files, capsys, tmp_path, monkeypatch):
    root, _ = user_files
    monkeypatch.chdir(root)
    models = ["--model-a", "compared_models:build", "--model-b", "compared_models:build"]
    for bad, message in ((["--margin", "-1"], "argument --margin: must be a number at least 0, got -1"),
                         (["--alpha", "1"], "argument --alpha: must lie strictly between 0 and 1, got 1"),
                         (["--n-bootstrap", "10"], "argument --n-bootstrap: must be at least 100"),
                         (["--names", "same", "same"], "argument --names: must be two different names")):
        with pytest.raises(SystemExit) as exit_info:
            main(_args(root, tmp_path / "never", *models, *bad))
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
    with pytest.raises(ValueError, match="model B has 4 outputs and model three 3"):
        run_compare(str(root / "images"), str(root / "parts.json"), "compared_models:build", "compared_models:three",
                    str(tmp_path / "never"), names=("B", "three"), image_size=40, verbose=False)
