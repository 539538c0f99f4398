"""Local explanations of single images in terms of their parts."""

import warnings
from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted

from .._core.cache import cached
from .._core.features import auto_layers, check_layers
from .._core.part_images import as_part_images, channel_mean, check_fitted_parts, check_images
from .._core.part_scores import as_output
from .._core.relations import part_relations, relation_names
from .._core.torch_utils import (
    TorchEstimatorMixin,
    check_module,
    document_run_parameters,
    predict_logits,
    run_constraints,
)
from .._engine import games as _games
from .._engine.approximators import exact_limit, warn_if_n_samples
from .._engine.coalitions import BASELINES, ReferenceImages, class_value
from ._explanations import LocalExplanation, local_explanations, warn_about_results
from ._methods import METHODS, REGISTRY, SETTINGS, methods_doc, settings_doc
from ._run import AttributionRunMixin

if TYPE_CHECKING:
    import pandas as pd

    from .._core.part_images import PartImages
    from .._core.part_scores import PartScoreArray

def _check_baseline(baseline):
    """Refuse unknown baseline names; warn about the default, whose meaning changes in 0.3."""
    if isinstance(baseline, str) and baseline not in (*BASELINES, "warn"):
        raise ValueError(f"baseline={baseline!r} is unknown; use one of {BASELINES}, a colour, an image or a callable.")
    if isinstance(baseline, str) and baseline == "warn":
        warnings.warn(
            "PartAttributor's default baseline is 'zero' (black) in skpartx 0.2 and becomes 'blur' (a blurred copy "
            "of the image) in 0.3: on worlds whose parts can truly be removed, blurring comes closest to the model's "
            "response to removing them, and black farthest (benchmarks/RESULTS.md); pass baseline='zero' or "
            "baseline='blur' to silence this warning.",
            FutureWarning,
            stacklevel=4,
        )


def _draw_references(model, X, n_references, random_state, device, batch_size):
    """``n_references`` images of ``X`` ``(K, C, H, W)``, drawn at random and as evenly as they
    can be across the classes ``model`` assigns them, so that the mean over them (the value
    of the empty coalition) favours no class by the luck of the draw."""
    order = check_random_state(random_state).permutation(len(X))[: 32 * n_references]
    pool = X[np.sort(order)]  # read once, in file order
    drawn_rank = np.argsort(np.argsort(order))  # where each pool image was drawn
    classes = predict_logits(model, pool, batch_size, device).argmax(axis=1)
    # Round robin over the classes, each in the order its images were drawn.
    ranked = sorted((np.sum(drawn_rank[classes == c] < drawn_rank[i]), c, i)
                    for i, c in enumerate(classes))
    picked = np.sort([i for _, _, i in ranked[:n_references]])
    return np.stack([np.asarray(pool.images[int(i)], dtype=np.float32) for i in picked])


class PartAttributor(AttributionRunMixin, TorchEstimatorMixin, TransformerMixin, BaseEstimator):
    """Score each image's parts for the model's decision on that image.

    The value of a coalition of parts is the model's softmax probability (or logit) of
    the explained class on a composite image: kept parts from the image, all other
    pixels from the baseline. Every perturbation method asks one coalition engine for
    such values (batched across images and coalitions, never the same composite twice).
    Parts absent from an image are null players and score 0.

    ``transform`` returns a ``PartScoreArray`` — an ndarray that carries its column names
    and how its numbers are read (``"msx"`` for membership codes, ``"scores"``
    otherwise), so the next step of a Pipeline knows both — or, with
    ``set_output(transform="pandas")``, a DataFrame with the encoding in
    ``attrs["skpartx_encoding"]``.

    The baseline is not neutral when the model already decides a class on the
    all-baseline image: explanations of that class then owe much to the baseline (with
    the ``"zero"`` baseline a small CNN may call a black canvas one class with 0.9
    confidence). :meth:`baseline_report` measures this per class; ``transform`` and
    :meth:`explain` warn when the all-baseline composites of at least half the images
    (``BASELINE_WARNING_SHARE``) are the same class with probability ≥ 0.9
    (``BASELINE_WARNING_PROBABILITY``), except for ``"gradcam"``, which does not use
    the baseline.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier to explain, mapping ``(B, C, H, W)`` images in [0, 1] to logits.
    method : str, default="shapley"
        One of ``METHODS`` (each reads only the parameters named with it):

{methods}
    baseline : {"zero", "mean", "blur", "reference", "inpaint"}, float, array, tensor, callable or ReferenceImages, default="warn"
        What replaces removed parts: black, the training images' mean colour, a blurred
        copy of the image, other images, what surrounds them, a constant colour, an image,
        or ``callable(images) -> images``. ``"inpaint"`` fills each removed part other
        than the background in from the pixels that remain (kept parts, the background, or
        the mean colour where the background is removed), anew for each coalition: a
        removed part leaves no hole of another colour, which a model may still read as the
        part (a window inside a body, filled with a colour, still looks like a window).
        Integrated gradients start from the mean colour with it. ``"reference"`` draws ``n_references`` of the
        images ``fit`` sees, as evenly as it can across the classes the model assigns them;
        removed parts show each of them in turn and a coalition's
        value is the mean over them (SHAP's expectation over background data): no single
        canvas stands for "nothing", so the model rarely decides a class on it, at
        ``n_references`` forward passes per coalition. A :class:`ReferenceImages` gives
        the reference images yourself. The references show their own objects wherever
        they fall: removing an image's background brings other objects in, so the
        background's value includes keeping them out, and single-model explanations may
        credit the background more than with a colour (comparisons, where both models
        see the same references, are not affected alike).
        The default ``"warn"`` is ``"zero"`` with a ``FutureWarning``: it becomes ``"blur"``
        in 0.3. On the development worlds, whose parts can truly be removed
        (``benchmarks/worlds.py``), blurring came closest to the model's response to removing
        them: median rank correlation of Shapley values with the interventional ones 0.971
        (10th percentile 0.935), against 0.963 inpainting, 0.948 the mean colour and 0.550
        black, whose composites the model often calls one class.
    output : {"probability", "logit"}, default="probability"
        The value the model is scored by. MSX sufficiency and ``baseline_sufficient`` are
        judged on probabilities either way.
    n_references : int, default=8
        Reference images of ``baseline="reference"`` (ignored otherwise).
{method_parameters}
    relations : bool, default=False
        Append, after the part scores (or codes), one 0/1 column per spatial relation
        between two parts in the image's mask ("wing above body", "window inside body",
        ...; see ``skpartx._core.relations``). :class:`GlobalRuleExplainer` turns them into
        relational symbols (a relation between two parts of the explanation).
    {run_parameters}

    Attributes
    ----------
    model_ : torch.nn.Module
        The model on ``device_`` in eval mode (a copy if the caller's had to move).
    device_ : torch.device
    part_names_ : tuple of str
        Part names seen in ``fit``; the output columns.
    mean_colour_ : ndarray of shape (C,)
        Mean colour of the training images, the ``"mean"`` baseline.
    references_ : ndarray of shape (n_references, C, H, W) or None
        The ``"reference"`` baseline's images, drawn with ``random_state`` from the
        images seen in ``fit`` (round robin over the model's classes on up to 32 ×
        ``n_references`` of them); None for other baselines.
    layer_ : str or None
        The Grad-CAM layer (``gradcam`` only).

    Examples
    --------
    >>> from skpartx import PartImages, PartAttributor
    >>> from skpartx.datasets import make_part_shapes
    >>> from skpartx.models import train_classifier
    >>> data = make_part_shapes(200, image_size=32, random_state=0)
    >>> model = train_classifier(data.images, data.target, epochs=1, random_state=0)
    >>> X = PartImages(data.images, data.masks, data.part_names)
    >>> scores = PartAttributor(model, method="occlusion", baseline="mean").fit(X).transform(X[:5])
    >>> scores.shape
    (5, 10)
    """

    _parameter_constraints = {
        "model": "no_validation",
        "method": [StrOptions(set(METHODS))],
        "baseline": "no_validation",
        "output": [StrOptions({"probability", "logit"})],
        "n_references": [Interval(Integral, 1, None, closed="left")],
        **{name: setting.constraint for name, setting in SETTINGS.items()},
        "relations": ["boolean"],
        **run_constraints("memory", "out_dir", "chunk_size", "device", "batch_size", "random_state", "verbose"),
    }

    def __init__(
        self,
        model=None,
        method="shapley",
        baseline="warn",
        *,
        output="probability",
        n_references=8,
        tau=0.9,
        beam_width=3,
        max_roots=3,
        max_successors=6,
        max_exact_parts="warn",
        max_evals=512,
        approximator="adjusted",
        n_samples="deprecated",
        n_steps=20,
        n_permutations=1000,
        layer=None,
        pooling="sum",
        relations=False,
        memory=None,
        out_dir=None,
        chunk_size=256,
        device="auto",
        batch_size=None,
        random_state=None,
        verbose=False,
    ):
        self.model = model
        self.method = method
        self.baseline = baseline
        self.output = output
        self.n_references = n_references
        self.tau = tau
        self.beam_width = beam_width
        self.max_roots = max_roots
        self.max_successors = max_successors
        self.max_exact_parts = max_exact_parts
        self.max_evals = max_evals
        self.approximator = approximator
        self.n_samples = n_samples
        self.n_steps = n_steps
        self.n_permutations = n_permutations
        self.layer = layer
        self.pooling = pooling
        self.relations = relations
        self.memory = memory
        self.out_dir = out_dir
        self.chunk_size = chunk_size
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: "PartImages", y: ArrayLike | None = None) -> "PartAttributor":
        """Prepare the model on the device; record the part names, the mean colour and, for
        ``baseline="reference"``, the reference images.

        Parameters
        ----------
        X : PartImages
            Images with part masks (after :class:`PartLabelTransfer` where labels are partial).
        y : ignored

        Returns
        -------
        self : PartAttributor
        """
        self.model_ = self._fit_module("model")
        _check_baseline(self.baseline)
        warn_if_n_samples("PartAttributor", self.n_samples, stacklevel=3)
        X = as_part_images(X)
        if len(X) == 0:
            raise ValueError("X contains no image; PartAttributor.fit needs at least one.")
        self.part_names_ = X.part_names
        self.mean_colour_ = channel_mean(X.images)
        self.references_ = None
        if isinstance(self.baseline, str) and self.baseline == "reference":
            self.references_ = _draw_references(self.model_, X, self.n_references, self.random_state, self.device_,
                                                self.batch_size)
        self.layer_ = None
        if self.method == "gradcam":
            self.layer_ = (
                check_layers(self.model_, self.layer)[0]
                if self.layer is not None
                else auto_layers(self.model_, X.images, self.device_)[-1]
            )
        return self

    def _baseline(self):
        """The baseline in use: ``baseline``, with the default ``"warn"`` read as ``"zero"``
        and ``"reference"`` as the fitted reference images."""
        if isinstance(self.baseline, str) and self.baseline == "reference":
            return ReferenceImages(self.references_)
        return self._baseline_as_given()

    def _baseline_as_given(self):
        """``baseline``, with the default ``"warn"`` read as ``"zero"`` (``"reference"`` stays a name)."""
        return "zero" if isinstance(self.baseline, str) and self.baseline == "warn" else self.baseline

    def __setstate__(self, state):
        if "part_names_" in state:  # fitted before the reference baseline existed
            state = {"references_": None, **state}
        # Fitted before budgets existed: n_samples stays, so such a pickle keeps 0.2's permutations.
        super().__setstate__({"n_references": 8, "max_evals": 512, "approximator": "adjusted", **state})

    def shapley_settings(self) -> dict:
        """How this attributor computes Shapley values, for explanations built on the same values.

        Returns
        -------
        settings : dict
            ``max_exact_parts`` (as a number: 12 for the default ``"warn"``, 0 for ``None``),
            ``max_evals``, ``approximator`` and ``n_samples`` (0.2's count of permutations
            where given, else ``None``): the keywords of
            ``skpartx._engine.shapley.shapley`` after its first arguments.
        """
        legacy = None if isinstance(self.n_samples, str) else int(self.n_samples)
        return {"max_exact_parts": exact_limit(self.max_exact_parts), "max_evals": self.max_evals,
                "approximator": self.approximator, "n_samples": legacy}

    def _check_X(self, X):
        check_is_fitted(self)
        return check_fitted_parts(X, self.part_names_, "PartAttributor", "the attributor")

    def _with_relations(self, X, scores):
        """``scores`` followed by the relation indicators of ``X``'s masks when ``relations=True``."""
        if not self.relations:
            return scores
        return np.hstack([scores, part_relations(X.masks, len(self.part_names_)).astype(np.float64)])

    def _warn(self, results, stacklevel):
        """Warn as ``transform`` and ``explain`` do; ``stacklevel`` counts from here to the user's call."""
        baseline = self._baseline_as_given()
        baseline = baseline if isinstance(baseline, str) else f"a {type(baseline).__name__}"
        # "inpaint" shows the mean canvas when nothing is kept: no remedy where "mean" is confident, nor vice versa.
        same_canvas = {"mean", "inpaint"} if baseline in ("mean", "inpaint") else {baseline}
        others = [name for name in BASELINES if name not in same_canvas]
        warn_about_results(results, baseline, others, REGISTRY[self.method].uses_baseline, stacklevel + 1)

    def _transform_output(self, X, results, stacklevel=5):
        """The part scores (then relations) of ``results`` in their container, after the call's warnings.

        The default ``stacklevel`` points the warnings at the caller of ``transform``, past
        scikit-learn's output wrapper."""
        self._warn(results, stacklevel)
        pandas = _get_output_config("transform", self)["dense"] == "pandas"
        encoding = "msx" if self.method == "msx" else "scores"
        scores = self._with_relations(X, results["scores"])
        # Column j holds part id j, so the rules find the background by its id, not its name.
        return as_output(scores, self.get_feature_names_out(), encoding, pandas, part_ids=range(len(self.part_names_)))

    def transform(self, X: "PartImages") -> "PartScoreArray | pd.DataFrame":
        """Part scores of each image's explained class (its predicted class).

        Parameters
        ----------
        X : PartImages

        Returns
        -------
        scores : PartScoreArray or DataFrame of shape (n_images, n_parts) or (n_images, n_parts + n_relations)
            Columns follow ``get_feature_names_out()``; relation indicators (0/1) follow the
            part scores when ``relations=True``. For ``method="msx"``, membership codes: bit
            ``m`` of ``scores[i, p]`` is set when part ``p`` is in image ``i``'s ``m``-th
            minimal sufficient explanation (smallest first), and a row of zeros is the
            empty MSX; :func:`~skpartx.attribution.decode_msx` reads them back as sets.
            The array (or, under ``set_output(transform="pandas")``, the DataFrame's
            ``attrs``) records the encoding: ``"msx"`` or ``"scores"``.

        Warns
        -----
        UserWarning
            When the all-baseline composites are confidently one class (see the class
            docstring), and when an image has more MSXs than the codes hold (53).
        """
        X = as_part_images(X)
        if self.memory is None:
            return self._transform_output(X, self._attribute(X))
        check_is_fitted(self)
        kept = ("scores", "targets", "baseline_probabilities", "full_probability", "msx_truncated")

        def compute():  # what the output and its warnings need, without the method's details
            return {key: value for key, value in self._attribute(X).items() if key in kept}

        return self._transform_output(X, cached(self.memory, self._fingerprint(X), compute))

    def explain(self, X: "PartImages", target: int | ArrayLike | None = None) -> list[LocalExplanation]:
        """Per-image local explanations.

        Parameters
        ----------
        X : PartImages
        target : int or array-like of shape (n_images,), default=None
            Class to explain per image; default: the model's predicted class.

        Returns
        -------
        explanations : list of LocalExplanation

        Warns
        -----
        UserWarning
            As :meth:`transform`.
        """
        results = self._attribute(X, target)
        self._warn(results, stacklevel=3)
        return local_explanations(results, self.part_names_, self.method == "msx", self.tau)

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Part names (then relation names with ``relations=True``): the columns of ``transform``."""
        check_is_fitted(self)
        names = list(self.part_names_) + (relation_names(self.part_names_) if self.relations else [])
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.method in REGISTRY and REGISTRY[self.method].stochastic
        tags.requires_fit = True
        return tags


PartAttributor.__doc__ = PartAttributor.__doc__.replace("{methods}", methods_doc()).replace(
    "{method_parameters}", settings_doc()
)
document_run_parameters(
    PartAttributor,
    ["memory", "out_dir", "chunk_size", "device", "batch_size", "random_state", "verbose"],
    notes={"memory": "Caches ``transform``.", "out_dir": "Used by ``transform`` and ``explain``.",
           "chunk_size": "A chunk shares one coalition engine and one random seed drawn from ``random_state``.",
           "batch_size": "Halved on out-of-memory."},
    items="Composites",
    random="Seed for the sampling methods and permutation tests.",
)


def score_intervention(
    model: torch.nn.Module,
    images: ArrayLike,
    target: int | None = None,
    strengths: ArrayLike | None = None,
    *,
    output: str = "probability",
    n_permutations: int = 1000,
    random_state: int | np.random.RandomState | None = None,
    device: str | torch.device = "auto",
    batch_size: int | None = None,
) -> dict:
    """Score an intervention sequence made elsewhere (e.g. with an image editor) by EPGM.

    Parameters
    ----------
    model : torch.nn.Module
    images : array-like of shape (n_steps, C, H, W)
        The image under an increasingly strong intervention, weakest first.
    target : int, default=None
        Class whose value is followed; default: the model's class on the first image.
    strengths : array-like of shape (n_steps,), default=None
        Intervention strength of each image (increasing); default: evenly spaced in [0, 1].
    output : {"probability", "logit"}, default="probability"
    n_permutations : int, default=1000
    random_state : int, RandomState instance or None, default=None
    device : str or torch.device, default="auto"
    batch_size : int, default=None

    Returns
    -------
    result : dict
        ``epgm`` (expected property gradient magnitude), ``p_value`` (two-sided
        permutation test), ``effect_size`` (the EPGM minus the permuted EPGMs' mean, over
        their standard deviation; 0 when that is 0), ``curve`` (value per step),
        ``strengths`` and ``target``.
    """
    check_module(model, "model")
    images = check_images(images, "images")
    if len(images) < 2:
        raise ValueError("an intervention sequence needs at least two images.")
    strengths = np.linspace(0.0, 1.0, len(images)) if strengths is None else np.asarray(strengths, dtype=float)
    if strengths.shape != (len(images),) or (np.diff(strengths) <= 0).any():
        raise ValueError("strengths must give one increasing value per image.")
    logits = torch.from_numpy(predict_logits(model, images, batch_size, device))
    target = int(logits[0].argmax()) if target is None else int(target)
    curve = class_value(logits, torch.full((len(logits),), target), output).numpy().astype(np.float64)
    p_values, effect_sizes = _games.permutation_test(curve, strengths, n_permutations, check_random_state(random_state))
    return {
        "epgm": float(_games.expected_gradient_magnitude(curve, strengths)),
        "p_value": float(p_values[0]),
        "effect_size": float(effect_sizes[0]),
        "curve": curve,
        "strengths": strengths,
        "target": int(target),
    }
