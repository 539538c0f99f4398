"""``skpartx compare``: what changed between two models, on your image folder and part annotations."""

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .._core.torch_utils import resolve_device
from ..attribution import PartAttributor
from ..compare import DEFAULT_MARGIN, compare_models
from ..models import predict_classes, predict_logits
from ..transfer import PartLabelTransfer
from ._lines import emit
from .explain_folder import load_networks
from .inputs import labelled_images, load_model, resolve_class_names


def run_compare(
    images: str, annotations: str, model_a: str | torch.nn.Module, model_b: str | torch.nn.Module, out_dir: str, *,
    weights_a: str | None = None, weights_b: str | None = None, backbone: str | torch.nn.Module | None = None,
    backbone_weights: str | None = None, names: Sequence[str] = ("A", "B"), image_size: int = 224,
    method: str = "shapley", baseline: str = "mean", class_names: str | None = None, margin: float = DEFAULT_MARGIN,
    alpha: float = 0.05, n_bootstrap: int = 2000, random_state: int = 0, device: str = "auto", verbose: bool = True,
    print_fn: Callable[[str], object] | None = None,
) -> dict:
    """Compare two models' global explanations on an image folder and write the comparison.

    Both models are explained on the same images, whose part masks one part transfer fills
    (fitted on the annotated images), so the comparison is paired and no difference between
    transfers enters it; see :func:`skpartx.compare.compare_models`.

    Parameters
    ----------
    images, annotations : str
        The image folder and its part annotations, as in
        :func:`~skpartx.cli.explain_folder.run_explain`.
    model_a, model_b : str or torch.nn.Module
        The reference model (A) and the model compared with it (B), of the same outputs:
        modules, or specifications for :func:`~skpartx.cli.inputs.load_model`.
    out_dir : str
        Where ``comparison.html``, ``comparison.json``, ``comparison.md`` and ``shifts.png`` go.
    backbone : str or torch.nn.Module, default=None
        Feature network of the part transfer (with ``backbone_weights``); default: model A.
        A TorchScript or exported model A cannot show its intermediate layers, so it needs one.
    names, margin, alpha, n_bootstrap
        As in :func:`~skpartx.compare.compare_models`.
    random_state : int, default=0
        Seeds the part transfer, the held-out split, the bootstrap and the attribution.
    weights_a, weights_b, backbone_weights, image_size, method, baseline, class_names, device, verbose
        See ``skpartx compare --help``.
    print_fn : callable, default=None
        Receives the printed lines: the comparison as text and the path of the written page.

    Returns
    -------
    result : dict
        ``comparison`` (the :class:`~skpartx.compare.ComparisonReport`), ``X`` (the images
        with filled part masks), ``decisions`` (of each model, by name), ``report`` (path of
        ``comparison.html``) and ``lines``.
    """
    names = tuple(str(name) for name in names)
    model_a, backbone = load_networks(model_a, weights_a, backbone, backbone_weights)
    if not isinstance(model_b, torch.nn.Module):
        model_b = load_model(model_b, weights_b)
    device = resolve_device(device)
    X, folder = labelled_images(images, annotations, image_size)
    n_outputs = _n_outputs((model_a, model_b), names, X, device)
    target_names = resolve_class_names(class_names, folder.target_names, n_outputs)

    transfer = PartLabelTransfer(backbone=backbone, device=device, verbose=verbose, random_state=random_state)
    filled = transfer.fit_transform(X)
    attributor = PartAttributor(None, method=method, baseline=baseline, device=device, verbose=verbose)
    comparison = compare_models(
        model_a, model_b, filled, attributor=attributor, names=names, target_names=target_names, margin=margin,
        alpha=alpha, n_bootstrap=n_bootstrap, random_state=random_state,
    )
    comparison.notes.append(
        f"Images from {images}, part labels of {int(X.labelled.sum())} images from {annotations}, filled by one part "
        f"transfer for both models; {method} attribution, {baseline} baseline."
    )
    path = comparison.write(out_dir)
    decisions = {name: predict_classes(model, filled, device=device) for name, model in zip(names, (model_a, model_b))}
    lines = _summary_lines(comparison, folder, target_names, decisions, path)
    emit(lines, print_fn)
    return {"comparison": comparison, "X": filled, "decisions": decisions, "report": path, "lines": lines}


def _n_outputs(models, names, X, device):
    """The models' common number of outputs; two models of different outputs cannot be compared."""
    n_outputs = [predict_logits(model, X[:1], device=device).shape[1] for model in models]
    if n_outputs[0] != n_outputs[1]:
        raise ValueError(f"model {names[0]} has {n_outputs[0]} outputs and model {names[1]} {n_outputs[1]}; "
                         "the two models must classify the same classes.")
    return n_outputs[0]


def _summary_lines(comparison, folder, target_names, decisions, path):
    """The comparison as text, each model's accuracy against the class folders (when they are its classes), the path."""
    lines = [comparison.report(), ""]
    if list(folder.target_names) == target_names:
        lines += [f"{name} accuracy against the folders: {np.mean(decided == folder.target):.3f}"
                  for name, decided in decisions.items()]
    return lines + [f"report: {path}"]
