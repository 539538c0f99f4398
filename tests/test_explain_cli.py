"""``skpartx explain`` on files written the way a user would have them."""

import json

import numpy as np
import pytest
import torch

from coco_helpers import write_user_files
from skpartx.cli import main
from skpartx.cli.explain_folder import run_explain
from skpartx.cli.inputs import load_model

pytestmark = pytest.mark.trains_in_run  # the command transfers part labels (a probe)


@pytest.fixture(scope="module")
def user_files(tmp_path_factory, data, model, test_slice):
    """An image folder (class sub-folders named in the model's output order), part labels
    for 6 images per class in a COCO file, and the model as TorchScript and as a factory."""
    root = tmp_path_factory.mktemp("user")
    idx = np.arange(test_slice.start, test_slice.start + 120)
    folders = write_user_files(root, data, model, idx, 6)
    (root / "mymodels.py").write_text("from skpartx.models import SmallCNN\n\ndef build():\n    return SmallCNN(4)\n")
    return root, folders


def test_explain_command_writes_the_report(user_files, capsys, monkeypatch):
    root, folders = user_files
    monkeypatch.chdir(root)  # the user's module sits next to their data
    out = root / "report"
    args = ["explain", "--images", str(root / "images"), "--annotations", str(root / "parts.json")]
    args += ["--model", str(root / "model.pt"), "--out", str(out), "--image-size", "40", "--quiet"]
    with pytest.raises(ValueError, match="scripted or exported model cannot expose"):
        main(args)
    # A scripted model explains itself; the transfer reads features of the same network as a module.
    args += ["--backbone", "mymodels:build", "--backbone-weights", str(root / "weights.pt")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Global rules" in printed and "report:" in printed
    report = (out / "report.html").read_text(encoding="utf-8")
    rules = json.loads((out / "rules.json").read_text(encoding="utf-8"))
    assert rules["rules"], "no rule learnt"
    for rule in rules["rules"]:
        assert rule["target"] in folders
        assert rule["text"].split(" (")[0] in report.replace("&gt;", ">")
    assert "model accuracy against the folders" in report
    # rules are measured on images they were not learnt from (a quarter, stratified)
    assert "rule fidelity (held-out)" in report and "held out: precision" in printed
    assert rules["held_out"]["n_images"] == 30 and 0.0 <= rules["held_out"]["fidelity"] <= 1.0
    assert "What the model sees in the baseline" in report and "the baseline alone keeps the model's confidence" in printed
    for figure in ("part_masks.png", "part_importance.png", "rules.png"):
        assert (out / figure).exists()


def test_factory_model_with_weights_gives_the_same_rules(user_files, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt

    root, folders = user_files
    monkeypatch.chdir(root)
    users_figure = plt.figure()
    backend, open_figures = matplotlib.get_backend(), plt.get_fignums()
    common = dict(image_size=40, verbose=False, backbone="mymodels:build", backbone_weights=str(root / "weights.pt"))
    scripted = run_explain(str(root / "images"), str(root / "parts.json"), str(root / "model.pt"), str(root / "a"), **common)
    # Writing the report leaves the caller's matplotlib alone: same backend, their figures open, none added.
    assert matplotlib.get_backend() == backend and plt.get_fignums() == open_figures
    plt.close(users_figure)
    built = run_explain(
        str(root / "images"), str(root / "parts.json"), "mymodels:build", str(root / "b"), weights=str(root / "weights.pt"),
        image_size=40, verbose=False,
    )
    np.testing.assert_array_equal(built["decisions"], scripted["decisions"])
    assert [str(r) for r in built["rules"].rules_] == [str(r) for r in scripted["rules"].rules_]


def test_exported_program_explains_itself(user_files, model, tmp_path, monkeypatch):
    from torch.export import Dim

    root, _ = user_files
    program = torch.export.export(model.eval(), (torch.zeros(2, 3, 40, 40),), dynamic_shapes={"x": {0: Dim("batch")}})
    torch.export.save(program, str(tmp_path / "model.pt2"))
    loaded = load_model(str(tmp_path / "model.pt2"))
    x = torch.rand(5, 3, 40, 40)
    torch.testing.assert_close(loaded(x), model(x))
    from skpartx import PartImages, PartLabelTransfer

    with pytest.raises(ValueError, match="scripted or exported"):
        PartLabelTransfer(backbone=loaded).fit(PartImages(np.zeros((1, 3, 40, 40)), np.zeros((1, 40, 40), int)))
    monkeypatch.chdir(root)
    result = run_explain(
        str(root / "images"), str(root / "parts.json"), str(tmp_path / "model.pt2"), str(tmp_path / "out"),
        backbone="mymodels:build", backbone_weights=str(root / "weights.pt"), image_size=40, verbose=False,
    )
    assert result["rules"].rules_


def test_class_names_file_and_bad_inputs(user_files, tmp_path, model):
    root, _ = user_files
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\nd\n")
    result = run_explain(
        str(root / "images"), str(root / "parts.json"), model, str(tmp_path / "out"),
        image_size=40, class_names=str(names), verbose=False,
    )
    assert {r.label for r in result["rules"].rules_} <= {"a", "b", "c", "d"}
    with pytest.raises(ValueError, match="neither a TorchScript file nor"):
        load_model("no_such_file.pt")
    with pytest.raises(ValueError, match="cannot find"):
        load_model("skpartx.models:NoSuchFactory")
    bad = json.loads((root / "parts.json").read_text())
    bad["images"][0]["file_name"] = "0_flyer/missing.png"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises((ValueError, FileNotFoundError), match="missing.png"):
        run_explain(str(root / "images"), str(tmp_path / "bad.json"), model, str(tmp_path / "o"), image_size=40)
