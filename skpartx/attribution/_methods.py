"""The attribution methods of :class:`~skpartx.PartAttributor`, as a registry.

A method is a function ``(engine, present, rng, **settings) -> (scores, details)``:
``engine`` is the chunk's :class:`~skpartx._engine.coalitions.CoalitionEngine`, ``present`` the
``(n_images, n_parts)`` parts each image shows, ``rng`` the chunk's ``RandomState``, and
``settings`` exactly the estimator parameters the method declares, by keyword. ``scores``
is ``(n_images, n_parts)``; ``details`` holds per-image arrays (or lists) that
``explain`` reports as extras.

Registering a method is all it takes to add one: ``PartAttributor``'s ``METHODS``, the
validation of ``method``, the method list and the method-specific parameters of its
docstring, and its tags all derive from :data:`REGISTRY` and :data:`SETTINGS`.
"""

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Callable

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._core.part_scores import MAX_MSX, encode_msx
from .._engine import games as _games
from .._engine.approximators import APPROXIMATORS, exact_fits, exact_limit
from .._engine.shapley import shapley
from ._gradients import gradcam_part_scores, integrated_gradients_part_scores
from ._msx import search_msx


@dataclass(frozen=True)
class Setting:
    """A method-specific estimator parameter: its validation and its documentation."""

    constraint: list
    doc: str


# Parameters of PartAttributor that only some methods read, in docstring order.
SETTINGS = {
    "tau": Setting(
        [Interval(Real, 0, 1, closed="right")],
        "float in (0, 1], default=0.9\n    Sufficiency threshold of ``msx`` (0.9 in SAG); for every method, the threshold of\n"
        "    ``baseline_sufficient`` in :meth:`explain` and :meth:`baseline_report`.",
    ),
    "beam_width": Setting([Interval(Integral, 1, None, closed="left")],
                          "int, default=3\n    Sets kept per search root and set size."),
    "max_roots": Setting([Interval(Integral, 1, None, closed="left")],
                         "int, default=3\n    Searches per image, started from the parts most valuable alone."),
    "max_successors": Setting([Interval(Integral, 1, None, closed="left")],
                              "int, default=6\n    Extensions tried per set in the beam, the parts most valuable alone."),
    "max_exact_parts": Setting(
        [Interval(Integral, 1, 20, closed="both"), None, StrOptions({"warn"})],
        'int or None, default="warn"\n    Largest number of parts in an image whose Shapley values are exact whatever the\n'
        "    budget (``2**P`` evaluations); images whose ``2**P`` coalitions fit in ``max_evals`` are\n"
        "    exact anyway, and ``None`` asks no more. The default ``\"warn\"`` is 12 with a\n"
        "    ``FutureWarning`` where an image has more parts than the budget covers: it becomes\n"
        "    ``None`` in 0.3. On 8- to 12-part games of the demo CNN (development images,\n"
        "    ``benchmarks/exact_parts.py``) the default approximator reached a median relative\n"
        "    squared error of 1e-4 with 130 evaluations at 8 parts, 229 at 10 and 575 at 12,\n"
        "    against 256, 1,024 and 4,096 for exact values: exact pays where all coalitions fit in\n"
        "    the budget, not beyond.",
    ),
    "max_evals": Setting(
        [Interval(Integral, 4, None, closed="left")],
        "int, default=512\n    Model evaluations per image (distinct coalitions, the empty and full ones included)\n"
        "    for Shapley values beyond the exact limit, whatever the ``approximator``, and for the\n"
        "    MSX search (which scores every part alone first, ``P + 2`` evaluations, and warns\n"
        "    where the budget ran out before it found a sufficient set or finished pruning).\n"
        "    Chosen on the development games of ``benchmarks/many_parts.py`` (grids of 16, 24 and\n"
        "    32 cells, demo CNN): 512 gave a median relative squared error of 2.5e-4, 1.5e-3 and\n"
        "    2.1e-3, below 0.2's 64 permutations (1.7e-3, 4.6e-3, 3.5e-3 at 874 to 1,965\n"
        "    evaluations).",
    ),
    "approximator": Setting(
        [StrOptions(set(APPROXIMATORS))],
        '{"adjusted", "leverage", "permutation"}, default="adjusted"\n'
        "    How sampled Shapley values are estimated: ``\"adjusted\"`` fits a logistic proxy of\n"
        "    the model's value with the parts' effects and the joint effects of parts that touch,\n"
        "    takes its Shapley values and corrects them by a regression on what the proxy\n"
        "    misses (regression-adjusted, Witter et al. 2025); ``\"leverage\"`` is paired\n"
        "    KernelSHAP regression on coalitions drawn by their leverage scores (Leverage SHAP,\n"
        "    Musco & Witter 2025); ``\"permutation\"`` averages marginal contributions over\n"
        "    antithetic orders. On 16- to 32-part games of the demo CNN ``\"adjusted\"`` reached a\n"
        "    relative squared error of 1e-2 with 1/4 to 1/7 of the evaluations of permutations\n"
        "    (``benchmarks/many_parts.py``). All three are efficient (values sum to the full\n"
        "    image's value minus the baseline's) and report standard errors.",
    ),
    "n_samples": Setting(
        [Interval(Integral, 2, None, closed="left"), StrOptions({"deprecated"})],
        "int, default=\"deprecated\"\n    Permutations (in antithetic pairs) per image for sampled Shapley values, 0.2's\n"
        "    estimate: deprecated in 0.2, removed in 0.3; given, it overrides ``max_evals`` and\n"
        "    ``approximator`` with a ``FutureWarning``. ``max_evals=n_samples * (P - 1) + 2,\n"
        "    approximator=\"permutation\"`` gives the same values at ``P`` parts.",
    ),
    "n_steps": Setting(
        [Interval(Integral, 2, None, closed="left")],
        "int, default=20\n    Steps from the baseline to the image: fade steps of ``property_gradient`` (the\n"
        "    EPGM authors use 100), integration points of ``integrated_gradients``.",
    ),
    "n_permutations": Setting([Interval(Integral, 1, None, closed="left")],
                              "int, default=1000\n    Shuffles of each fade curve for the permutation test."),
    "layer": Setting(
        [str, None],
        "str, default=None\n    Module whose output Grad-CAM explains; ``None``: the deepest module output with a\n"
        "    spatial map of at least 4×4.",
    ),
    "pooling": Setting(
        [StrOptions({"sum", "mean"})],
        '{"sum", "mean"}, default="sum"\n    How gradient methods pool pixel attributions over a part: total, or per pixel.',
    ),
}


@dataclass(frozen=True)
class AttributionMethod:
    """One attribution method.

    Attributes
    ----------
    name : str
        The value of ``PartAttributor(method=...)``.
    function : callable
        ``(engine, present, rng, **settings) -> (scores, details)``.
    summary : str
        What the method computes (the docstring's method list).
    settings : tuple of str
        The estimator parameters passed to ``function`` by keyword (keys of ``SETTINGS``).
    stochastic : bool
        Results depend on ``random_state``.
    uses_baseline : bool
        Scores depend on the baseline (``False``: no baseline warning).
    """

    name: str
    function: Callable
    summary: str
    settings: tuple = ()
    stochastic: bool = False
    uses_baseline: bool = True

    def run(self, engine, present, rng, parameters):
        """Scores and details of one chunk; ``parameters`` maps names to values (a superset of ``settings``)."""
        return self.function(engine, present, rng, **{name: parameters[name] for name in self.settings})


REGISTRY = {}


def register(name, summary, settings=(), stochastic=False, uses_baseline=True):
    """Decorator adding a method function to :data:`REGISTRY` under ``name``."""
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ValueError(f"method {name!r} declares settings {sorted(unknown)} that SETTINGS does not define.")

    def add(function):
        REGISTRY[name] = AttributionMethod(name, function, summary, tuple(settings), stochastic, uses_baseline)
        return function

    return add


def methods_doc(indent="        "):
    """The docstring's list of methods, each with the parameters it reads."""
    lines = []
    for method in REGISTRY.values():
        uses = f" Parameters: {', '.join(f'``{s}``' for s in method.settings)}." if method.settings else ""
        text = f'- ``"{method.name}"``: {method.summary}{uses}'
        lines += _wrap(text, indent, indent + "  ")
    return "\n".join(lines)


def settings_doc(indent="    "):
    """The docstring entries of the method-specific parameters, each naming the methods that read it."""
    lines = []
    for name, setting in SETTINGS.items():
        users = [m.name for m in REGISTRY.values() if name in m.settings]
        first, *rest = setting.doc.split("\n")
        lines.append(f"{indent}{name} : {first}")
        body = " ".join(line.strip() for line in rest)
        lines += _wrap(f"{body} Read by: {', '.join(f'``{u}``' for u in users)}.", indent + "    ", indent + "    ")
    return "\n".join(lines)


def _wrap(text, first_indent, indent, width=92):
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=first_indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False)


# -- the methods ------------------------------------------------------------------------


@register(
    "shapley",
    "Shapley values, exact over all coalitions of an image's parts up to ``max_exact_parts`` "
    "parts, estimated from ``max_evals`` coalitions beyond (by ``approximator``), with standard "
    "errors in :meth:`explain`.",
    settings=("max_exact_parts", "max_evals", "approximator", "n_samples"),
    stochastic=True,
)
def shapley_values(engine, present, rng, *, max_exact_parts, max_evals, approximator, n_samples):
    """Exact Shapley over each image's present parts, estimated under a budget beyond ``max_exact_parts``."""
    legacy = None if isinstance(n_samples, str) else int(n_samples)  # "deprecated": not given
    scores, errors = shapley(engine, present, max_exact_parts, rng, max_evals=max_evals, approximator=approximator,
                             n_samples=legacy)
    details = {"standard_errors": errors}
    if isinstance(max_exact_parts, str):  # the default: exact now, estimated under 0.3's default
        sizes = present.sum(axis=1)
        details["exact_by_default"] = (sizes <= exact_limit(max_exact_parts)) & ~exact_fits(sizes, max_evals)
    return scores, details


@register(
    "msx",
    "minimal sufficient explanations (SAG/GEPC) — sets of parts that alone keep at least ``tau`` × "
    "the full image's probability of the class (judged on probabilities whatever ``output``) and "
    "from which no part can be dropped, found by beam search; no listed MSX contains another. "
    "``transform`` returns *membership codes*: bit ``m`` of ``F[i, p]`` is set when part ``p`` is "
    "in image ``i``'s ``m``-th MSX (smallest first; at most 53 per image, more warn); a row of "
    "zeros is the empty MSX (the baseline alone keeps the value). Read them with "
    ":func:`~skpartx.attribution.decode_msx`; :func:`~skpartx.attribution.msx_part_shares` gives "
    "each part's share of the MSXs. The search spends at most ``max_evals`` evaluations per image "
    "(after each part alone) and warns for images where the budget ran out first.",
    settings=("tau", "beam_width", "max_roots", "max_successors", "max_evals"),
)
def minimal_sufficient_explanations(engine, present, rng, *, tau, beam_width, max_roots, max_successors, max_evals):
    """Membership codes of each image's minimal sufficient explanations (see :func:`decode_msx`)."""
    found, stopped = search_msx(engine, present, tau, beam_width, max_roots, max_successors, max_evals)
    codes, _ = encode_msx(found, present.shape[1])
    return codes, {"msx": found, "msx_truncated": np.array([len(sets) > MAX_MSX for sets in found], dtype=bool),
                   "msx_stopped": stopped}


def _single_part_scores(engine, present, drop):
    """Per present part: the drop in value without it (``drop``), or the gain with only it."""
    full, empty = engine.full_and_empty()
    image_idx, part_idx = np.nonzero(present)
    if drop:
        keep = present[image_idx].copy()
        keep[np.arange(len(part_idx)), part_idx] = False
    else:
        keep = np.zeros((len(part_idx), present.shape[1]), dtype=bool)
        keep[np.arange(len(part_idx)), part_idx] = True
    values = engine.evaluate(image_idx, keep)
    scores = np.zeros(present.shape)
    scores[image_idx, part_idx] = full[image_idx] - values if drop else values - empty[image_idx]
    return scores, {}


@register("occlusion", "drop in value when the part alone is removed.")
def occlusion(engine, present, rng):
    """Drop in value when a single part is replaced by the baseline."""
    return _single_part_scores(engine, present, drop=True)


@register("keep_one", "gain in value when the part alone is kept.")
def keep_one(engine, present, rng):
    """Value with only one part kept, relative to the value with no part kept."""
    return _single_part_scores(engine, present, drop=False)


@register(
    "property_gradient",
    "EPGM (Penzel & Denzler) — the part is faded to the baseline in ``n_steps`` and scored by the "
    "mean absolute gradient of the value along the fade; permutation-test p-values "
    "(``n_permutations``) and effect sizes (observed EPGM minus the permuted EPGMs' mean, over "
    "their standard deviation; 0 when that is 0) in :meth:`explain`.",
    settings=("n_steps", "n_permutations"),
    stochastic=True,
)
def property_gradient(engine, present, rng, *, n_steps, n_permutations):
    """EPGM of each part faded to the baseline in ``n_steps``, with permutation p-values and effect sizes."""
    strengths = np.linspace(0.0, 1.0, n_steps)
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
            curves, strengths, n_permutations, rng
        )
    all_curves[image_idx, part_idx] = curves
    return scores, {"p_values": p_values, "effect_sizes": effect_sizes, "curves": all_curves}


@register(
    "gradcam",
    "Grad-CAM at ``layer``, pooled over each part's pixels.",
    settings=("layer", "pooling"),
    uses_baseline=False,
)
def gradcam(engine, present, rng, *, layer, pooling):
    """Grad-CAM part scores at ``layer`` (the resolved module name)."""
    return gradcam_part_scores(engine, layer, pooling), {}


@register(
    "integrated_gradients",
    "integrated gradients from the baseline to the image (``n_steps`` midpoints), summed over "
    "channels and pooled over each part.",
    settings=("n_steps", "pooling"),
)
def integrated_gradients(engine, present, rng, *, n_steps, pooling):
    """Integrated-gradient part scores from the baseline to the image."""
    return integrated_gradients_part_scores(engine, n_steps, pooling), {}


METHODS = tuple(REGISTRY)
