"""Quality measures of transfers, attributions (also against interventional truth), counterfactuals and rules.

Each measure lives with its stage; this module gathers them under one name.
"""

from ._engine.truth import (
    agreement_with_truth,
    interventional_engine,
    interventional_msx,
    interventional_shapley,
    interventional_values,
)
from .attribution import part_deletion_curve, part_insertion_curve
from .counterfactual import counterfactual_metrics
from .rules import coverage_scorer, fidelity_scorer, make_rule_scorer
from .transfer import iou_per_part, mean_iou

__all__ = [
    "agreement_with_truth",
    "counterfactual_metrics",
    "coverage_scorer",
    "fidelity_scorer",
    "interventional_engine",
    "interventional_msx",
    "interventional_shapley",
    "interventional_values",
    "iou_per_part",
    "make_rule_scorer",
    "mean_iou",
    "part_deletion_curve",
    "part_insertion_curve",
]
