"""Local explanations of single images in terms of their parts."""

import os
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted

from . import _games
from ._cache import cached, estimator_fingerprint
from ._chunks import ChunkedRun, concatenate_chunks, iter_chunks, json_lists
from ._coalitions import BASELINES, CoalitionEngine, class_value
from ._features import auto_layers, check_layers
from ._gradients import gradcam_part_scores, integrated_gradients_part_scores
from ._msx import search_msx
from ._part_images import PartImages, as_part_images, channel_mean, check_images, require_labelled
from ._part_scores import MAX_MSX, as_output, decode_msx, encode_msx, table_info
from ._relations import part_relations, relation_names
from ._shapley import shapley
from ._progress import progress_bar
from ._torch import (
    ModelCallError,
    TorchEstimatorMixin,
    batch_slices,
    check_module,
    prepare_module,
    read_batch,
    resolve_device,
)
from .models import predict_logits

METHODS = ("shapley", "msx", "occlusion", "keep_one", "property_gradient", "gradcam", "integrated_gradients")

# transform and explain warn when the all-baseline composites are confidently one class:
# on at least BASELINE_WARNING_SHARE of the images, the same class with a probability of
# at least BASELINE_WARNING_PROBABILITY.
BASELINE_WARNING_PROBABILITY = 0.9
BASELINE_WARNING_SHARE = 0.5
# Methods whose scores do not use the baseline, and so never warn about it.
_BASELINE_FREE = ("gradcam",)
# Part of every cache and out_dir key: results of an older layout are never reused.
_RESULT_LAYOUT = 2
# Per-image results that are not method details (explain's ``extras``).
_COMMON_RESULTS = ("scores", "full", "empty", "targets", "evaluations", "baseline_probabilities",
                   "full_probability", "msx", "msx_truncated")


@dataclass
class LocalExplanation:
    """The explanation of one image's explained class in terms of its parts.

    Attributes
    ----------
    target : int
        The explained class.
    full_score : float
        Model value (probability or logit) on the full image.
    empty_score : float
        Model value with every part replaced by the baseline.
    scores : dict of str to float
        Part name → score of the method; parts absent from the image score 0. For
        ``method="msx"``: the share of the image's MSXs that contain the part (see
        :func:`~skpartx.attribution.msx_part_shares`).
    msx : list of frozenset of str
        Minimal sufficient explanations (``method="msx"``; empty for other methods),
        smallest first: the ``m``-th is bit ``m`` of the membership codes ``transform``
        returns. ``[frozenset()]`` when the baseline alone is sufficient.
    extras : dict
        Method-specific details, each a dict by part name: ``"standard_errors"`` (sampled
        Shapley); ``"p_values"``, ``"effect_sizes"`` and ``"curves"`` (property gradients).
    n_evaluations : int
        Model evaluations of composites this image needed (each distinct one once; one
        all-baseline composite shared by several images counts for the first of them).
    baseline_probabilities : ndarray of shape (n_classes,)
        The model's softmax over all classes on the image's all-baseline composite (every
        part replaced by the baseline; unlabelled pixels, if any, stay). If it already
        favours a class confidently, explanations of that class owe much to the baseline.
    baseline_sufficient : bool
        Whether the baseline alone keeps at least ``tau`` × the full image's probability
        of the explained class. Judged on probabilities whatever ``output``, with the
        attributor's ``tau`` for every method (for ``"msx"``: the empty MSX). True means
        the baseline is not neutral for this class: no part is needed to keep the decision.
    """

    target: int
    full_score: float
    empty_score: float
    scores: dict
    msx: list = field(default_factory=list)
    extras: dict = field(default_factory=dict)
    n_evaluations: int = 0
    # An array would make == between explanations ambiguous; baseline_sufficient is compared.
    baseline_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False)
    baseline_sufficient: bool = False

    def top_parts(self, k=3):
        """The ``k`` highest-scoring part names, best first."""
        return [name for name, _ in sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]]


def msx_part_shares(F):
    """Share of each image's minimal sufficient explanations that contain each part.

    ``PartAttributor(method="msx").transform`` returns membership codes, which say which
    parts form which MSX (see :func:`decode_msx`); this is the per-part number to use
    where one score per part is needed (rankings, deletion curves, bar charts). An image
    whose only MSX is empty (the baseline alone suffices) has shares of 0.

    Parameters
    ----------
    F : array-like or DataFrame of shape (n_images, n_parts)
        Membership codes of the parts. With ``relations=True`` leave out the relation
        columns that follow the parts, e.g. ``F[:, :n_parts]``.

    Returns
    -------
    shares : ndarray or DataFrame of shape (n_images, n_parts)
        A DataFrame when ``F`` is one (same index and columns), else an array that keeps
        ``F``'s column names; both marked as plain scores.

    Examples
    --------
    >>> import numpy as np
    >>> from skpartx.attribution import msx_part_shares
    >>> codes = np.array([[0, 1, 3, 2], [0, 0, 0, 0]])  # MSXs {1, 2} and {2, 3}; the empty MSX
    >>> msx_part_shares(codes)
    PartScoreArray([[0. , 0.5, 1. , 0.5],
                    [0. , 0. , 0. , 0. ]])
    """
    names, encoding = table_info(F)
    if encoding not in (None, "msx"):
        raise ValueError(f"F holds {encoding!r}, not MSX membership codes; msx_part_shares reads method='msx' output.")
    sets = decode_msx(F)
    shares = np.zeros(np.shape(F), dtype=np.float64)
    for i, image_sets in enumerate(sets):
        for members in image_sets:
            shares[i, list(members)] += 1.0 / len(image_sets)
    if isinstance(F, pd.DataFrame):
        return as_output(shares, F.columns, "scores", pandas=True).set_axis(F.index)
    return as_output(shares, names, "scores")


# -- methods: each maps (engine, present parts, estimator, rng) to scores and extras ---------


def _shapley(engine, present, estimator, rng):
    """Exact Shapley over each image's present parts, permutation sampling beyond ``max_exact_parts``."""
    scores, errors = shapley(engine, present, estimator.max_exact_parts, estimator.n_samples, rng)
    return scores, {"standard_errors": errors}


def _msx(engine, present, estimator, rng):
    """Membership codes of each image's minimal sufficient explanations (see :func:`decode_msx`)."""
    found = search_msx(
        engine, present, estimator.tau, estimator.beam_width, estimator.max_roots, estimator.max_successors
    )
    codes, _ = encode_msx(found, present.shape[1])
    return codes, {"msx": found, "msx_truncated": np.array([len(sets) > MAX_MSX for sets in found], dtype=bool)}


def _single_part_coalitions(present, drop):
    """For every present part, the coalition without it (``drop``) or with only it."""
    image_idx, part_idx = np.nonzero(present)
    if drop:
        keep = present[image_idx].copy()
        keep[np.arange(len(part_idx)), part_idx] = False
    else:
        keep = np.zeros((len(part_idx), present.shape[1]), dtype=bool)
        keep[np.arange(len(part_idx)), part_idx] = True
    return image_idx, part_idx, keep


def _occlusion(engine, present, estimator, rng):
    """Drop in value when a single part is replaced by the baseline."""
    full, _ = engine.full_and_empty()
    image_idx, part_idx, keep = _single_part_coalitions(present, drop=True)
    scores = np.zeros(present.shape)
    scores[image_idx, part_idx] = full[image_idx] - engine.evaluate(image_idx, keep)
    return scores, {}


def _keep_one(engine, present, estimator, rng):
    """Value with only one part kept, relative to the value with no part kept."""
    _, empty = engine.full_and_empty()
    image_idx, part_idx, keep = _single_part_coalitions(present, drop=False)
    scores = np.zeros(present.shape)
    scores[image_idx, part_idx] = engine.evaluate(image_idx, keep) - empty[image_idx]
    return scores, {}


def _property_gradient(engine, present, estimator, rng):
    """EPGM of each part faded to the baseline in ``n_steps``, with permutation p-values and effect sizes."""
    strengths = np.linspace(0.0, 1.0, estimator.n_steps)
    image_idx, part_idx = np.nonzero(present)
    # keep[m, k] = present parts, with part m's share lowered to 1 - strength k.
    keep = np.repeat(present[image_idx].astype(np.float32)[:, None, :], len(strengths), axis=1)
    keep[np.arange(len(part_idx)), :, part_idx] = 1.0 - strengths
    curves = engine.evaluate(np.repeat(image_idx, len(strengths)), keep.reshape(-1, present.shape[1]))
    curves = curves.reshape(len(part_idx), len(strengths))
    scores = np.zeros(present.shape)
    p_values = np.ones(present.shape)
    effect_sizes = np.zeros(present.shape)
    all_curves = np.zeros(present.shape + (len(strengths),))
    scores[image_idx, part_idx] = _games.expected_gradient_magnitude(curves, strengths)
    if len(curves):
        p_values[image_idx, part_idx], effect_sizes[image_idx, part_idx] = _games.permutation_test(
            curves, strengths, estimator.n_permutations, rng
        )
    all_curves[image_idx, part_idx] = curves
    return scores, {"p_values": p_values, "effect_sizes": effect_sizes, "curves": all_curves}


def _gradcam(engine, present, estimator, rng):
    return gradcam_part_scores(engine, estimator.layer_, estimator.pooling), {}


def _integrated_gradients(engine, present, estimator, rng):
    return integrated_gradients_part_scores(engine, estimator.n_steps, estimator.pooling), {}


_METHOD_FUNCTIONS = {
    "shapley": _shapley,
    "msx": _msx,
    "occlusion": _occlusion,
    "keep_one": _keep_one,
    "property_gradient": _property_gradient,
    "gradcam": _gradcam,
    "integrated_gradients": _integrated_gradients,
}


class PartAttributor(TorchEstimatorMixin, TransformerMixin, BaseEstimator):
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
        - ``"shapley"``: Shapley values, exact over all coalitions of an image's parts up
          to ``max_exact_parts`` parts, antithetic permutation sampling beyond
          (``n_samples`` orders), with standard errors in :meth:`explain`.
        - ``"msx"``: minimal sufficient explanations (SAG/GEPC) — sets of parts that alone
          keep at least ``tau`` × the full image's probability of the class (judged on
          probabilities whatever ``output``) and from which no part can be dropped, found
          by beam search; no listed MSX contains another. ``transform`` returns
          *membership codes*: bit ``m`` of ``F[i, p]`` is set when part ``p`` is in image
          ``i``'s ``m``-th MSX (smallest first; at most 53 per image, more warn); a row of
          zeros is the empty MSX (the baseline alone keeps the value). Read them with
          :func:`~skpartx.attribution.decode_msx`; :func:`~skpartx.attribution.msx_part_shares`
          gives each part's share of the MSXs.
        - ``"occlusion"``: drop in value when the part alone is removed.
        - ``"keep_one"``: gain in value when the part alone is kept.
        - ``"property_gradient"``: EPGM (Penzel & Denzler) — the part is faded to the
          baseline in ``n_steps`` and scored by the mean absolute gradient of the value
          along the fade; permutation-test p-values (``n_permutations``) and effect sizes
          (observed EPGM minus the permuted EPGMs' mean, over their standard deviation;
          0 when that is 0) in :meth:`explain`.
        - ``"gradcam"``: Grad-CAM at ``layer``, pooled over each part's pixels.
        - ``"integrated_gradients"``: integrated gradients from the baseline to the image
          (``n_steps`` midpoints), summed over channels and pooled over each part.
    baseline : {"zero", "mean", "blur"}, float, array-like, tensor or callable, default="warn"
        What replaces removed parts: black, the training images' mean colour, a blurred
        copy of the image, a constant colour, an image, or ``callable(images) -> images``.
        The default ``"warn"`` is ``"zero"`` with a ``FutureWarning``: it becomes ``"mean"``
        in 0.3. On both built-in data families (``benchmarks/rules.py``) the mean colour gave
        the most faithful Shapley rules (held-out fidelity at least 0.975 against 0.955 for
        black on classes sharing parts) and far fewer images the baseline alone explains
        (8% against 27% with black, where the model calls a black canvas one class).
    output : {"probability", "logit"}, default="probability"
        The value the model is scored by. MSX sufficiency and ``baseline_sufficient`` are
        judged on probabilities either way.
    tau : float in (0, 1], default=0.9
        Sufficiency threshold of ``msx`` (0.9 in SAG); for every method, the threshold of
        ``baseline_sufficient`` in :meth:`explain` and :meth:`baseline_report`.
    beam_width : int, default=3
        Sets kept per search root and set size (``msx``).
    max_roots : int, default=3
        Searches per image, started from the parts most valuable alone (``msx``).
    max_successors : int, default=6
        Extensions tried per set in the beam, the parts most valuable alone (``msx``).
    max_exact_parts : int, default=12
        Largest number of parts in an image for exact Shapley values (``2**P`` evaluations).
    n_samples : int, default=64
        Permutations (in antithetic pairs) per image for sampled Shapley values.
    n_steps : int, default=20
        Fade steps (``property_gradient``; the EPGM authors use 100) or integration
        points (``integrated_gradients``).
    n_permutations : int, default=1000
        Shuffles of each fade curve for the permutation test (``property_gradient``).
    layer : str, default=None
        Module whose output Grad-CAM explains (``gradcam``); ``None``: the deepest module
        output with a spatial map of at least 4×4.
    pooling : {"sum", "mean"}, default="sum"
        How gradient methods pool pixel attributions over a part: total, or per pixel.
    relations : bool, default=False
        Append, after the part scores (or codes), one 0/1 column per spatial relation
        between two parts in the image's mask ("wing above body", "window inside body",
        ...; see ``skpartx._relations``). :class:`GlobalRuleExplainer` turns them into
        relational symbols (a relation between two parts of the explanation).
    memory : str, joblib.Memory or None, default=None
        Cache ``transform`` results on disk, keyed by the model's weights, the parameters
        and the images, so that a grid search over the rule step does not recompute the
        attributions. (``Pipeline(memory=...)`` cannot cache steps holding torch modules:
        pickled tensors carry memory addresses, so no two clones hash alike.)
    out_dir : str, path-like or None, default=None
        Folder where ``transform`` and ``explain`` write each completed chunk of images,
        so that rerunning the same call after a crash or a kill resumes from the chunks
        already done, with the result an uninterrupted run gives.
    chunk_size : int, default=256
        Images explained together (one engine, one random seed drawn from
        ``random_state``, one file in ``out_dir``). Memory use grows with it, not with
        the number of images.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available.
    batch_size : int, default=None
        Composites per forward pass; default: as many as hold 512 images of 224 px on
        CUDA, 4 of 224 px on CPU (at most 512 / 128 composites); halved on out-of-memory.
    random_state : int, RandomState instance or None, default=None
        Seed for the sampling methods and permutation tests.
    verbose : bool, default=False
        Show progress bars.

    Attributes
    ----------
    model_ : torch.nn.Module
        The model on ``device_`` in eval mode (a copy if the caller's had to move).
    device_ : torch.device
    part_names_ : tuple of str
        Part names seen in ``fit``; the output columns.
    mean_colour_ : ndarray of shape (C,)
        Mean colour of the training images, the ``"mean"`` baseline.
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
        "tau": [Interval(Real, 0, 1, closed="right")],
        "beam_width": [Interval(Integral, 1, None, closed="left")],
        "max_roots": [Interval(Integral, 1, None, closed="left")],
        "max_successors": [Interval(Integral, 1, None, closed="left")],
        "max_exact_parts": [Interval(Integral, 1, 20, closed="both")],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_steps": [Interval(Integral, 2, None, closed="left")],
        "n_permutations": [Interval(Integral, 1, None, closed="left")],
        "layer": [str, None],
        "pooling": [StrOptions({"sum", "mean"})],
        "relations": ["boolean"],
        "memory": [None, str, HasMethods(["cache"])],
        "out_dir": [None, str, os.PathLike],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "device": "no_validation",
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model=None,
        method="shapley",
        baseline="warn",
        *,
        output="probability",
        tau=0.9,
        beam_width=3,
        max_roots=3,
        max_successors=6,
        max_exact_parts=12,
        n_samples=64,
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
        self.tau = tau
        self.beam_width = beam_width
        self.max_roots = max_roots
        self.max_successors = max_successors
        self.max_exact_parts = max_exact_parts
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
    def fit(self, X, y=None):
        """Prepare the model on the device and record the part names and mean colour.

        Parameters
        ----------
        X : PartImages
            Images with part masks (after :class:`PartLabelTransfer` where labels are partial).
        y : ignored

        Returns
        -------
        self : PartAttributor
        """
        if self.model is None:
            raise ValueError("PartAttributor needs the classifier to explain: PartAttributor(model=your_model).")
        check_module(self.model, "model")
        if isinstance(self.baseline, str) and self.baseline not in (*BASELINES, "warn"):
            raise ValueError(f"baseline={self.baseline!r} is unknown; use one of {BASELINES}, a colour, an image or a callable.")
        if isinstance(self.baseline, str) and self.baseline == "warn":
            warnings.warn(
                "PartAttributor's default baseline is 'zero' (black) in skpartx 0.2 and becomes 'mean' (the images' "
                "mean colour) in 0.3, which gave more faithful rules and a more neutral baseline on both built-in data "
                "families (benchmarks/RESULTS.md); pass baseline='zero' or baseline='mean' to silence this warning.",
                FutureWarning,
                stacklevel=3,
            )
        X = as_part_images(X)
        if len(X) == 0:
            raise ValueError("X contains no image; PartAttributor.fit needs at least one.")
        self.device_ = resolve_device(self.device)
        self.model_ = prepare_module(self.model, self.device_)
        self.part_names_ = X.part_names
        self.mean_colour_ = channel_mean(X.images)
        self.layer_ = None
        if self.method == "gradcam":
            self.layer_ = (
                check_layers(self.model_, self.layer)[0]
                if self.layer is not None
                else auto_layers(self.model_, X.images, self.device_)[-1]
            )
        return self

    def _baseline(self):
        """The baseline in use: ``baseline``, with the default ``"warn"`` read as ``"zero"``."""
        return "zero" if isinstance(self.baseline, str) and self.baseline == "warn" else self.baseline

    def _check_X(self, X):
        check_is_fitted(self)
        X = as_part_images(X)
        if X.part_names != self.part_names_:
            raise ValueError(
                f"X has parts {list(X.part_names)} but the attributor was fitted on {list(self.part_names_)}."
            )
        require_labelled(X, "PartAttributor")
        return X

    def _check_target(self, target, n_images):
        """``target`` as one class per image, or None (each image's predicted class)."""
        if target is None:
            return None
        target = np.asarray(target, dtype=np.int64).reshape(-1)
        if target.size and target.min() < 0:
            raise ValueError(f"target holds class {int(target.min())}; classes are the model's output indices 0, 1, ...")
        if target.size == 1:
            target = np.repeat(target, n_images)
        if len(target) != n_images:
            raise ValueError(f"target must hold one class per image ({n_images}), got {len(target)}.")
        return target

    def _targets(self, X, target):
        """One class per image of ``X``: ``target`` checked, or the model's predicted classes."""
        target = self._check_target(target, len(X))
        return predict_logits(self.model_, X, self.batch_size, self.device_).argmax(axis=1) if target is None else target

    def _engine(self, X, targets):
        """A coalition engine over the images of ``X`` explaining ``targets``."""
        return CoalitionEngine(
            self.model_,
            X.images,
            X.masks,
            targets,
            len(self.part_names_),
            baseline=self._baseline(),
            device=self.device_,
            batch_size=self.batch_size,
            output=self.output,
            mean_image=torch.as_tensor(self.mean_colour_).view(-1, 1, 1),
        )

    def explained_classes(self, X, target=None):
        """The class each image of ``X`` is explained for.

        Parameters
        ----------
        X : PartImages
        target : int or array-like of shape (n_images,), default=None
            Class to explain per image (checked); default: the model's predicted class
            (one forward pass over ``X``).

        Returns
        -------
        targets : ndarray of shape (n_images,)
        """
        X = self._check_X(X)
        return np.asarray(self._targets(X, target))

    def coalition_engine(self, X, target=None):
        """The coalition engine that values composites of ``X``'s images as this attributor does.

        Its ``evaluate(image_idx, keep)`` gives the model's value of the explained class
        (this attributor's ``output``) with only the kept parts of each image shown and the
        rest replaced by the baseline; metrics and other explanations build on it.

        Parameters
        ----------
        X : PartImages
            Images with filled part masks and this attributor's part names.
        target : int or array-like of shape (n_images,), default=None
            Class to explain per image; default: the model's predicted class.

        Returns
        -------
        engine : CoalitionEngine
            See ``skpartx._coalitions.CoalitionEngine``.
        """
        X = self._check_X(X)
        return self._engine(X, self._targets(X, target))

    def _decision_engine(self, X, target):
        """The engine of a chunk ``X`` (checked, pixels read) and its explained classes:
        ``target``, or the predicted classes, whose pass also gives the full-image values."""
        logits = None
        if target is None:
            logits = predict_logits(self.model_, X, self.batch_size, self.device_)
            target = logits.argmax(axis=1)
        engine = self._engine(X, target)
        if logits is not None:
            engine.memoise_full(logits)  # the pass that chose the classes gave the full-image values
        return engine, target

    @staticmethod
    def _baseline_results(engine):
        """Softmax over all classes on the all-baseline composites, and the explained class's
        probability on the full images (memoised in ``engine``: no method evaluates them again)."""
        probabilities = engine.baseline_probabilities()
        full, _ = engine.full_and_empty(output="probability")
        return {"baseline_probabilities": probabilities, "full_probability": full}

    def _attribute_chunk(self, X, target, seed):
        """Arrays (scores, values, targets, evaluations, baseline results, array details) and
        lists (MSXs) of a chunk."""
        engine, target = self._decision_engine(X, target)
        baseline = self._baseline_results(engine)
        scores, details = _METHOD_FUNCTIONS[self.method](engine, engine.present, self, np.random.RandomState(seed))
        full, empty = engine.full_and_empty()
        arrays = {"scores": scores, "full": full, "empty": empty, "targets": target, **baseline}
        arrays["evaluations"] = engine.evaluations
        lists = {}
        for key, value in details.items():
            (arrays if isinstance(value, np.ndarray) else lists)[key] = value
        return arrays, json_lists(lists)

    def plan_chunks(self, X):
        """How ``transform`` splits ``X``: the checked images, their chunks and each chunk's seed.

        With :meth:`attribute_chunk` and :meth:`scores_from_chunks` this lets chunks be
        computed anywhere (e.g. on the workers of a cluster) with the result of
        ``transform``: each chunk draws its random seed from ``random_state`` here.

        Parameters
        ----------
        X : PartImages

        Returns
        -------
        X : PartImages
            ``X`` checked against the fitted part names.
        chunks : list of slice
            Consecutive chunks of ``chunk_size`` images.
        seeds : ndarray of int
            Random seed of each chunk.
        """
        X = self._check_X(X)
        chunks = batch_slices(len(X), int(self.chunk_size))
        return X, chunks, check_random_state(self.random_state).randint(2**31 - 1, size=len(chunks))

    def attribute_chunk(self, X, seed, target=None):
        """The attribution of one chunk of images, as ``transform`` computes it.

        Parameters
        ----------
        X : PartImages
            One chunk of the images that :meth:`plan_chunks` returned.
        seed : int
            The chunk's seed from :meth:`plan_chunks`.
        target : array-like of shape (n_images,), default=None
            Class to explain per image; default: the model's predicted class.

        Returns
        -------
        arrays : dict of str to ndarray
            Per-image results, one row per image (part scores or MSX codes, values of the
            full and all-baseline images, classes, baseline probabilities, method details).
        lists : dict of str to list
            Per-image results that are lists (the MSXs, as part ids).
        """
        return self._attribute_chunk(X, self._check_target(target, len(X)), seed)

    def scores_from_chunks(self, X, results):
        """What ``transform(X)`` returns, from :meth:`attribute_chunk`'s results of the chunks
        of :meth:`plan_chunks`, in order. Warns as ``transform`` does.

        Parameters
        ----------
        X : PartImages
            The images :meth:`plan_chunks` returned.
        results : list of (dict, dict)
            :meth:`attribute_chunk`'s result for each chunk.

        Returns
        -------
        scores : PartScoreArray or DataFrame
            See :meth:`transform`.
        """
        # Warnings point at the caller of transform_on_cluster.
        return self._transform_output(X, self._join(results), stacklevel=5)

    def _with_relations(self, X, scores):
        """``scores`` followed by the relation indicators of ``X``'s masks when ``relations=True``."""
        if not self.relations:
            return scores
        return np.hstack([scores, part_relations(X.masks, len(self.part_names_)).astype(np.float64)])

    def _fingerprint(self, *state):
        """Key of everything a result depends on: parameters, fitted state and ``state``."""
        return estimator_fingerprint(self, _RESULT_LAYOUT, self.mean_colour_, self.part_names_, self.layer_, *state)

    def _load_chunk(self, X, chunk):
        """Images ``chunk`` of ``X`` with their pixels read once, for the class pass and the engine."""
        part = X[chunk]
        images = read_batch(part.images, self.device_)
        return PartImages._from_validated(images, np.asarray(part.masks), part.part_names)

    def _join(self, results):
        """One dict of per-image results from the chunks' ``(arrays, lists)``."""
        if not results:
            return {"scores": np.zeros((0, len(self.part_names_))), "full": np.zeros(0), "empty": np.zeros(0),
                    "targets": np.zeros(0, dtype=np.int64), "evaluations": np.zeros(0, dtype=np.int64),
                    "baseline_probabilities": np.zeros((0, 0)), "full_probability": np.zeros(0)}
        arrays, lists = concatenate_chunks(results)
        return {**arrays, **lists}

    def _attribute(self, X, target=None):
        """Per image: scores, values, targets, evaluations, baseline results and details, chunk by chunk.

        Each chunk draws its own random seed from ``random_state``, so a run resumed from
        ``out_dir`` gives what an uninterrupted run gives.
        """
        X, chunks, seeds = self.plan_chunks(X)
        target = self._check_target(target, len(X))
        run = None
        if self.out_dir is not None:
            run = ChunkedRun(self.out_dir, "attribution", self._fingerprint(X, target), len(X), int(self.chunk_size))

        def compute(k, loaded):
            chunk, part = loaded
            try:
                return self._attribute_chunk(part, None if target is None else target[chunk], seeds[k])
            except ModelCallError as exc:  # name the images by their position in X, not in the chunk
                raise exc.shifted(chunk.start) from exc.cause

        results = []
        with progress_bar(self.verbose, len(X), f"{self.method} attribution", unit="image") as bar:
            for chunk, result in iter_chunks(chunks, compute, run, lambda c: (c, self._load_chunk(X, c))):
                results.append(result)
                bar.update(chunk.stop - chunk.start)
        return self._join(results)

    def _baseline_sufficient(self, results):
        """Per image: does the baseline alone keep ``tau`` × the full image's probability of its class?"""
        probabilities, targets = results["baseline_probabilities"], results["targets"]
        if not len(targets):
            return np.zeros(0, dtype=bool)
        return probabilities[np.arange(len(targets)), targets] >= self.tau * results["full_probability"]

    def _warn(self, results, stacklevel):
        """The warnings of one ``transform`` or ``explain`` call: MSXs beyond what the codes
        hold, and all-baseline composites that are confidently one class. ``stacklevel``
        counts from this method to the user's call."""
        truncated = int(np.sum(results.get("msx_truncated", 0)))
        if truncated:
            warnings.warn(
                f"{truncated} image(s) had more than {MAX_MSX} minimal sufficient explanations; transform encodes "
                f"their {MAX_MSX} smallest (explain lists all). Fewer parts or a higher tau give fewer.",
                UserWarning,
                stacklevel=stacklevel,
            )
        probabilities = results["baseline_probabilities"]
        if self.method in _BASELINE_FREE or not len(probabilities):
            return
        top = probabilities.argmax(axis=1)
        confident = top[probabilities.max(axis=1) >= BASELINE_WARNING_PROBABILITY]
        if not len(confident):
            return
        counts = np.bincount(confident)
        cls = int(counts.argmax())
        if counts[cls] >= BASELINE_WARNING_SHARE * len(probabilities):
            baseline = self._baseline() if isinstance(self._baseline(), str) else f"a {type(self.baseline).__name__}"
            others = " or ".join(f"baseline={name!r}" for name in BASELINES if name != baseline)
            warnings.warn(
                f"the model assigns class {cls} with probability >= {BASELINE_WARNING_PROBABILITY} to the "
                f"all-baseline composites (every part replaced by baseline={baseline!r}) of {counts[cls]} of "
                f"{len(probabilities)} images: it decides class {cls} without any part, so explanations of class "
                f"{cls} owe much to the baseline. Try another baseline ({others}) and see "
                "baseline_report(X).",
                UserWarning,
                stacklevel=stacklevel,
            )

    def _transform_output(self, X, results, stacklevel=5):
        """The part scores (then relations) of ``results`` in their container, after the call's warnings.

        The default ``stacklevel`` points the warnings at the caller of ``transform``, past
        scikit-learn's output wrapper."""
        self._warn(results, stacklevel)
        pandas = _get_output_config("transform", self)["dense"] == "pandas"
        encoding = "msx" if self.method == "msx" else "scores"
        return as_output(self._with_relations(X, results["scores"]), self.get_feature_names_out(), encoding, pandas)

    def transform(self, X):
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

    def explain(self, X, target=None):
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
        names = self.part_names_
        scores = msx_part_shares(results["scores"]) if self.method == "msx" else results["scores"]
        sufficient = self._baseline_sufficient(results)
        msx = results.get("msx", [[] for _ in range(len(scores))])
        extras = {key: value for key, value in results.items() if key not in _COMMON_RESULTS}
        return [
            LocalExplanation(
                target=int(results["targets"][i]),
                full_score=float(results["full"][i]),
                empty_score=float(results["empty"][i]),
                scores=dict(zip(names, np.asarray(scores[i]).tolist())),
                msx=[frozenset(names[p] for p in s) for s in msx[i]],
                extras={key: dict(zip(names, value[i])) for key, value in extras.items()},
                n_evaluations=int(results["evaluations"][i]),
                baseline_probabilities=results["baseline_probabilities"][i],
                baseline_sufficient=bool(sufficient[i]),
            )
            for i in range(len(scores))
        ]

    def baseline_report(self, X, target=None):
        """How much each explained class's explanations owe to the baseline.

        The value of a coalition replaces the parts outside it by the baseline. If the
        model already assigns a class to the all-baseline composite (every part
        replaced), explanations of that class are hollow: even the empty set may suffice.
        This costs one forward pass per image for its class and full-image probability,
        and one per all-baseline composite, where images sharing one composite (the
        ``"zero"`` and ``"mean"`` baselines, a colour or an image, on fully labelled
        masks) share one pass.

        Parameters
        ----------
        X : PartImages
        target : int or array-like of shape (n_images,), default=None
            Class to explain per image; default: the model's predicted class.

        Returns
        -------
        report : DataFrame
            One row per explained class (index ``"class"``), with columns
            ``n_images``; ``baseline_probability``, the mean probability of the class on
            its images' all-baseline composites; ``baseline_sufficient``, the share of its
            images where the baseline alone keeps at least ``tau`` × the full image's
            probability of the class; ``baseline_class``, the class those composites are
            most often assigned (their arg-max), and ``baseline_class_probability``, that
            class's mean probability on them.
        """
        X = self._check_X(X)
        target = self._check_target(target, len(X))
        parts = []
        for chunk in batch_slices(len(X), int(self.chunk_size)):
            chunk_target = None if target is None else target[chunk]
            engine, targets = self._decision_engine(self._load_chunk(X, chunk), chunk_target)
            parts.append(({"targets": np.asarray(targets), **self._baseline_results(engine)}, {}))
        results = self._join(parts)
        sufficient = self._baseline_sufficient(results)
        probabilities, targets = results["baseline_probabilities"], results["targets"]
        rows = []
        for cls in np.unique(targets):
            mine = targets == cls
            assigned = int(np.bincount(probabilities[mine].argmax(axis=1)).argmax())
            rows.append({
                "class": int(cls),
                "n_images": int(mine.sum()),
                "baseline_probability": float(probabilities[mine, cls].mean()),
                "baseline_sufficient": float(sufficient[mine].mean()),
                "baseline_class": assigned,
                "baseline_class_probability": float(probabilities[mine, assigned].mean()),
            })
        columns = ["class", "n_images", "baseline_probability", "baseline_sufficient", "baseline_class",
                   "baseline_class_probability"]
        return pd.DataFrame(rows, columns=columns).set_index("class")

    def get_feature_names_out(self, input_features=None):
        """Part names (then relation names with ``relations=True``): the columns of ``transform``."""
        check_is_fitted(self)
        names = list(self.part_names_) + (relation_names(self.part_names_) if self.relations else [])
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.method in ("shapley", "property_gradient")
        tags.requires_fit = True
        return tags


def score_intervention(
    model,
    images,
    target=None,
    strengths=None,
    *,
    output="probability",
    n_permutations=1000,
    random_state=None,
    device="auto",
    batch_size=None,
):
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
