"""``skpartx explain``: global part rules for your model on your images and part annotations."""

import importlib
import logging
import os
import pickle
import sys
import warnings

import numpy as np
import torch

from ._features import hookable
from ._part_images import UNLABELLED, PartImages
from ._torch import resolve_device
from .attribution import PartAttributor
from .datasets import load_coco_parts, load_image_folder
from .models import predict_classes, predict_logits
from .report import baseline_summary, write_report_folder
from .rules import GlobalRuleExplainer
from .transfer import PartLabelTransfer

logger = logging.getLogger("skpartx")


def load_model(spec, weights=None):
    """A classifier from a TorchScript file or a ``package.module:factory`` specification.

    Parameters
    ----------
    spec : str
        Path of an exported program (``.pt2``, from ``torch.export.save``; export with a
        dynamic batch dimension) or of a TorchScript file (``torch.jit.save``), or
        ``module:callable`` naming a function (importable from the current directory) that
        returns a ``torch.nn.Module``.
    weights : str, default=None
        A state dict to load into the model, read with ``torch.load(weights_only=True)``
        so that no code in the file runs.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on the CPU.
    """
    if os.path.isfile(spec) and spec.endswith(".pt2"):
        model = torch.export.load(spec).module()
    elif os.path.isfile(spec):
        with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13 but still what many people ship
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(spec, map_location="cpu")
    elif ":" in spec:
        module_name, _, attribute = spec.partition(":")
        if os.getcwd() not in sys.path:  # a user's own module next to their data
            sys.path.insert(0, os.getcwd())
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot find {attribute!r} in module {module_name!r}: {exc}") from exc
        model = factory()
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module.")
    else:
        raise ValueError(f"--model {spec!r} is neither a TorchScript file nor 'module:factory'.")
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ValueError(
                f"{weights} is not a plain state dict: it refers to objects that loading would have to run code "
                "for, which skpartx refuses (weights are read with torch.load(weights_only=True)). Save the weights "
                "with torch.save(model.state_dict(), path)."
            ) from exc
        model.load_state_dict(state)
    try:
        return model.eval()
    except NotImplementedError:  # exported programs are evaluated as exported
        return model


def _class_names(class_names_file, folder_names, n_outputs):
    if class_names_file is not None:
        with open(class_names_file, encoding="utf-8") as handle:
            names = [line.strip() for line in handle if line.strip()]
        if len(names) != n_outputs:
            raise ValueError(f"{class_names_file} names {len(names)} classes; the model has {n_outputs} outputs.")
        return names
    if len(folder_names) == n_outputs:
        return list(folder_names)
    logger.warning(
        "the model has %d outputs but the image folder %d classes; classes are shown by index", n_outputs, len(folder_names)
    )
    return [f"class {k}" for k in range(n_outputs)]


def labelled_images(images, annotations, image_size):
    """The images of an image folder, with the part masks of those a COCO part file annotates."""
    folder = load_image_folder(images, image_size=image_size)
    parts = load_coco_parts(annotations, image_root=images, image_size=image_size, class_from="folder")
    position = {os.path.normpath(p): i for i, p in enumerate(folder.paths)}
    masks = np.full_like(folder.X.masks, UNLABELLED)
    for path, mask in zip(parts.paths, parts.X.masks):
        i = position.get(os.path.normpath(path))
        if i is None:
            raise ValueError(f"{annotations} annotates {path!r}, which is not an image of the folder {images}.")
        masks[i] = mask
    return PartImages(folder.X.images, masks, parts.part_names), folder


def run_explain(
    images,
    annotations,
    model,
    out_dir,
    *,
    weights=None,
    backbone=None,
    backbone_weights=None,
    image_size=224,
    method="shapley",
    baseline="mean",
    rule_model="set_cover",
    class_names=None,
    holdout=0.25,
    device="auto",
    verbose=True,
    print_fn=None,
):
    """Explain a model's decisions on an image folder with global part rules and write a report.

    Parameters
    ----------
    images : str
        Folder with one sub-folder of images per class.
    annotations : str
        COCO part annotations (polygons or RLE per part) of some of those images; each
        ``file_name`` is relative to ``images``.
    model : str or torch.nn.Module
        A module, or a specification for :func:`load_model`.
    backbone : str or torch.nn.Module, default=None
        Feature network for the part transfer (with ``backbone_weights``); default: the
        model. A TorchScript model cannot show its intermediate layers, so it needs one.
    out_dir : str
        Where ``report.html``, figures, ``rules.md`` and ``rules.json`` go.
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
    if not isinstance(model, torch.nn.Module):
        model = load_model(model, weights)
    if backbone is None:
        if not hookable(model):
            raise ValueError(
                "a scripted or exported model cannot expose the intermediate layers the part transfer reads; give "
                "--backbone module:factory (and --backbone-weights) for a regular module, e.g. the same network."
            )
        backbone = model
    elif not isinstance(backbone, torch.nn.Module):
        backbone = load_model(backbone, backbone_weights)
    device = resolve_device(device)
    X, folder = labelled_images(images, annotations, image_size)
    decisions = predict_classes(model, X, device=device)
    n_outputs = predict_logits(model, X[:1], device=device).shape[1]
    names = _class_names(class_names, folder.target_names, n_outputs)

    filled = PartLabelTransfer(backbone=backbone, device=device, verbose=verbose, random_state=0).fit_transform(X)
    attributor = PartAttributor(model, method=method, baseline=baseline, device=device, verbose=verbose)
    scores = attributor.fit(filled).set_output(transform="pandas").transform(filled)
    baseline_lines, baseline_section = baseline_summary(attributor.baseline_report(filled), names)
    learn, held_out = holdout_split(decisions, holdout)
    binarize, candidates = ("msx", "observed") if method == "msx" else ("fraction", "subsets")
    rules = GlobalRuleExplainer(rule_model, binarize=binarize, candidates=candidates, target_names=names, random_state=0)
    rules.fit(scores.iloc[learn], decisions[learn])
    verification = rules.verify(scores.iloc[held_out], decisions[held_out]) if len(held_out) else None

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
    path = write_report_folder(
        out_dir,
        "skpartx: global part rules",
        filled,
        scores,
        decisions,
        rules,
        summary,
        notes=[f"Images from {images}, part labels from {annotations}, {method} attribution, {baseline} baseline."],
        target_names=names,
        verification=verification,
        sections=[baseline_section],
    )
    lines = [rules.report(verification=verification), "", "Baseline:"] + ["  " + line for line in baseline_lines]
    lines += [""] + [f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items()]
    lines.append(f"report: {path}")
    for line in lines:
        logger.info(line)
        if print_fn is not None:
            print_fn(line)
    return {"rules": rules, "decisions": decisions, "X": filled, "scores": scores, "learn": learn, "held_out": held_out,
            "verification": verification, "baseline": attributor.baseline_report(filled), "report": path,
            "lines": lines}


def holdout_split(decisions, holdout, random_state=0):
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
