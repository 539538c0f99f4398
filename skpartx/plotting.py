"""Figures: part masks, part importance per class, and global rules (matplotlib).

Each figure lives with the stage whose results it draws; this module gathers them under one
name.
"""

from ._core.figures import colour_masks, part_colours, plot_class_part_table, plot_part_masks
from .attribution import plot_local_explanation, plot_part_importance, plot_removals
from .compare import plot_part_shifts
from .counterfactual import plot_counterfactual
from .interactions import plot_interactions
from .rules import plot_rule_examples, plot_rules, plot_setting_scores, plot_weights
from .transfer import plot_miou_curve

__all__ = [
    "colour_masks",
    "part_colours",
    "plot_class_part_table",
    "plot_counterfactual",
    "plot_interactions",
    "plot_local_explanation",
    "plot_miou_curve",
    "plot_part_importance",
    "plot_part_masks",
    "plot_part_shifts",
    "plot_removals",
    "plot_rule_examples",
    "plot_rules",
    "plot_setting_scores",
    "plot_weights",
]
