"""The whole pipeline on built-in synthetic data: ``skpartx demo``."""

import hashlib
import io
import json
import logging
import os
import time

import numpy as np
import torch
from sklearn.pipeline import make_pipeline

from . import __version__
from ._part_images import UNLABELLED, PartImages
from .attribution import PartAttributor
from .counterfactual import PartCounterfactualExplainer, misclassification_report
from .datasets import make_part_shapes
from .metrics import iou_per_part, mean_iou
from .models import SmallCNN, predict_classes, train_classifier
from .report import baseline_summary, write_report_folder
from .rules import GlobalRuleExplainer
from .transfer import PartLabelTransfer

logger = logging.getLogger("skpartx")

DEMO_SETTINGS = dict(
    n_train=3000,
    n_explain=600,
    n_test=400,
    image_size=64,
    n_classes=4,
    family="disjoint",
    labelled_per_class=10,
    epochs=10,
    width=16,
    learning_rate=5e-3,
    random_state=0,
)


def default_cache_dir():
    """Where trained demo models are kept: ``$SKPARTX_CACHE`` or ``~/.cache/skpartx``."""
    return os.environ.get("SKPARTX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "skpartx"))


# The settings that decide the demo classifier's weights (the rest only decide what is explained);
# n_test counts because the training images are the first n_train of n_train + n_test generated.
MODEL_SETTINGS = ("n_train", "n_test", "image_size", "n_classes", "family", "epochs", "width", "learning_rate", "random_state")
WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")
WEIGHTS_MANIFEST = os.path.join(WEIGHTS_DIR, "demo.json")


def train_demo_classifier(images, target, settings, verbose=False):
    """Train the demo's :class:`~skpartx.models.SmallCNN` with ``settings`` (see ``DEMO_SETTINGS``)."""
    return train_classifier(
        images,
        target,
        epochs=settings["epochs"],
        width=settings["width"],
        learning_rate=settings["learning_rate"],
        random_state=settings["random_state"],
        verbose=verbose,
    )


def shipped_weights():
    """The demo classifiers shipped with the package: ``{family: entry}``.

    Each entry holds the ``settings`` it was trained with (the ``MODEL_SETTINGS`` of
    ``DEMO_SETTINGS``), its ``file`` in ``skpartx/weights``, the file's ``sha256``, and
    the ``held_out_accuracy`` it reached on freshly generated images. The weights are
    produced by ``scripts/train_demo_weights.py``.
    """
    if not os.path.exists(WEIGHTS_MANIFEST):
        return {}
    with open(WEIGHTS_MANIFEST, encoding="utf-8") as f:
        return json.load(f)["models"]


def shipped_demo_model(settings):
    """The shipped demo classifier trained with ``settings``, or ``None`` when none was.

    Raises
    ------
    ValueError
        When the shipped file does not match its recorded checksum.
    """
    wanted = {key: settings[key] for key in MODEL_SETTINGS}
    for entry in shipped_weights().values():
        if entry["settings"] == wanted:
            path = os.path.join(WEIGHTS_DIR, entry["file"])
            with open(path, "rb") as f:
                content = f.read()
            if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                raise ValueError(f"{path} does not match its checksum in {WEIGHTS_MANIFEST}; reinstall skpartx.")
            model = SmallCNN(settings["n_classes"], width=settings["width"])
            model.load_state_dict(torch.load(io.BytesIO(content), map_location="cpu", weights_only=True))
            return model.eval()
    return None


def trained_demo_model(images, target, settings, cache_dir=None, verbose=False):
    """The demo classifier for ``settings``: shipped, cached, or trained now.

    With a ``cache_dir``, the classifier shipped with the package is used when it was
    trained with the same settings, then one cached by an earlier run; otherwise it is
    trained on ``images`` and cached. With ``cache_dir=None`` it is always trained.

    Returns
    -------
    model : SmallCNN
    source : {"shipped", "cached", "trained"}
    """
    path = None
    if cache_dir is not None:
        shipped = shipped_demo_model(settings)
        if shipped is not None:
            return shipped, "shipped"
        key = repr(sorted(settings.items())) + torch.__version__ + __version__
        path = os.path.join(cache_dir, f"demo-model-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt")
        if os.path.exists(path):
            model = SmallCNN(settings["n_classes"], width=settings["width"])
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval(), "cached"
    model = train_demo_classifier(images, target, settings, verbose)
    if path is not None:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + ".tmp"
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)
    return model, "trained"


def run_demo(out_dir="skpartx-demo", cache_dir="default", verbose=True, print_fn=None, **overrides):
    """Run the whole pipeline on synthetic data, print the rules and write an HTML report.

    Steps: generate :func:`~skpartx.datasets.make_part_shapes` data; load the shipped
    :class:`~skpartx.models.SmallCNN` (or one cached, or train it: :func:`trained_demo_model`); keep part masks of
    ``labelled_per_class`` training images per class; fit the pipeline
    ``PartLabelTransfer → PartAttributor (exact Shapley, mean-colour baseline) →
    GlobalRuleExplainer`` on
    ``n_explain`` images labelled by the model's decisions; measure on ``n_test``
    held-out images.

    Parameters
    ----------
    out_dir : str or None
        Folder for ``report.html`` and the PNG figures; ``None`` writes nothing.
    cache_dir : str, "default" or None
        Model cache folder (``"default"``: :func:`default_cache_dir`); with a folder, the
        classifier shipped with the package is used when the settings are the shipped
        ones. ``None``: no cache and no shipped weights, the classifier is trained.
    verbose : bool
        Progress bars.
    print_fn : callable, default=None
        Receives each line of the summary (the command line passes ``print``); the lines
        are also logged at INFO level on the ``skpartx`` logger.
    **overrides
        Replace entries of ``DEMO_SETTINGS`` (e.g. ``n_train=1000``).

    Returns
    -------
    result : dict
        Measures (``model_accuracy``, ``transfer_miou``, ``fidelity``, ``coverage``,
        ``seconds``...), the fitted ``pipeline``, the ``rules``, the ``data`` and the
        summary ``lines``.
    """
    unknown = set(overrides) - set(DEMO_SETTINGS)
    if unknown:
        raise TypeError(f"unknown demo settings {sorted(unknown)}; known: {sorted(DEMO_SETTINGS)}.")
    s = {**DEMO_SETTINGS, **overrides}
    if cache_dir == "default":
        cache_dir = default_cache_dir()
    start = time.perf_counter()
    timings = {}

    def lap(name, since):
        timings[name] = time.perf_counter() - since
        return time.perf_counter()

    t = time.perf_counter()
    n_total = s["n_train"] + s["n_test"]
    data = make_part_shapes(
        n_total, image_size=s["image_size"], n_classes=s["n_classes"], family=s["family"], random_state=s["random_state"]
    )
    train, test = slice(0, s["n_train"]), slice(s["n_train"], n_total)
    t = lap("data", t)

    model, source = trained_demo_model(data.images[train], data.target[train], s, cache_dir, verbose)
    # The user labels a few training images per class; the rest are unlabelled (-1).
    rng = np.random.RandomState(s["random_state"])
    explain_idx = rng.permutation(s["n_train"])[: s["n_explain"]]
    # The model's decisions, on the images explained and held out (the only ones used).
    y_model = np.full(n_total, -1)
    used = np.concatenate([explain_idx, np.arange(s["n_train"], n_total)])
    y_model[used] = predict_classes(model, data.images[used])
    accuracy = float((y_model[test] == data.target[test]).mean())
    t = lap("model training" if source == "trained" else f"model ({source})", t)
    labelled_idx = np.concatenate(
        [
            [i for i in explain_idx if data.target[i] == c][: s["labelled_per_class"]]
            for c in range(s["n_classes"])
        ]
    ).astype(int)
    masks = np.full_like(data.masks, UNLABELLED)
    masks[labelled_idx] = data.masks[labelled_idx]
    X = PartImages(data.images, masks, data.part_names)
    X_explain = X[explain_idx]
    X_test = X[test]

    pipeline = make_pipeline(
        PartLabelTransfer(backbone=model, verbose=verbose),
        # Removed parts take the data's mean colour: a black fill is far from every training
        # image, and on this data it credits the body for the window it surrounds.
        PartAttributor(model=model, method="shapley", baseline="mean", verbose=verbose),
        GlobalRuleExplainer(target_names=data.target_names, binarize="fraction", candidates="subsets"),
    ).set_output(transform="pandas")
    pipeline.fit(X_explain, y_model[explain_idx])
    transfer, attributor, rules = pipeline.steps[0][1], pipeline.steps[1][1], pipeline.steps[2][1]
    t = lap("pipeline fit (transfer, attribution, rules)", t)

    X_test_filled = transfer.transform(X_test)
    truth = data.masks[test]
    transfer_miou = mean_iou(truth, X_test_filled.masks, len(data.part_names))
    part_iou = iou_per_part(truth, X_test_filled.masks, len(data.part_names))
    scores_test = attributor.transform(X_test_filled)
    verification = rules.verify(scores_test, y_model[test])
    fidelity, coverage = verification.fidelity, verification.coverage
    baseline_lines, baseline_section = baseline_summary(attributor.baseline_report(X_test_filled), data.target_names)
    t = lap("held-out evaluation", t)

    planted = "; ".join(
        f"{data.target_names[c]} = {' ∨ '.join(' ∧ '.join(term) for term in terms)}" for c, terms in data.dnf.items()
    )
    summary = {
        "model accuracy (held-out)": accuracy,
        "transfer mIoU (held-out)": transfer_miou,
        "rule fidelity (held-out)": fidelity,
        "rule coverage (held-out)": coverage,
        "rules": len(rules.rules_),
        "labelled images": len(labelled_idx),
        "explained images": s["n_explain"],
        "held-out images": s["n_test"],
    }
    lines = [
        f"skpartx {__version__} demo: {s['n_classes']} classes of synthetic part objects, "
        f"{len(labelled_idx)} labelled images, rules from {s['n_explain']} images",
        "",
        rules.report(verification=verification),
        "",
        "Baseline (held-out images):",
        *("  " + line for line in baseline_lines),
        "",
        f"Planted class rules: {planted}",
        "",
        f"model accuracy on held-out images  {accuracy:.3f}",
        f"part transfer mIoU (held-out)      {transfer_miou:.3f}",
        f"rule fidelity (held-out)           {fidelity:.3f}",
        f"rule coverage (held-out)           {coverage:.3f}",
    ]
    if out_dir is not None:
        # Why the model errs on held-out images: counterfactuals from its correct held-out images.
        counterfactuals = PartCounterfactualExplainer(model, random_state=s["random_state"], verbose=verbose)
        counterfactuals.fit(X_test_filled, data.target[test])
        misclassifications = misclassification_report(
            X_test_filled, data.target[test], y_model[test], scores_test, counterfactuals, data.target_names
        )
        t = lap("misclassification report", t)
        found = [c for examples in misclassifications.examples.values() for c in examples]
        if found:
            lines.append(
                f"misclassified held-out images      {int(misclassifications.table['images'].sum())}; counterfactuals "
                f"flip {np.mean([c.flipped for c in found]):.0%} of {len(found)} examples with "
                f"{np.mean([c.n_swapped for c in found]):.1f} swapped parts on average"
            )
        summary.update({f"IoU {name}": float(v) for name, v in zip(data.part_names, part_iou)})
        report_path = write_report_folder(
            out_dir,
            "skpartx demo: global part rules",
            X_test_filled,
            scores_test,
            y_model[test],
            rules,
            summary,
            notes=[f"Planted class rules: {planted}"],
            true_masks=data.masks[test],
            target_names=data.target_names,
            misclassifications=misclassifications,
            verification=verification,
            sections=[baseline_section],
        )
        t = lap("report", t)
        lines.append(f"report: {report_path}")
    total = time.perf_counter() - start
    lines.append("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()) + f"; total {total:.1f}s")
    for line in lines:
        logger.info(line)
        if print_fn is not None:
            print_fn(line)
    return {
        "model_accuracy": accuracy,
        "transfer_miou": transfer_miou,
        "part_iou": dict(zip(data.part_names, part_iou.tolist())),
        "fidelity": fidelity,
        "coverage": coverage,
        "seconds": total,
        "timings": timings,
        "pipeline": pipeline,
        "rules": rules,
        "data": data,
        "settings": s,
        "lines": lines,
    }
