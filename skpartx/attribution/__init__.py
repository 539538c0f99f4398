"""Local explanations of single images in terms of their parts.

:class:`PartAttributor` (``_attributor``) over ``_methods`` (the method registry),
``_value_function`` (model + baseline + output: the explained value and its engine), ``_run``
(a method run over images chunk by chunk), ``_msx`` (minimal sufficient explanations),
``_gradients`` (property gradients) and ``_explanations`` (per-image results as
:class:`LocalExplanation`, the baseline report, warnings); ``_curves`` (deletion and
insertion curves), ``_plot`` (figures of results) and ``_removals`` (the composites an
attributor shows the model, drawn); ``_estimate`` (Shapley values of any game under a budget).

May import: ``_core``, ``_engine``.
"""

from .._core.part_scores import decode_msx
from .._engine.coalitions import BASELINES, ReferenceImages
from ._attributor import PartAttributor, score_intervention
from ._curves import part_deletion_curve, part_insertion_curve
from ._estimate import ShapleyEstimate, estimate_shapley
from ._explanations import BASELINE_WARNING_PROBABILITY, BASELINE_WARNING_SHARE, LocalExplanation, msx_part_shares
from ._methods import METHODS
from ._plot import plot_local_explanation, plot_part_importance
from ._removals import plot_removals

__all__ = [
    "BASELINES",
    "BASELINE_WARNING_PROBABILITY",
    "BASELINE_WARNING_SHARE",
    "LocalExplanation",
    "METHODS",
    "PartAttributor",
    "ReferenceImages",
    "ShapleyEstimate",
    "decode_msx",
    "estimate_shapley",
    "msx_part_shares",
    "part_deletion_curve",
    "part_insertion_curve",
    "plot_local_explanation",
    "plot_part_importance",
    "plot_removals",
    "score_intervention",
]
