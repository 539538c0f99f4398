"""Safety: files from others never run code, never reach outside their root, user strings
never become markup, and the test suite itself never reaches the network."""

import json
import os
import pickle
import socket
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skpartx
from skpartx import GlobalRuleExplainer, PartAttributor, PartImages
from skpartx.cli.inputs import labelled_images, load_model
from skpartx.datasets import load_coco_parts
from skpartx.models import SmallCNN
from skpartx.report import write_report_folder


class Payload:
    """Unpickling this runs ``os.system`` (or another callable): what an attacker's file does."""

    def __init__(self, marker, how="system"):
        self.marker, self.how = str(marker), how

    def __reduce__(self):
        if self.how == "system":
            return os.system, (f"touch {self.marker}",)
        if self.how == "exec":
            return exec, (f"open({self.marker!r}, 'w').close()",)
        if self.how == "memmap":  # would create (truncate) a file
            return np.memmap, (self.marker, "uint8", "w+", 0, (16,))
        raise ValueError(self.how)


class OwnNet(torch.nn.Module):
    """A user's own model class, defined outside skpartx."""

    def __init__(self):
        super().__init__()
        self.net = SmallCNN(2, width=4)

    def forward(self, x):
        return self.net(x)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    images = rng.rand(8, 3, 16, 16).astype(np.float32)
    masks = np.zeros((8, 16, 16), np.int32)
    masks[:, 4:12, 4:12] = 1
    X = PartImages(images, masks, ["background", "body"])
    torch.manual_seed(0)
    pipe = make_pipeline(PartAttributor(OwnNet().eval(), method="occlusion", device="cpu"), GlobalRuleExplainer())
    pipe.fit(X, np.arange(8) % 2)
    return pipe, X


# -- fitted pipelines: skpartx.load ---------------------------------------------------------------


@pytest.mark.parametrize("how, refused", [("system", "system"), ("exec", "builtins.exec")], ids=["os.system", "exec"])
@pytest.mark.parametrize("where", ["file", "inside-a-pipeline", "inside-an-object-array"])
def test_load_refuses_a_malicious_pickle_before_it_runs(tmp_path, fitted, how, refused, where):
    marker = tmp_path / "pwned"
    payload = Payload(marker, how)
    if where == "file":
        obj = payload
    elif where == "inside-a-pipeline":
        obj = fitted[0]
        obj[-1].note = {"about": [payload]}
    else:  # joblib writes object arrays as a nested pickle stream
        obj = fitted[0]
        obj[-1].note = np.array([payload, "x"], dtype=object)
    path = tmp_path / "model.joblib"
    skpartx.save(obj, path)
    if where != "file":
        del obj[-1].note
    with pytest.raises(pickle.UnpicklingError, match=rf"refers to \S*{refused}, which skpartx.load does not load.*"
                                                     r"trusted=True"):
        skpartx.load(path)
    assert not marker.exists(), "the payload ran"
    with pytest.raises(pickle.UnpicklingError, match="does not load"):
        skpartx.load(path, device="cpu")


def test_load_never_lets_a_file_create_files(tmp_path):
    marker = tmp_path / "clobbered"
    path = tmp_path / "model.joblib"
    joblib.dump(Payload(marker, "memmap"), path)
    with pytest.raises((pickle.UnpicklingError, TypeError, ValueError)):  # np.memmap is rebuilt as an ndarray
        skpartx.load(path)
    assert not marker.exists()


def test_load_rebuilds_fitted_pipelines_with_their_own_model_classes(tmp_path, fitted):
    pipe, X = fitted
    path = tmp_path / "pipe.joblib"
    skpartx.save(pipe, path)
    restored = skpartx.load(path)
    assert isinstance(restored[0].model_, OwnNet)
    np.testing.assert_array_equal(restored.predict(X), pipe.predict(X))
    np.testing.assert_array_equal(restored[0].transform(X), pipe[0].transform(X))
    memmap = np.memmap(tmp_path / "data.bin", mode="w+", dtype=np.float32, shape=(3,))
    memmap[:] = [1, 2, 3]
    skpartx.save({"values": memmap}, path)
    loaded = skpartx.load(path)["values"]  # a memmap comes back as an array in memory
    assert type(loaded) is np.ndarray and loaded.tolist() == [1, 2, 3]


def test_load_of_other_objects_needs_an_explicit_opt_in(tmp_path):
    path = tmp_path / "sqrt.joblib"
    skpartx.save(FunctionTransformer(np.sqrt), path)
    with pytest.raises(pickle.UnpicklingError, match=r"refers to numpy\.sqrt.*pass trusted=True"):
        skpartx.load(path)
    assert skpartx.load(path, trusted=True).func is np.sqrt


# -- model weights: torch.load(weights_only=True) -----------------------------------------------------


def test_weights_with_code_are_refused_and_do_not_run(tmp_path):
    marker = tmp_path / "pwned"
    weights = tmp_path / "weights.pt"
    torch.save({"linear.weight": torch.zeros(2, 2), "extra": Payload(marker)}, weights)
    with pytest.raises(ValueError, match=r"not a plain state dict.*weights_only=True.*torch\.save\(model\.state_dict"):
        load_model("torch.nn:Identity", weights=str(weights))
    assert not marker.exists()
    clean = tmp_path / "clean.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), clean)
    with pytest.raises(RuntimeError, match="Unexpected key"):  # a plain state dict is read (then matched)
        load_model("torch.nn:Identity", weights=str(clean))


def test_explain_command_refuses_malicious_weights(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    weights = tmp_path / "weights.pt"
    torch.save(Payload(marker), weights)
    from skpartx import cli

    images, annotations = coco_folder(tmp_path, ["n01/a.png"])
    argv = ["explain", "--images", str(images), "--annotations", str(annotations), "--model", "torch.nn:Identity",
            "--weights", str(weights), "--out", str(tmp_path / "report"), "--quiet"]
    with pytest.raises(ValueError, match="not a plain state dict"):
        cli.main(argv)
    assert not marker.exists() and not (tmp_path / "report").exists()


# -- annotation files: JSON only, paths inside the root ----------------------------------------------


def coco_folder(tmp_path, file_names, image_names=("n01/a.png",)):
    """An image folder with one class and a COCO part file naming ``file_names``."""
    root = tmp_path / "images"
    for name in image_names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (200, 10, 10)).save(root / name)
    coco = {
        "images": [{"id": i + 1, "file_name": n, "height": 8, "width": 8} for i, n in enumerate(file_names)],
        "categories": [{"id": 1, "name": "head", "supercategory": "object"}],
        "annotations": [
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]}
            for i in range(len(file_names))
        ],
    }
    path = tmp_path / "parts.json"
    path.write_text(json.dumps(coco))
    return root, path


def test_annotation_file_that_is_a_pickle_is_refused_unread(tmp_path):
    marker = tmp_path / "pwned"
    root, _ = coco_folder(tmp_path, [])
    evil = tmp_path / "parts.json"
    evil.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ValueError, match=r"is not a JSON file .*COCO annotations must be JSON"):
        load_coco_parts(evil, root)
    assert not marker.exists()


def test_annotations_are_parsed_without_unpickling_or_evaluating(tmp_path, monkeypatch):
    root, path = coco_folder(tmp_path, ["n01/a.png"])
    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (np, "load")):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail(f"annotations were read with {name}"))
    data = load_coco_parts(path, root, image_size=8, lazy=False)
    assert data.part_names == ("background", "head") and (data.X.masks[0] == 1).sum() == 25


@pytest.mark.parametrize(
    "name, match",
    [
        ("../outside.png", "outside"),
        ("n01/../../outside.png", "outside"),
        ("/etc/passwd", "absolute"),
        ("n01/a.png\x00.png", "NUL"),
        ("", "non-empty"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "nul-byte", "empty"],
)
def test_annotation_paths_must_stay_inside_the_root(tmp_path, name, match):
    (tmp_path / "outside.png").write_bytes(b"not read")
    root, path = coco_folder(tmp_path, [name])
    with pytest.raises(ValueError, match=match):
        load_coco_parts(path, root)
    with pytest.raises(ValueError, match=match):  # the explain command reads annotations the same way
        labelled_images(str(root), str(path), 8)


# -- HTML reports escape every user string -------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def test_report_escapes_part_class_and_other_user_strings(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.RandomState(0)
    names = ["background", SCRIPT, IMG]
    masks = np.zeros((6, 16, 16), np.int32)
    masks[:, 2:8, 2:8] = 1
    masks[:, 9:14, 9:14] = 2
    X = PartImages(rng.rand(6, 3, 16, 16).astype(np.float32), masks, names)
    scores = pd.DataFrame([[0, 1, 0], [0, 0.9, 0.1], [0, 1, 0.2], [0, 0, 1], [0, 0.1, 1], [0, 0, 0.9]], columns=names)
    decisions = np.array([0, 0, 0, 1, 1, 1])
    target_names = [f"cat {SCRIPT}", f"dog {IMG}"]
    rules = GlobalRuleExplainer(target_names=target_names).fit(scores, decisions)
    assert rules.rules_  # the report shows rules that name the parts and classes
    path = write_report_folder(
        str(tmp_path), f"title {SCRIPT}", X, scores, decisions, rules, {f"measure {IMG}": 1.0, "note": SCRIPT},
        notes=[f"from {SCRIPT}"], target_names=target_names,
    )
    page = Path(path).read_text(encoding="utf-8")
    for fragment in (rules._repr_html_(), page):
        assert "<script" not in fragment and "<img src=x" not in fragment and "onerror=\"" not in fragment
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # title, note, summary, rules, classes
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert page.count("<img ") == page.count("<figure>")  # the only images are the report's own figures
    classes = json.loads((tmp_path / "rules.json").read_text())["classes"]
    assert classes == [{"label": 0, "name": target_names[0]}, {"label": 1, "name": target_names[1]}]  # raw strings


# -- no network during the tests -------------------------------------------------------------------------------


def test_the_suite_cannot_reach_the_network():
    with pytest.raises(OSError, match=r"network access is blocked during the tests: connect to \('93\.184\.216\.34'"):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(OSError, match="network access is blocked"):
            sock.connect(("93.184.216.34", 80))
        with pytest.raises(OSError, match="network access is blocked"):
            sock.connect_ex(("8.8.8.8", 53))
    finally:
        sock.close()
    with pytest.raises(OSError, match=r"name lookup of 'example\.com' refused"):
        socket.getaddrinfo("example.com", 443)


def test_loopback_and_unix_sockets_still_work(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=5) as client:
            peer, _ = server.accept()
            client.sendall(b"ok")
            assert peer.recv(2) == b"ok"
            peer.close()
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen(1)
        client.connect(path)
