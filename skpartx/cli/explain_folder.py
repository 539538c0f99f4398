"""``skpartx explain``: global part rules for your model on your image folder and part annotations."""

from collections.abc import Callable

import numpy as np
import torch

from .._core.features import hookable
from .._core.torch_utils import resolve_device
from ..attribution import PartAttributor
from ..models import predict_classes, predict_logits
from ..report import baseline_summary, write_report_folder
from ..rules import GlobalRuleExplainer
from ..transfer import PartLabelTransfer
from ._lines import emit
from .inputs import labelled_images, load_model, resolve_class_names


def load_networks(
    model: str | torch.nn.Module,
    weights: str | None = None,
    backbone: str | torch.nn.Module | None = None,
    backbone_weights: str | None = None,
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The classifier and the feature network of the part transfer, loaded from their specifications.

    Parameters
    ----------
    model : str or torch.nn.Module
        A module, or a specification for :func:`~skpartx.cli.inputs.load_model` (with ``weights``).
    weights : str, default=None
    backbone : str or torch.nn.Module, default=None
        The feature network (with ``backbone_weights``); default: the model, which must then
        be a regular module whose intermediate layers can be read (not TorchScript or exported).
    backbone_weights : str, default=None

    Returns
    -------
    model, backbone : torch.nn.Module
    """
    if not isinstance(model, torch.nn.Module):
        model = load_model(model, weights)
    if backbone is None:
        if not hookable(model):
            raise ValueError(
                "a scripted or exported model cannot expose the intermediate layers the part transfer reads; give "
                "--backbone module:factory (and --backbone-weights) for a regular module, e.g. the same network."
            )
        return model, model
    if not isinstance(backbone, torch.nn.Module):
        backbone = load_model(backbone, backbone_weights)
    return model, backbone


def _learn_rules(scores, decisions, holdout, method, rule_model, names):
    """Rules fitted on the images not held out, and their verification on the held-out ones (or None)."""
    learn, held_out = holdout_split(decisions, holdout)
    binarize, candidates = ("msx", "observed") if method == "msx" else ("fraction", "subsets")
    rules = GlobalRuleExplainer(rule_model, binarize=binarize, candidates=candidates, target_names=names, random_state=0)
    rules.fit(scores.iloc[learn], decisions[learn])
    verification = rules.verify(scores.iloc[held_out], decisions[held_out]) if len(held_out) else None
    return rules, learn, held_out, verification


def _summary(X, folder, names, decisions, scores, rules, learn, held_out, verification):
    """The measures of the report's summary table, which the command also prints."""
    summary = {
        "images": len(X),
        "labelled images": int(X.labelled.sum()),
        "parts": len(X.part_names),
        "images the rules were learnt from": len(learn),
        "rule fidelity (learnt from)": rules.score(scores.iloc[learn], decisions[learn]),
        "rule coverage (learnt from)": rules.coverage(scores.iloc[learn], decisions[learn]),
        "rules": len(rules.rules_),
    }
    if verification is not None:
        summary.update({
            "held-out images": len(held_out),
            "rule fidelity (held-out)": verification.fidelity,
            "rule coverage (held-out)": verification.coverage,
        })
    if list(folder.target_names) == names:
        summary["model accuracy against the folders"] = float((decisions == folder.target).mean())
    return summary


def _summary_lines(rules, verification, baseline_lines, summary, path):
    lines = [rules.report(verification=verification), "", "Baseline:"] + ["  " + line for line in baseline_lines]
    lines += [""] + [f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items()]
    lines.append(f"report: {path}")
    return lines


def run_explain(
    images: str,
    annotations: str,
    model: str | torch.nn.Module,
    out_dir: str,
    *,
    weights: str | None = None,
    backbone: str | torch.nn.Module | None = None,
    backbone_weights: str | None = None,
    image_size: int = 224,
    method: str = "shapley",
    baseline: str = "blur",
    rule_model: str | object = "scorecard",
    class_names: str | None = None,
    holdout: float = 0.25,
    device: str = "auto",
    verbose: bool = True,
    print_fn: Callable[[str], object] | None = None,
) -> dict:
    """Explain a model's decisions on an image folder with global part rules and write a report.

    Parameters
    ----------
    images : str
        Folder with one sub-folder of images per class.
    annotations : str
        COCO part annotations (polygons or RLE per part) of some of those images; each
        ``file_name`` is relative to ``images``.
    model : str or torch.nn.Module
        A module, or a specification for :func:`~skpartx.cli.inputs.load_model`.
    out_dir : str
        Where ``report.html``, figures, ``rules.md`` and ``rules.json`` go.
    backbone : str or torch.nn.Module, default=None
        Feature network for the part transfer (with ``backbone_weights``); default: the
        model. A TorchScript model cannot show its intermediate layers, so it needs one.
    holdout : float in [0, 1), default=0.25
        Share of the images kept out of rule learning (stratified by the model's
        decisions, fixed seed) on which fidelity, coverage and every rule's precision and
        coverage are measured; 0 learns from and reports on all images.
    weights, backbone_weights, image_size, method, baseline, rule_model, class_names, device, verbose
        See ``skpartx explain --help``.
    print_fn : callable, default=None
        Receives the printed summary lines.

    Returns
    -------
    result : dict
        ``rules`` (the fitted GlobalRuleExplainer), ``decisions``, ``X`` (filled images),
        ``scores``, ``learn`` and ``held_out`` (image indices), ``verification`` (on the
        held-out images, or None), ``baseline`` (:meth:`PartAttributor.baseline_report`),
        ``report`` (path) and ``lines``.
    """
    model, backbone = load_networks(model, weights, backbone, backbone_weights)
    device = resolve_device(device)
    X, folder = labelled_images(images, annotations, image_size)
    decisions = predict_classes(model, X, device=device)
    n_outputs = predict_logits(model, X[:1], device=device).shape[1]
    names = resolve_class_names(class_names, folder.target_names, n_outputs)

    filled = PartLabelTransfer(backbone=backbone, device=device, verbose=verbose, random_state=0).fit_transform(X)
    attributor = PartAttributor(model, method=method, baseline=baseline, device=device, verbose=verbose,
                               random_state=0)
    scores = attributor.fit(filled).set_output(transform="pandas").transform(filled)
    baseline_report = attributor.baseline_report(filled)
    baseline_lines, baseline_section = baseline_summary(baseline_report, names)
    rules, learn, held_out, verification = _learn_rules(scores, decisions, holdout, method, rule_model, names)

    summary = _summary(X, folder, names, decisions, scores, rules, learn, held_out, verification)
    notes = [f"Images from {images}, part labels from {annotations}, {method} attribution, {baseline} baseline."]
    path = write_report_folder(
        out_dir, "skpartx: global part rules", filled, scores, decisions, rules, summary,
        notes=notes, target_names=names, verification=verification, sections=[baseline_section],
    )
    lines = _summary_lines(rules, verification, baseline_lines, summary, path)
    emit(lines, print_fn)
    return {"rules": rules, "decisions": decisions, "X": filled, "scores": scores, "learn": learn, "held_out": held_out,
            "verification": verification, "baseline": baseline_report, "report": path, "lines": lines}


def holdout_split(decisions: np.ndarray, holdout: float, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices to learn rules from and to hold out, stratified by decision where every class allows it.

    Parameters
    ----------
    decisions : array-like of shape (n_images,)
    holdout : float in [0, 1)
        Share of images held out; 0 holds out none.
    random_state : int, default=0

    Returns
    -------
    learn, held_out : ndarray of int
    """
    from sklearn.model_selection import train_test_split

    decisions = np.asarray(decisions)
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be in [0, 1), got {holdout!r}.")
    index = np.arange(len(decisions))
    if holdout == 0:
        return index, index[:0]
    _, counts = np.unique(decisions, return_counts=True)
    stratify = decisions if counts.min() >= 2 else None
    learn, held_out = train_test_split(index, test_size=holdout, random_state=random_state, stratify=stratify)
    return np.sort(learn), np.sort(held_out)
