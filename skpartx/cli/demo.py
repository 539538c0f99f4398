"""The whole pipeline on built-in synthetic data: ``skpartx demo``."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline

from .. import RuleVerification, __version__
from .._core.part_images import UNLABELLED, PartImages
from ..attribution import PartAttributor
from ..counterfactual import MisclassificationReport, PartCounterfactualExplainer, misclassification_report
from ..datasets import make_part_shapes
from ..models import predict_classes
from ..report import baseline_summary, write_report_folder
from ..rules import GlobalRuleExplainer
from ..transfer import PartLabelTransfer, iou_per_part, mean_iou
from ._lines import emit
from .demo_classifier import DEMO_SETTINGS, default_cache_dir, trained_demo_model


class _Laps:
    """Seconds spent in each named step, measured from the end of the previous one."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.timings = {}

    def lap(self, name):
        self.timings[name] = time.perf_counter() - self.last
        self.last = time.perf_counter()

    def line(self):
        """The ``time:`` line of the summary, and the total seconds it reports."""
        total = time.perf_counter() - self.start
        return "time: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()) + f"; total {total:.1f}s", total


@dataclass
class _HeldOut:
    """The fitted pipeline measured on the held-out images."""

    X: PartImages  # with transferred part masks
    scores: pd.DataFrame
    verification: RuleVerification
    transfer_miou: float
    part_iou: np.ndarray
    baseline_lines: list
    baseline_section: tuple


def _demo_settings(overrides):
    unknown = set(overrides) - set(DEMO_SETTINGS)
    if unknown:
        raise TypeError(f"unknown demo settings {sorted(unknown)}; known: {sorted(DEMO_SETTINGS)}.")
    return {**DEMO_SETTINGS, **overrides}


def _demo_data(s):
    """The synthetic images, and the slices of those the classifier trains on and of the held-out ones."""
    n_total = s["n_train"] + s["n_test"]
    data = make_part_shapes(
        n_total, image_size=s["image_size"], n_classes=s["n_classes"], family=s["family"], random_state=s["random_state"]
    )
    return data, slice(0, s["n_train"]), slice(s["n_train"], n_total)


def _model_decisions(model, data, s):
    """The images to explain, and the model's decisions on them and on the held-out images (-1 elsewhere)."""
    n_total = s["n_train"] + s["n_test"]
    rng = np.random.RandomState(s["random_state"])
    explain_idx = rng.permutation(s["n_train"])[: s["n_explain"]]
    y_model = np.full(n_total, -1)
    used = np.concatenate([explain_idx, np.arange(s["n_train"], n_total)])
    y_model[used] = predict_classes(model, data.images[used])
    return explain_idx, y_model


def _user_labels(data, explain_idx, s):
    """The user labels the first ``labelled_per_class`` explained images of each class; the rest are unlabelled."""
    labelled_idx = np.concatenate(
        [
            [i for i in explain_idx if data.target[i] == c][: s["labelled_per_class"]]
            for c in range(s["n_classes"])
        ]
    ).astype(int)
    masks = np.full_like(data.masks, UNLABELLED)
    masks[labelled_idx] = data.masks[labelled_idx]
    return labelled_idx, PartImages(data.images, masks, data.part_names)


def _fit_pipeline(model, X_explain, y_explain, target_names, random_state, verbose):
    pipeline = make_pipeline(
        PartLabelTransfer(backbone=model, random_state=random_state, verbose=verbose),  # same masks every run
        # The settings chosen on the development worlds (benchmarks/RESULTS.md), the defaults of
        # 0.3: removed parts are blurred (a black fill is far from every training image, and
        # on this data credits the body for the window it surrounds), and the rules are a
        # scorecard (whole-number points per part and class).
        PartAttributor(model=model, method="shapley", baseline="blur", verbose=verbose),
        GlobalRuleExplainer("scorecard", target_names=target_names, binarize="fraction", random_state=random_state),
    ).set_output(transform="pandas")
    return pipeline.fit(X_explain, y_explain)


def _evaluate_held_out(pipeline, X_test, truth, y_test, target_names):
    transfer, attributor, rules = (step for _, step in pipeline.steps)
    filled = transfer.transform(X_test)
    n_parts = len(X_test.part_names)
    transfer_miou = mean_iou(truth, filled.masks, n_parts)
    part_iou = iou_per_part(truth, filled.masks, n_parts)
    scores = attributor.transform(filled)
    verification = rules.verify(scores, y_test)
    baseline_lines, baseline_section = baseline_summary(attributor.baseline_report(filled), target_names)
    return _HeldOut(filled, scores, verification, transfer_miou, part_iou, baseline_lines, baseline_section)


def _planted_rules(data):
    return "; ".join(
        f"{data.target_names[c]} = {' ∨ '.join(' ∧ '.join(term) for term in terms)}" for c, terms in data.dnf.items()
    )


def _summary_lines(s, n_labelled, rules, held_out, accuracy, planted):
    return [
        f"skpartx {__version__} demo: {s['n_classes']} classes of synthetic part objects, "
        f"{n_labelled} labelled images, rules from {s['n_explain']} images",
        "",
        rules.report(verification=held_out.verification),
        "",
        "Baseline (held-out images):",
        *("  " + line for line in held_out.baseline_lines),
        "",
        f"Planted class rules: {planted}",
        "",
        f"model accuracy on held-out images  {accuracy:.3f}",
        f"part transfer mIoU (held-out)      {held_out.transfer_miou:.3f}",
        f"rule fidelity (held-out)           {held_out.verification.fidelity:.3f}",
        f"rule coverage (held-out)           {held_out.verification.coverage:.3f}",
    ]


def _misclassifications(model, held_out, data, test, decisions, s, verbose):
    """Why the model errs on held-out images: counterfactuals from its correct held-out images."""
    counterfactuals = PartCounterfactualExplainer(model, random_state=s["random_state"], verbose=verbose)
    counterfactuals.fit(held_out.X, data.target[test])
    return misclassification_report(
        held_out.X, data.target[test], decisions, held_out.scores, counterfactuals, data.target_names
    )


def _misclassification_line(report: MisclassificationReport):
    """The summary line on the counterfactuals found, or None when none was."""
    found = [c for examples in report.examples.values() for c in examples]
    if not found:
        return None
    return (
        f"misclassified held-out images      {int(report.table['images'].sum())}; counterfactuals "
        f"flip {np.mean([c.flipped for c in found]):.0%} of {len(found)} examples with "
        f"{np.mean([c.n_swapped for c in found]):.1f} swapped parts on average"
    )


def _write_demo_report(out_dir, data, test, decisions, rules, summary, held_out, misclassifications, planted):
    return write_report_folder(
        out_dir,
        "skpartx demo: global part rules",
        held_out.X,
        held_out.scores,
        decisions,
        rules,
        summary,
        notes=[f"Planted class rules: {planted}"],
        true_masks=data.masks[test],
        target_names=data.target_names,
        misclassifications=misclassifications,
        verification=held_out.verification,
        sections=[held_out.baseline_section],
    )


def run_demo(
    out_dir: str | None = "skpartx-demo",
    cache_dir: str | None = "default",
    verbose: bool = True,
    print_fn: Callable[[str], object] | None = None,
    **overrides,
) -> dict:
    """Run the whole pipeline on synthetic data, print the rules and write an HTML report.

    Steps: generate :func:`~skpartx.datasets.make_part_shapes` data; load the shipped
    :class:`~skpartx.models.SmallCNN` (or one cached, or train it:
    :func:`~skpartx.cli.demo_classifier.trained_demo_model`); keep part masks of
    ``labelled_per_class`` training images per class; fit the pipeline
    ``PartLabelTransfer → PartAttributor (exact Shapley, blurred baseline) →
    GlobalRuleExplainer`` on ``n_explain`` images labelled by the model's decisions;
    measure on ``n_test`` held-out images.

    Parameters
    ----------
    out_dir : str or None
        Folder for ``report.html`` and the PNG figures; ``None`` writes nothing.
    cache_dir : str, "default" or None
        Model cache folder (``"default"``:
        :func:`~skpartx.cli.demo_classifier.default_cache_dir`); with a folder, the
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
    s = _demo_settings(overrides)
    if cache_dir == "default":
        cache_dir = default_cache_dir()
    laps = _Laps()
    data, train, test = _demo_data(s)
    laps.lap("data")

    model, source = trained_demo_model(data.images[train], data.target[train], s, cache_dir, verbose)
    explain_idx, y_model = _model_decisions(model, data, s)
    accuracy = float((y_model[test] == data.target[test]).mean())
    laps.lap("model training" if source == "trained" else f"model ({source})")

    labelled_idx, X = _user_labels(data, explain_idx, s)
    pipeline = _fit_pipeline(model, X[explain_idx], y_model[explain_idx], data.target_names, s["random_state"],
                             verbose)
    rules = pipeline.steps[-1][1]
    laps.lap("pipeline fit (transfer, attribution, rules)")

    held_out = _evaluate_held_out(pipeline, X[test], data.masks[test], y_model[test], data.target_names)
    laps.lap("held-out evaluation")

    planted = _planted_rules(data)
    lines = _summary_lines(s, len(labelled_idx), rules, held_out, accuracy, planted)
    if out_dir is not None:
        misclassifications = _misclassifications(model, held_out, data, test, y_model[test], s, verbose)
        laps.lap("misclassification report")
        line = _misclassification_line(misclassifications)
        lines += [line] if line is not None else []
        summary = _report_summary(accuracy, held_out, rules, len(labelled_idx), s, data.part_names)
        report_path = _write_demo_report(
            out_dir, data, test, y_model[test], rules, summary, held_out, misclassifications, planted
        )
        laps.lap("report")
        lines.append(f"report: {report_path}")
    time_line, total = laps.line()
    lines.append(time_line)
    emit(lines, print_fn)
    return _result(accuracy, held_out, total, laps.timings, pipeline, data, s, lines)


def _report_summary(accuracy, held_out, rules, n_labelled, s, part_names):
    """The measures of the report's summary table."""
    return {
        "model accuracy (held-out)": accuracy,
        "transfer mIoU (held-out)": held_out.transfer_miou,
        "rule fidelity (held-out)": held_out.verification.fidelity,
        "rule coverage (held-out)": held_out.verification.coverage,
        "rules": len(rules.rules_),
        "labelled images": n_labelled,
        "explained images": s["n_explain"],
        "held-out images": s["n_test"],
        **{f"IoU {name}": float(v) for name, v in zip(part_names, held_out.part_iou)},
    }


def _result(accuracy, held_out, total, timings, pipeline, data, s, lines):
    return {
        "model_accuracy": accuracy,
        "transfer_miou": held_out.transfer_miou,
        "part_iou": dict(zip(data.part_names, held_out.part_iou.tolist())),
        "fidelity": held_out.verification.fidelity,
        "coverage": held_out.verification.coverage,
        "seconds": total,
        "timings": timings,
        "pipeline": pipeline,
        "rules": pipeline.steps[-1][1],
        "data": data,
        "settings": s,
        "lines": lines,
    }
