"""The whole pipeline on built-in synthetic data: ``skpartx demo``."""

import hashlib
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


def trained_demo_model(images, target, settings, cache_dir=None, verbose=False):
    """Train the demo classifier, or load it from the cache when the same settings were trained before."""
    key = repr(sorted(settings.items())) + torch.__version__ + __version__
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = None
    if cache_dir is not None:
        path = os.path.join(cache_dir, f"demo-model-{digest}.pt")
        if os.path.exists(path):
            model = SmallCNN(settings["n_classes"], width=settings["width"])
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval(), True
    model = train_classifier(
        images,
        target,
        epochs=settings["epochs"],
        width=settings["width"],
        learning_rate=settings["learning_rate"],
        random_state=settings["random_state"],
        verbose=verbose,
    )
    if path is not None:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + ".tmp"
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)
    return model, False


def run_demo(out_dir="skpartx-demo", cache_dir="default", verbose=True, print_fn=None, **overrides):
    """Run the whole pipeline on synthetic data, print the rules and write an HTML report.

    Steps: generate :func:`~skpartx.datasets.make_part_shapes` data; train (or load from
    the cache) a :class:`~skpartx.models.SmallCNN`; keep part masks of
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
        Model cache folder (``"default"``: :func:`default_cache_dir`; ``None``: no cache).
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

    model, cached = trained_demo_model(data.images[train], data.target[train], s, cache_dir, verbose)
    y_model = predict_classes(model, data.images)
    accuracy = float((y_model[test] == data.target[test]).mean())
    t = lap("model (cached)" if cached else "model training", t)

    # The user labels a few training images per class; the rest are unlabelled (-1).
    rng = np.random.RandomState(s["random_state"])
    explain_idx = rng.permutation(s["n_train"])[: s["n_explain"]]
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
