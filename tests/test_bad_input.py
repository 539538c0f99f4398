"""Every bad input gets an error (or a warning) that says what is wrong and how to fix it,
and leaves the caller's data and model as they were.

Each error case builds its inputs, calls the public API, checks the exception type and
message, then checks that none of the inputs changed. Inputs that are legitimate but
unusual (channels-last or non-contiguous tensors, a model in train mode, empty data,
one image, one part) must work, and give what the ordinary input gives.
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.attribution import score_intervention
from skpartx.datasets import make_part_shapes
from skpartx.models import SmallCNN, train_classifier

SIZE = 16
NAMES = ("background", "head", "wing")


def make_data(n=6, seed=0):
    """Random images with a head (id 1) and a wing (id 2) on a background."""
    rng = np.random.RandomState(seed)
    images = rng.rand(n, 3, SIZE, SIZE).astype(np.float32)
    masks = np.zeros((n, SIZE, SIZE), dtype=np.int32)
    masks[:, 2:7, 2:7] = 1
    masks[:, 9:14, 8:15] = 2
    return images, masks


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ctx():
    """Tiny data, a tiny untrained classifier (3 classes) and estimators fitted on them."""
    images, masks = make_data()
    X = PartImages(images, masks, NAMES)
    torch.manual_seed(0)
    model = SmallCNN(3, width=4).eval()
    partial = masks.copy()
    partial[3:] = -1
    F = np.array([[1.0, 0.2, 0.0], [0.9, 1.0, 0.1], [0.0, 0.1, 1.0], [0.1, 0.0, 0.9]])
    y = np.array([0, 0, 1, 1])
    return {
        "images": images,
        "masks": masks,
        "partial": partial,
        "X": X,
        "model": model,
        "F": F,
        "y": y,
        "attributor": PartAttributor(model, method="occlusion", device="cpu").fit(X),
        "transfer": PartLabelTransfer(backbone=model, random_state=0, device="cpu").fit(
            PartImages(images, partial, NAMES)
        ),
        "rules": GlobalRuleExplainer().fit(F, y),
    }


def snapshot(obj):
    """A comparable copy of an input: arrays and tensors by value, modules by weights and modes."""
    if isinstance(obj, torch.nn.Module):
        return (
            {k: snapshot(v) for k, v in obj.state_dict().items()},
            [m.training for m in obj.modules()],
        )
    if torch.is_tensor(obj):
        return obj.detach().clone() if not obj.is_meta else (obj.shape, obj.dtype)
    if isinstance(obj, PartImages):
        return snapshot(obj.images), snapshot(obj.masks), obj.part_names
    return copy.deepcopy(obj)


def assert_unchanged(before, after):
    if isinstance(before, torch.Tensor):
        assert torch.equal(before, after)
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(after, before)
    elif isinstance(before, dict):
        assert before.keys() == after.keys()
        for key in before:
            assert_unchanged(before[key], after[key])
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after)
        for b, a in zip(before, after):
            assert_unchanged(b, a)
    else:
        assert before == after


class ReturnsScoresDict(torch.nn.Module):
    """A dict without "logits": nothing says which entry is the logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return {"scores": self.model(x), "mean": x.mean()}


class Reshaped(torch.nn.Module):
    """Returns ``fn(logits)``: a model with the wrong output shape."""

    def __init__(self, model, fn):
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, x):
        return self.fn(self.model(x))


def with_nan(images, value=np.nan):
    bad = images.copy()
    bad[1, 0, 3, 3] = value
    return bad


# Each case: ctx -> (call, inputs); ``call()`` must raise ``error`` matching ``match`` and
# leave every object in ``inputs`` as it was.
ERROR_CASES = {
    # -- images --------------------------------------------------------------------------
    "image-rank-3": (
        lambda c: (lambda: PartImages(c["images"][0]), [c["images"]]),
        ValueError, r"shape \(N, C, H, W\).*Add a batch axis",
    ),
    "image-rank-5": (
        lambda c: (lambda: PartImages(c["images"][None]), [c["images"]]),
        ValueError, r"must have shape \(N, C, H, W\), got an array of shape \(1, 6, 3, 16, 16\)",
    ),
    "channels-last-numpy": (
        lambda c: (lambda: PartImages(c["images"].transpose(0, 2, 3, 1)), [c["images"]]),
        ValueError, r"looks channels-last.*transpose\(0, 3, 1, 2\)",
    ),
    "nan-pixel": (
        lambda c: (lambda b: (lambda: PartImages(b), [b]))(with_nan(c["images"])),
        ValueError, r"NaN or infinite values \(in 1 image\(s\), e\.g\. index 1\).*nan_to_num",
    ),
    "inf-pixel": (
        lambda c: (lambda b: (lambda: PartImages(b, c["masks"], NAMES), [b]))(with_nan(c["images"], np.inf)),
        ValueError, r"NaN or infinite values.*index 1",
    ),
    "pixels-outside-0-1": (
        lambda c: (lambda: PartImages(c["images"] * 255.0), [c["images"]]),
        ValueError, r"values in \[0, 1\].*normalisation inside the model",
    ),
    "ragged-image-list": (
        lambda c: (lambda imgs: (lambda: PartImages(imgs), imgs))([c["images"][0], c["images"][1, :, :8]]),
        ValueError, r"different shapes; resize them to one size",
    ),
    "string-pixels": (
        lambda c: (lambda: PartImages(np.full((1, 3, 4, 4), "x")), []),
        TypeError, r"must be a numeric array, got dtype <U1",
    ),
    "meta-device-images": (
        lambda c: (lambda t: (lambda: PartImages(t), [t]))(torch.empty(2, 3, 8, 8, device="meta")),
        ValueError, r"tensor on the meta device, which holds no pixels",
    ),
    # -- masks and part names ----------------------------------------------------------------
    "mask-wrong-shape": (
        lambda c: (lambda: PartImages(c["images"], c["masks"][:, :8]), [c["images"], c["masks"]]),
        ValueError, r"masks must have shape \(N, H, W\) = \(6, 16, 16\) to match the images, got \(6, 8, 16\)",
    ),
    "mask-count-mismatch": (
        lambda c: (lambda: PartImages(c["images"], c["masks"][:4]), [c["images"], c["masks"]]),
        ValueError, r"masks must have shape .* = \(6, 16, 16\)",
    ),
    "mask-float-dtype": (
        lambda c: (lambda m: (lambda: PartImages(c["images"], m), [m]))(c["masks"].astype(np.float32)),
        TypeError, r"masks must be an integer array of part ids, got dtype float32",
    ),
    "mask-bool-dtype": (
        lambda c: (lambda m: (lambda: PartImages(c["images"], m), [m]))(c["masks"] > 0),
        TypeError, r"integer array of part ids, got dtype bool",
    ),
    "mask-id-below-minus-one": (
        lambda c: (lambda m: (lambda: PartImages(c["images"], m, NAMES), [m]))(c["masks"] - 2),
        ValueError, r"part ids >= 0 and -1 for unlabelled pixels; found -2",
    ),
    "part-id-outside-part-names": (
        lambda c: (lambda: PartImages(c["images"], c["masks"], NAMES[:2]), [c["masks"]]),
        ValueError, r"part id 2, but part_names names only ids 0\.\.1; add the missing names",
    ),
    "duplicate-part-names": (
        lambda c: (lambda: PartImages(c["images"], c["masks"], ["background", "wing", "wing"]), [c["masks"]]),
        ValueError, r"part_names must be unique; repeated: \['wing'\]\. Give each part id its own name",
    ),
    "part-names-a-string": (
        lambda c: (lambda: PartImages(c["images"], c["masks"], "background"), [c["masks"]]),
        TypeError, r"sequence of strings, e\.g\. \['background'",
    ),
    "no-part-names": (
        lambda c: (lambda: PartImages(c["images"], None, []), [c["images"]]),
        ValueError, r"name at least the background",
    ),
    "index-by-float": (
        lambda c: (lambda: c["X"][np.array([0.5])], [c["X"]]),
        IndexError, r"int, a slice, an int array or a boolean mask",
    ),
    "index-second-axis": (
        lambda c: (lambda: c["X"][0, 1], [c["X"]]),
        IndexError, r"indexed along images only: X\[key\] or X\[key, \.\.\.\]",
    ),
    # -- the model -----------------------------------------------------------------------------
    "model-missing": (
        lambda c: (lambda: PartAttributor().fit(c["X"]), [c["X"]]),
        ValueError, r"needs the classifier to explain: PartAttributor\(model=your_model\)",
    ),
    "model-not-a-module": (
        lambda c: (lambda: predict_classes(lambda x: x, c["images"]), [c["images"]]),
        TypeError, r"model must be a torch\.nn\.Module, got function",
    ),
    "model-output-1d": (
        lambda c: (lambda m: (lambda: predict_classes(m, c["images"], device="cpu"), [m, c["images"]]))(
            Reshaped(c["model"], lambda z: z[:, 0])
        ),
        ValueError, r"logits of shape \(batch, n_classes\); for a batch of 6 images it returned shape \(6,\)",
    ),
    "model-output-wrong-batch": (
        lambda c: (lambda m: (lambda: PartAttributor(m, device="cpu").fit(c["X"]).transform(c["X"]), [m, c["X"]]))(
            Reshaped(c["model"], lambda z: z[:1])
        ),
        ValueError, r"logits of shape \(batch, n_classes\); for a batch of 6 images it returned shape \(1, 3\)",
    ),
    "model-output-dict-without-logits": (
        lambda c: (lambda m: (lambda: PartAttributor(m, device="cpu").fit(c["X"]).transform(c["X"]), [m, c["X"]]))(
            ReturnsScoresDict(c["model"])
        ),
        TypeError, r"must return logits \(batch, n_classes\): a tensor, an output with a \.logits tensor, a dict with "
        r"'logits', or a tuple .*; got dict\. Wrap it",
    ),
    "model-on-meta-device": (
        lambda c: (lambda m: (lambda: PartAttributor(m, device="cpu").fit(c["X"]), [m, c["X"]]))(
            SmallCNN(3, width=4).to("meta")
        ),
        ValueError, r"weights on the meta device.*to_empty\(device='cpu'\).*load_state_dict",
    ),
    "device-unknown": (
        lambda c: (lambda: PartAttributor(c["model"], device="gpu9").fit(c["X"]), [c["model"], c["X"]]),
        ValueError, r"device='gpu9' is not a valid torch device; use 'auto', 'cpu' or 'cuda'",
    ),
    # -- PartLabelTransfer -------------------------------------------------------------------
    "transfer-no-labelled-image": (
        lambda c: (lambda m: (lambda: PartLabelTransfer(backbone=c["model"]).fit(PartImages(c["images"], m, NAMES)),
                              [m, c["model"]]))(np.full_like(c["masks"], -1)),
        ValueError, r"X has no labelled image: give part masks \(ids >= 0\) for at least one image",
    ),
    "transfer-empty-X": (
        lambda c: (lambda: PartLabelTransfer(backbone=c["model"]).fit(c["X"][:0]), [c["X"]]),
        ValueError, r"no labelled image",
    ),
    "transfer-no-backbone": (
        lambda c: (lambda: PartLabelTransfer().fit(c["X"]), [c["X"]]),
        ValueError, r"needs a feature network: PartLabelTransfer\(backbone=model\)",
    ),
    "transfer-unknown-method": (
        lambda c: (lambda: PartLabelTransfer(backbone=c["model"], method="hough").fit(c["X"]), [c["X"]]),
        InvalidParameterError, r"'method' parameter of PartLabelTransfer must be a str among .*'knn'.*Got 'hough'",
    ),
    "transfer-y-wrong-length": (
        lambda c: (lambda: PartLabelTransfer(backbone=c["model"], device="cpu").fit(
            PartImages(c["images"], c["partial"], NAMES), [0, 1]), [c["partial"]]),
        ValueError, r"y must hold one class per image of X \(6\), got shape \(2,\)",
    ),
    "transfer-other-image-size": (
        lambda c: (lambda: c["transfer"].transform(PartImages(np.zeros((1, 3, 20, 20)))), [c["transfer"].matcher_]),
        ValueError, r"images of shape \(3, 20, 20\), but the transfer was fitted on \(3, 16, 16\)",
    ),
    # -- PartAttributor ------------------------------------------------------------------------
    "attributor-unknown-method": (
        lambda c: (lambda: PartAttributor(c["model"], method="lime").fit(c["X"]), [c["X"]]),
        InvalidParameterError, r"'method' parameter of PartAttributor must be a str among .*'shapley'.*Got 'lime'",
    ),
    "attributor-unknown-baseline": (
        lambda c: (lambda: PartAttributor(c["model"], baseline="purple").fit(c["X"]), [c["X"]]),
        ValueError, r"baseline='purple' is unknown; use one of \('zero', 'mean', 'blur', 'reference', 'inpaint'\), a colour, an image",
    ),
    "tau-zero": (
        lambda c: (lambda: PartAttributor(c["model"], method="msx", tau=0).fit(c["X"]), [c["X"]]),
        InvalidParameterError, r"'tau' parameter of PartAttributor must be a float in the range \(0\.0, 1\.0\]",
    ),
    "tau-above-one": (
        lambda c: (lambda: PartAttributor(c["model"], method="msx", tau=1.5).fit(c["X"]), [c["X"]]),
        InvalidParameterError, r"'tau' parameter .* range \(0\.0, 1\.0\]\. Got 1\.5",
    ),
    "baseline-image-wrong-shape": (
        lambda c: (lambda b: (lambda: PartAttributor(c["model"], baseline=b, device="cpu").fit(c["X"]).transform(
            c["X"]), [b, c["X"]]))(np.zeros((3, 8, 8), np.float32)),
        ValueError, r"a baseline image must have shape \(3, 16, 16\), got \(1, 3, 8, 8\)",
    ),
    "baseline-with-nan": (
        lambda c: (lambda b: (lambda: PartAttributor(c["model"], baseline=b, device="cpu").fit(c["X"]).transform(
            c["X"]), [b, c["X"]]))(np.full((3, SIZE, SIZE), np.nan, np.float32)),
        ValueError, r"the baseline holds NaN or infinite values; a baseline must be an image \(or colour\) in \[0, 1\]",
    ),
    "baseline-colour-wrong-length": (
        lambda c: (lambda: PartAttributor(c["model"], baseline=[0.5, 0.5], device="cpu").fit(c["X"]).transform(
            c["X"]), [c["X"]]),
        ValueError, r"a constant baseline needs 1 or 3 values, got 2",
    ),
    "attributor-empty-X": (
        lambda c: (lambda: PartAttributor(c["model"]).fit(c["X"][:0]), [c["X"]]),
        ValueError, r"X contains no image; PartAttributor\.fit needs at least one",
    ),
    "attributor-unlabelled-images": (
        lambda c: (lambda m: (lambda: c["attributor"].transform(PartImages(c["images"], m, NAMES)), [m]))(
            np.full_like(c["masks"], -1)
        ),
        ValueError, r"6 image\(s\) have no part labels .*fill the masks first, e\.g\. with PartLabelTransfer",
    ),
    "attributor-other-part-names": (
        lambda c: (lambda: c["attributor"].transform(PartImages(c["images"], c["masks"], ["bg", "a", "b"])),
                   [c["masks"]]),
        ValueError, r"X has parts \['bg', 'a', 'b'\] but the attributor was fitted on \['background', 'head', 'wing'\]",
    ),
    "explain-target-unseen-class": (
        lambda c: (lambda: c["attributor"].explain(c["X"], target=99), [c["X"]]),
        ValueError, r"target class 99 is not an output of the model, which returns 3 logits; give classes 0\.\.2",
    ),
    "explain-target-negative": (
        lambda c: (lambda: c["attributor"].explain(c["X"], target=-1), [c["X"]]),
        ValueError, r"target holds class -1; classes are the model's output indices",
    ),
    "explain-target-wrong-length": (
        lambda c: (lambda t: (lambda: c["attributor"].explain(c["X"], target=t), [t]))(np.array([0, 1])),
        ValueError, r"target must hold one class per image \(6\), got 2",
    ),
    "intervention-one-image": (
        lambda c: (lambda: score_intervention(c["model"], c["images"][:1]), [c["images"]]),
        ValueError, r"an intervention sequence needs at least two images",
    ),
    # -- GlobalRuleExplainer ---------------------------------------------------------------------
    "max-rules-zero": (
        lambda c: (lambda: GlobalRuleExplainer(max_rules=0).fit(c["F"], c["y"]), [c["F"], c["y"]]),
        InvalidParameterError, r"'max_rules' parameter of GlobalRuleExplainer must be an int in the range \[1, inf\)",
    ),
    "rules-unknown-rule-model": (
        lambda c: (lambda: GlobalRuleExplainer("magic").fit(c["F"], c["y"]), [c["F"], c["y"]]),
        ValueError, r"rule_model='magic' is unknown; use 'set_cover', 'scorecard', one of \[.*'figs'",
    ),
    "rules-unknown-binarize": (
        lambda c: (lambda: GlobalRuleExplainer(binarize="median").fit(c["F"], c["y"]), [c["F"], c["y"]]),
        InvalidParameterError, r"'binarize' parameter of GlobalRuleExplainer must be a str among",
    ),
    "rules-y-wrong-length": (
        lambda c: (lambda: GlobalRuleExplainer().fit(c["F"], c["y"][:3]), [c["F"], c["y"]]),
        ValueError, r"inconsistent numbers of samples: \[4, 3\]",
    ),
    "rules-predict-wrong-columns": (
        lambda c: (lambda f: (lambda: c["rules"].predict(f), [f]))(np.ones((2, 4))),
        ValueError, r"X has 4 features, but GlobalRuleExplainer is expecting 3 features",
    ),
    "rules-nan-scores": (
        lambda c: (lambda f: (lambda: c["rules"].predict(f), [f]))(np.full((2, 3), np.nan)),
        ValueError, r"Input X contains NaN",
    ),
    "rules-report-format": (
        lambda c: (lambda: c["rules"].report("pdf"), []),
        ValueError, r"format must be 'text', 'markdown' or 'json', got 'pdf'",
    ),
    # -- helpers ---------------------------------------------------------------------------------
    "predict-classes-single-image": (
        lambda c: (lambda: predict_classes(c["model"], c["images"][0]), [c["images"]]),
        ValueError, r"X must have shape \(N, C, H, W\).*Add a batch axis for a single image",
    ),
    "train-classifier-y-wrong-length": (
        lambda c: (lambda: train_classifier(c["images"], c["y"], epochs=1), [c["images"], c["y"]]),
        ValueError, r"y must be a 1-d array with one label per image \(6\), got shape \(4,\)",
    ),
    "make-part-shapes-too-small": (
        lambda c: (lambda: make_part_shapes(4, image_size=8), []),
        ValueError, r"image_size must be an integer >= 24, got 8",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_bad_input_raises_a_clear_error_and_mutates_nothing(ctx, case):
    make, error, match = ERROR_CASES[case]
    call, inputs = make(ctx)
    shared = [ctx["images"], ctx["masks"], ctx["partial"], ctx["F"], ctx["y"], ctx["model"]]
    before = [snapshot(obj) for obj in inputs + shared]
    with pytest.raises(error, match=match):
        call()
    for obj, copied in zip(inputs + shared, before):
        assert_unchanged(copied, snapshot(obj))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda(ctx):
    with pytest.raises(ValueError, match=r"device='cuda' was requested but CUDA is not available; use device='auto'"):
        PartAttributor(ctx["model"], device="cuda").fit(ctx["X"])


# -- warnings: the input is usable, but something in it limits the result -------------------


def test_class_without_labelled_image_warns(ctx):
    """The transfer learns from the labelled images only; a class of the model's decisions
    without one is labelled from other classes' examples, which the user should know."""
    X = PartImages(ctx["images"], ctx["partial"], NAMES)  # images 0-2 labelled
    y = np.array([0, 1, 0, 2, 2, 1])  # class 2 has no labelled image
    y_before = y.copy()
    with pytest.warns(UserWarning, match=r"no labelled image belongs to class\(es\) \[2\] of y.*Label a few images"):
        PartLabelTransfer(backbone=ctx["model"], device="cpu", random_state=0).fit(X, y)
    np.testing.assert_array_equal(y, y_before)
    with warnings.catch_warnings():  # every class labelled: silent
        warnings.simplefilter("error")
        PartLabelTransfer(backbone=ctx["model"], device="cpu", random_state=0).fit(X, [0, 1, 2, 2, 1, 0])


def test_all_background_labels_warn_and_attribution_still_works(ctx):
    background = np.zeros_like(ctx["masks"])
    background[3:] = -1
    X = PartImages(ctx["images"], background, NAMES)
    with pytest.warns(UserWarning, match=r"no labelled image shows the part\(s\) \['head', 'wing'\].*label them"):
        filled = PartLabelTransfer(backbone=ctx["model"], device="cpu", random_state=0).fit_transform(X)
    assert (filled.masks == 0).all()  # only the background was taught
    explanation = PartAttributor(ctx["model"], device="cpu").fit(filled).explain(filled[:2])
    for e in explanation:  # one player: it gets the whole difference between full and empty image
        assert e.scores["background"] == pytest.approx(e.full_score - e.empty_score, abs=1e-6)
        assert e.scores["head"] == e.scores["wing"] == 0.0


def test_unseen_classes_at_scoring_warn(ctx):
    with pytest.warns(UserWarning, match=r"y holds class\(es\) \[7\] that the rules were not fitted on"):
        fidelity = ctx["rules"].score(ctx["F"], [0, 0, 1, 7])
    assert fidelity <= 0.75  # the unseen class always counts as an error


# -- unusual but valid input works, and gives what the ordinary input gives --------------------


def test_channels_last_and_non_contiguous_tensors_give_the_contiguous_result(ctx):
    images = torch.from_numpy(ctx["images"])
    channels_last = images.contiguous(memory_format=torch.channels_last)
    non_contiguous = torch.from_numpy(np.repeat(ctx["images"], 2, axis=0))[::2]
    transposed = torch.from_numpy(ctx["images"].transpose(0, 1, 3, 2).copy()).transpose(2, 3)
    expected = ctx["attributor"].transform(ctx["X"])
    expected_classes = predict_classes(ctx["model"], ctx["images"], device="cpu")
    for tensor in (channels_last, non_contiguous, transposed):
        assert not tensor.is_contiguous()
        before = tensor.clone()
        X = PartImages(tensor, ctx["masks"], NAMES)
        np.testing.assert_array_equal(X.images, ctx["images"])
        np.testing.assert_array_equal(ctx["attributor"].transform(X), expected)
        np.testing.assert_array_equal(predict_classes(ctx["model"], tensor, device="cpu"), expected_classes)
        assert torch.equal(tensor, before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_images_on_another_device_give_the_cpu_result(ctx):
    X = PartImages(torch.from_numpy(ctx["images"]).cuda(), ctx["masks"], NAMES)
    np.testing.assert_array_equal(X.images, ctx["images"])
    np.testing.assert_array_equal(ctx["attributor"].transform(X), ctx["attributor"].transform(ctx["X"]))


class Noisy(torch.nn.Module):
    """A classifier whose train mode differs from its eval mode (dropout, batch norm)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, x):
        return self.dropout(self.model(x))


@pytest.mark.parametrize("mode", ["root", "submodule"])
def test_model_in_train_mode_is_evaluated_in_eval_mode_and_keeps_its_mode(ctx, mode):
    model = Noisy(copy.deepcopy(ctx["model"])).eval()
    if mode == "root":
        model.train()
    else:
        model.dropout.train()  # only a submodule left in train mode
    flags = [m.training for m in model.modules()]
    weights = snapshot(model)
    reference = Noisy(ctx["model"]).eval()
    X = ctx["X"]
    np.testing.assert_array_equal(predict_classes(model, X, device="cpu"), predict_classes(reference, X, device="cpu"))
    np.testing.assert_array_equal(
        PartAttributor(model, device="cpu").fit(X).transform(X),
        PartAttributor(reference, device="cpu").fit(X).transform(X),
    )
    partial = PartImages(ctx["images"], ctx["partial"], NAMES)
    np.testing.assert_array_equal(
        PartLabelTransfer(backbone=model, device="cpu", random_state=0).fit_transform(partial).masks,
        PartLabelTransfer(backbone=reference, device="cpu", random_state=0).fit_transform(partial).masks,
    )
    assert [m.training for m in model.modules()] == flags  # the caller's modes are untouched
    assert_unchanged(weights, snapshot(model))


def test_empty_part_images_flow_through_prediction_and_attribution(ctx):
    empty = ctx["X"][:0]
    assert len(empty) == 0 and empty.shape == (0, 3, SIZE, SIZE) and not empty.labelled.any()
    assert predict_classes(ctx["model"], empty, device="cpu").shape == (0,)
    scores = ctx["attributor"].transform(empty)
    assert scores.shape == (0, len(NAMES))
    frame = PartAttributor(ctx["model"], method="occlusion", device="cpu").fit(ctx["X"])
    assert list(frame.set_output(transform="pandas").transform(empty).columns) == list(NAMES)


def test_one_image_and_one_part(ctx):
    one = ctx["X"][2]
    scores = PartAttributor(ctx["model"], device="cpu").fit(one).explain(one)[0]
    assert sum(scores.scores.values()) == pytest.approx(scores.full_score - scores.empty_score, abs=1e-6)
    single = PartImages(ctx["images"][:2], np.ones_like(ctx["masks"][:2]), NAMES)  # the head covers everything
    shapley = PartAttributor(ctx["model"], device="cpu").fit(single).explain(single)
    msx = PartAttributor(ctx["model"], method="msx", device="cpu").fit(single).explain(single)
    for s, m in zip(shapley, msx):
        assert s.scores == {"background": 0.0, "head": pytest.approx(s.full_score - s.empty_score, abs=1e-6),
                            "wing": 0.0}
        assert m.msx in ([frozenset({"head"})], [frozenset()])  # the head, unless the baseline alone suffices
    filled = PartLabelTransfer(backbone=ctx["model"], device="cpu", random_state=0).fit(one).transform(ctx["X"][3:4])
    assert filled.fully_labelled and filled.masks.shape == (1, SIZE, SIZE)
    rules = GlobalRuleExplainer().fit(pd.DataFrame(ctx["F"][:1], columns=list(NAMES)), [1])
    assert rules.predict(pd.DataFrame(ctx["F"], columns=list(NAMES))).tolist() == [1, 1, 1, 1]
