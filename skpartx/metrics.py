"""Quality measures of part transfer, part attributions, counterfactuals and global rules.

Each measure lives with its stage; this module gathers them under one name.
"""

from ._engine.truth import interventional_msx, interventional_shapley, interventional_values
from .attribution import part_deletion_curve, part_insertion_curve
from .counterfactual import counterfactual_metrics
from .rules import coverage_scorer, fidelity_scorer, make_rule_scorer
from .transfer import iou_per_part, mean_iou

__all__ = [
    "counterfactual_metrics",
    "coverage_scorer",
    "fidelity_scorer",
    "interventional_msx",
    "interventional_shapley",
    "interventional_values",
    "iou_per_part",
    "make_rule_scorer",
    "mean_iou",
    "part_deletion_curve",
    "part_insertion_curve",
]
