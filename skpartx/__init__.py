"""skpartx: global part-based explanations of image classifiers, as scikit-learn estimators.

A user labels parts on a few images; :class:`PartLabelTransfer` transfers the labels to
every image, :class:`PartAttributor` explains each image's decision in terms of its
parts, and :class:`GlobalRuleExplainer` aggregates the local explanations into
symbolic rules per class.
"""

__version__ = "0.2.0.dev0"

from ._core.lazy import LazyImages
from ._core.part_images import PartImages
from .attribution import LocalExplanation, PartAttributor
from .counterfactual import PartCounterfactualExplainer
from .models import predict_classes
from .persistence import load, save
from .rules import GlobalRuleExplainer, GlobalRuleExplainerCV, Rule, RuleVerification, apply_rules
from .transfer import PartLabelTransfer

__all__ = [
    "PartImages",
    "LazyImages",
    "PartLabelTransfer",
    "PartAttributor",
    "GlobalRuleExplainer",
    "GlobalRuleExplainerCV",
    "PartCounterfactualExplainer",
    "LocalExplanation",
    "Rule",
    "RuleVerification",
    "apply_rules",
    "predict_classes",
    "save",
    "load",
    "__version__",
]
