"""Global symbolic rules per class, learned from local part explanations.

:class:`GlobalRuleExplainer` reads each image's local explanation (a row of part scores or
MSX codes from :class:`~skpartx.PartAttributor`) as binary *symbols*
(``_symbols``) and learns conjunctive rules over them that reproduce the model's
decisions: GEPC's set cover (``_set_cover``), a scorecard of whole-number points per symbol
and class (``_scorecard``), or an imodels learner (``_imodels``).

How rules decide (one procedure per fitted model, ``decision_``, printed in every report
and written in ``rules.json``; see ``_decision``): ``"most_precise"`` (set cover):
the most precise firing rule decides, equal precision → the rule listed first;
``"first_match"`` (decision lists, trees): the first firing rule decides;
``"weighted_sum"`` (scorecards, vote-based imodels learners): each class sums its intercept and the
weights of the firing rules, the largest sum decides, equal sums → the class listed first.
No deciding rule → the default class. ``predict``, ``score``, ``coverage``, every report and
:func:`apply_rules` on ``rules.json`` use exactly these rules and this procedure.

Modules: ``_explainer`` (:class:`GlobalRuleExplainer`, :func:`apply_rules`), ``_cv``
(:class:`GlobalRuleExplainerCV`: settings chosen by cross-validated fidelity), ``_rule``
(:class:`Rule`, :class:`RuleVerification`), ``_symbols``, ``_set_cover``, ``_imodels``,
``_decision``, ``_stats`` (support, precision, coverage and their intervals), ``_report``
(text, Markdown, HTML, ``rules.json``), ``_profile`` (what each class's explanations say),
``_scorers`` (scikit-learn scorers) and ``_plot`` (figures).

May import: ``_core``.
"""

from ._cv import GlobalRuleExplainerCV, default_grid
from ._decision import DECISIONS
from ._explainer import GlobalRuleExplainer, apply_rules, load_rules_json, warn_unseen_classes
from ._plot import plot_rule_examples, plot_rules, plot_setting_scores, plot_weights
from ._report import RULES_JSON_VERSION
from ._rule import Rule, RuleVerification
from ._scorers import coverage_scorer, fidelity_scorer, make_rule_scorer
from ._stats import wilson_interval
from ._symbols import BINARIZE

__all__ = [
    "BINARIZE",
    "DECISIONS",
    "GlobalRuleExplainer",
    "GlobalRuleExplainerCV",
    "RULES_JSON_VERSION",
    "Rule",
    "RuleVerification",
    "apply_rules",
    "coverage_scorer",
    "default_grid",
    "fidelity_scorer",
    "load_rules_json",
    "make_rule_scorer",
    "plot_rule_examples",
    "plot_rules",
    "plot_setting_scores",
    "plot_weights",
    "warn_unseen_classes",
    "wilson_interval",
]
