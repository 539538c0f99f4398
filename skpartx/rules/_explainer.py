"""The rule explainer: fitting, deciding, reports and ``rules.json``."""

import html
import json
import os
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._core.figures import plot_class_part_table
from .._core.labels import display_name, plain, rule_target_name, unique_names
from .._core.part_scores import column_part_ids, table_info
from . import _report as _rule_report
from ._decision import DECISIONS, decide, decide_rules, weight_matrix
from ._plot import plot_rule_examples, plot_rules, plot_weights
from ._profile import background_symbol, explanation_profile
from ._report import RULES_JSON_VERSION
from ._rule import Rule, RuleVerification
from ._scorecard import fit_scorecard, is_scorecard, resolve_rule_model
from ._set_cover import set_cover, uncovered_majority
from ._stats import held_out_shares, rule_statistics, verification_table
from ._symbols import BINARIZE, SymbolSpace, column_names, fit_symbol_space, resolve_defaults

if TYPE_CHECKING:
    import pandas
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .._core.part_images import PartImages

# scikit-learn's validation of GlobalRuleExplainer's parameters
_PARAMETER_CONSTRAINTS = {
    "rule_model": "no_validation",
    "binarize": [StrOptions({"auto", "msx", *BINARIZE})],
    "threshold": [Interval(Real, None, None, closed="neither"), None],
    "top_k": [Interval(Integral, 1, None, closed="left")],
    "max_rule_length": [Interval(Integral, 1, None, closed="left")],
    "max_rules": [Interval(Integral, 1, None, closed="left")],
    "min_precision": [Interval(Real, 0, 1, closed="both")],
    "min_coverage": [Interval(Real, 0, 1, closed="both")],
    "min_support": [Interval(Integral, 1, None, closed="left")],
    "candidates": [StrOptions({"auto", "observed", "subsets"})],
    "closure": [Interval(Real, 0, 1, closed="left")],
    "as_decision_list": ["boolean"],
    "target_names": ["array-like", dict, None],
    "random_state": ["random_state"],
}


def warn_unseen_classes(y, classes):
    """Warn (at the caller of the caller) when ``y`` holds classes the rules were not fitted on."""
    unseen = np.setdiff1d(np.unique(np.asarray(y)), classes).tolist()
    if unseen:
        warnings.warn(f"y holds class(es) {unseen} that the rules were not fitted on, so they count as errors; "
                      "fit on images of every class the model decides.", UserWarning, stacklevel=3)


class GlobalRuleExplainer(ClassifierMixin, BaseEstimator):
    """Per-class rules over part symbols that reproduce a model's decisions.

    Each row of ``F``, one image's local explanation from :class:`PartAttributor`, becomes
    binary *symbols* ("this part matters for this image's decision"); a rule is a conjunction
    of symbols. Part scores are binarised per image (``binarize``); relation columns such as
    ``"wing above body"`` are on when the relation holds and both parts are on. Each MSX
    stays its own candidate (GEPC): ``{head, wing}`` is on when head and wing contain one of
    the image's MSXs and each belongs to one; the empty MSX turns on only ``(baseline)``.
    ``predict``, ``score``, ``coverage``, reports and :func:`apply_rules` use exactly
    ``rules_`` and their decision procedure, ``decision_``.

    Parameters
    ----------
    rule_model : "set_cover", "scorecard", str or estimator, default="warn"
        The default ``"warn"`` is ``"set_cover"`` with a ``FutureWarning``: it becomes
        ``"scorecard"`` in 0.3, chosen on the development worlds (``benchmarks/worlds.py``).
        ``"set_cover"``: GEPC's greedy set cover (decides ``"most_precise"``, or
        ``"first_match"`` with ``as_decision_list``). ``"scorecard"``: whole-number points
        per symbol and class from an L1-penalised multinomial logistic regression on the
        symbols (``C=1``; a scikit-learn ``LogisticRegression`` instance to set your own),
        one rule per symbol with points, decided ``"weighted_sum"``; on MSXs it also weighs
        each part alone (on when the part belongs to an MSX). ``"figs"``, ``"rulefit"``,
        ``"greedy_rule_list"``, ``"skope"``, ``"boosted"``, ``"oner"``, ``"c45"``, ``"hstree"``
        or an unfitted imodels estimator: written as rules that reproduce its predictions
        (``"first_match"``: trees, lists; ``"weighted_sum"``: votes); binary ones one-vs-rest.
    binarize : {"auto", "msx", "relative", "fraction", "absolute", "top_k", "positive"}, default="auto"
        How ``F`` becomes symbols. ``"auto"``: ``"msx"`` when ``F`` says it holds MSXs
        (``PartAttributor(method="msx")``), else ``"fraction"`` (changed in 0.2: ``"relative"``
        before; ``benchmarks/rules.py`` measures why). ``"msx"``: ``F`` holds MSX membership
        codes. Else a part is on when its score is: ``"relative"``, > 0 and ≥ ``threshold``
        (0.5) × the image's top score (scale-free); ``"fraction"``, among the fewest top scores
        adding up to ``threshold`` (0.8) of the image's positive total (for Shapley values,
        the parts carrying that share of f(image) − f(baseline)); ``"absolute"``, ≥
        ``threshold`` (0.5); ``"top_k"``, among the ``top_k`` highest positive; ``"positive"``, > 0.
    threshold : float, default=None
        Threshold of ``binarize``; ``None`` uses the default given above.
    top_k : int, default=2
        Parts kept per image by ``binarize="top_k"``.
    max_rule_length : int, default=3
        Most symbols in one set-cover conjunction (most parts in an MSX candidate).
    max_rules : int, default=5
        Most set-cover rules per class.
    min_precision : float, default=0.9
        Least share of a set-cover rule's firing images that must belong to its class.
    min_coverage : float, default=0.98
        Set cover stops adding rules to a class once this share of its images is covered.
    min_support : int, default=2
        Least number of a class's images a candidate conjunction must fire on.
    candidates : {"auto", "observed", "subsets"}, default="auto"
        Set-cover candidates: ``"observed"`` (GEPC), the images' own explanations (each MSX, or
        the whole symbol set); ``"subsets"``, every conjunction of up to ``max_rule_length``
        symbols (for MSXs, parts) within them; ``"auto"``, ``"observed"`` for MSXs, minimal by
        construction, ``"subsets"`` for part scores, whose binarised sets are not (changed in
        0.2: ``"observed"`` before). Each pick fires on the most still-uncovered images of its
        class (ties: the shorter, then the more precise); a pick subsumed by a more general,
        at least as precise one of its class is dropped.
    closure : float, default=0.05
        Set cover on part scores (not MSXs): each pick gains every symbol on for all but this share
        of the images it covers, if still precise, so a rule names every part carrying the decision
        (``charger ← horn ∧ leg``, not ``← horn``, when both do); 0 keeps the most general pick.
    as_decision_list : bool, default=False
        Set cover: one ordered list across classes (each pick the best rule of any class on
        the images earlier rules left), decided by the first firing rule.
    target_names : sequence or dict, default=None
        Display names of the classes, by label (a sequence for labels ``0..K-1``, or a dict).
    random_state : int, RandomState instance or None, default=None
        Seed of imodels learners.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_names_ : list of str
        Display name of each class (``target_names`` or the label as text), unique.
    rules_ : list of Rule
        Set cover: by class in pick order (list order with ``as_decision_list``); imodels: the learner's.
    rule_model_ : str or estimator
        The rule learner used: ``rule_model``, with ``"warn"`` read as ``"set_cover"``.
    decision_ : {"first_match", "most_precise", "weighted_sum"}
        How ``rules_`` decide, respectively: the first firing rule; the most precise firing
        rule (ties: the first listed); each class sums its intercept and its firing rules'
        weights, the largest sum deciding (ties: the first class). Else ``default_class_``.
    default_class_ : object
        Set cover: the most frequent class of the training images no rule fires on (of all
        if all are covered); imodels: the learner's own (additive: the largest intercept's).
    intercept_ : ndarray of shape (n_classes,) or None
        Additive models: each class's score before any rule fires.
    binarize_ : str
        The binarisation used (``"msx"`` or one of the scoring ones).
    candidates_ : {"observed", "subsets"}
        The set-cover candidates used.
    symbol_space_ : SymbolSpace
        The symbols rules are written in and how ``F`` becomes them.
    class_part_scores_ : ndarray of shape (n_classes, n_parts)
        Mean part score (for MSXs: share of MSXs containing the part) of each class's
        training images, for :meth:`plot_part_importance`.
    explanation_profile_ : dict
        Class → its three most common local explanations (symbol sets, or MSXs), as
        ``(names, share of the class's images)``.
    empty_explanations_ : dict
        Class → share of its training images whose explanation is empty (no part is on;
        for MSXs, the baseline alone keeps the model's confidence), where there are any.
    shortcuts_ : list of str
        Names in the explanations of at least half of the images of every class (of two or
        more): the model leans on them whatever the class, a likely shortcut.
    background_shortcuts_ : dict
        Class → share of its images explained with the background, where at least one half
        (of two or more classes): a class decided by what surrounds the object. The
        background is the column of part id 0 when ``F`` records its columns' part ids (see
        ``skpartx._core.part_scores``), else the column named ``"background"``.
    part_names_ : list of str
        The part (non-relation) columns of ``F``.
    learner_ : object or None
        The fitted imodels adapter.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``F`` was a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skpartx import GlobalRuleExplainer
    >>> F = np.array([[1.0, 0.9, 0.0], [0.8, 1.0, 0.1], [0.0, 0.1, 1.0], [0.1, 0.0, 0.9]])
    >>> rules = GlobalRuleExplainer(binarize="fraction", candidates="subsets").fit(F, [0, 0, 1, 1])
    >>> print(rules.rules_[0])
    0 ← x0 (precision 1.00, covers 100%)
    """

    _parameter_constraints = _PARAMETER_CONSTRAINTS

    def __init__(self, rule_model="warn", *, binarize="auto", threshold=None, top_k=2, max_rule_length=3,
                 max_rules=5, min_precision=0.9, min_coverage=0.98, min_support=2, candidates="auto",
                 closure=0.05, as_decision_list=False, target_names=None, random_state=None):
        self.rule_model = rule_model
        self.binarize = binarize
        self.threshold = threshold
        self.top_k = top_k
        self.max_rule_length = max_rule_length
        self.max_rules = max_rules
        self.min_precision = min_precision
        self.min_coverage = min_coverage
        self.min_support = min_support
        self.candidates = candidates
        self.closure = closure
        self.as_decision_list = as_decision_list
        self.target_names = target_names
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, F: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> "GlobalRuleExplainer":
        """Learn rules that reproduce ``y`` from the local explanations ``F``.

        Parameters
        ----------
        F : array-like of shape (n_images, n_columns)
            Part scores (optionally followed by relation indicators) or MSX codes, as
            :class:`PartAttributor` gives them; column names (a DataFrame's, or those its
            output carries) become the symbols' names.
        y : array-like of shape (n_images,)
            The model's decisions on the images (see :func:`skpartx.predict_classes`).
        sample_weight : array-like of shape (n_images,), default=None
            Image weights, e.g. to balance classes: every count is weighted (an integer weight
            acts like a repeated image). In a pipeline: ``set_fit_request(sample_weight=True)``.

        Returns
        -------
        self : GlobalRuleExplainer
        """
        (carried_names, encoding), part_ids = table_info(F), column_part_ids(F)
        F, y = validate_data(self, F, y, dtype=np.float64)
        check_classification_targets(y)
        weights = _check_sample_weight(sample_weight, F, dtype=np.float64, ensure_non_negative=True)
        if not weights.sum() > 0:
            raise ValueError("sample_weight must not be zero for every image.")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self.class_names_ = unique_names([self.class_label(c) for c in self.classes_])
        columns = column_names(getattr(self, "feature_names_in_", carried_names), self.n_features_in_)
        # the defaults' warnings, stacklevel 3: past fit and scikit-learn's wrapper of it, at the caller of fit
        self.rule_model_ = resolve_rule_model(self.rule_model, stacklevel=3)
        by_set_cover = isinstance(self.rule_model_, str) and self.rule_model_ == "set_cover"
        self.binarize_, self.candidates_ = resolve_defaults(self.binarize, self.candidates, encoding, stacklevel=3,
                                                            uses_candidates=by_set_cover)
        self.symbol_space_ = fit_symbol_space(
            columns, F, y_index, weights, binarize=self.binarize_, threshold=self.threshold, top_k=self.top_k,
            max_length=self.max_rule_length, min_support=self.min_support, candidates=self.candidates_,
            part_symbols=is_scorecard(self.rule_model_),
        )
        self.part_names_ = list(self.symbol_space_.part_columns)
        symbols = self.symbol_space_.transform(F)
        raw, default = self._fit_rules(symbols, y, y_index, weights, sample_weight, by_set_cover)
        firing = self.symbol_space_.firing(symbols, [conditions for _, conditions, _ in raw])
        statistics = rule_statistics(firing, [k for k, _, _ in raw], y_index, weights, len(self.classes_))
        self.rules_ = [
            Rule(target=plain(self.classes_[k]), conditions=conditions, weight=weight, **stats,
                 target_name=rule_target_name(self.class_names_[k], self.classes_[k], self.target_names))
            for (k, conditions, weight), stats in zip(raw, statistics)
        ]
        default = uncovered_majority(firing, y_index, weights, len(self.classes_)) if default is None else default
        self.default_class_ = plain(self.classes_[default])
        (self.class_part_scores_, self.explanation_profile_, self.empty_explanations_, self.shortcuts_,
         self.background_shortcuts_) = explanation_profile(
            self.symbol_space_, F, y_index, weights, self.classes_, background_symbol(columns, part_ids))
        return self

    def _fit_rules(self, symbols, y, y_index, weights, sample_weight, by_set_cover):
        """Set ``decision_``, ``intercept_``, ``learner_``; the rules and default class index (None: later)."""
        self.learner_, self.intercept_ = None, None
        if by_set_cover:
            self.decision_ = "first_match" if self.as_decision_list else "most_precise"
            picks = set_cover(
                symbols, y_index, weights, n_classes=len(self.classes_), msx=self.binarize_ == "msx",
                candidates=self.candidates_, max_length=self.max_rule_length, min_support=self.min_support,
                max_rules=self.max_rules, min_precision=self.min_precision, min_coverage=self.min_coverage,
                closure=self.closure, as_decision_list=self.as_decision_list,
            )
            names = self.symbol_space_.names
            return [(k, tuple((names[j], "==", 1) for j in conjunction), None) for k, conjunction in picks], None
        if is_scorecard(self.rule_model_):
            self.decision_ = "weighted_sum"
            raw, intercept, default = fit_scorecard(self.rule_model_, symbols, y_index, weights, self.symbol_space_.names,
                                                    self.class_names_, self.random_state)
            self.intercept_ = intercept
            return raw, default
        from ._imodels import fit_rule_model

        self.learner_, self.decision_, raw, self.intercept_, default = fit_rule_model(
            self.rule_model_, symbols, y, self.symbol_space_.names, self.classes_, self.class_names_, sample_weight,
            self.random_state)
        return raw, default

    def __setstate__(self, state):
        # saved before closure existed: picks as then; before rule_model_: the one given
        if "rules_" in state and "rule_model_" not in state:
            state = {**state, "rule_model_": state.get("rule_model", "set_cover")}
        super().__setstate__({"closure": 0.0, **state})
        if "rules_" in state and "decision_" not in state:
            self._saved_by_old_release = True

    def _check_current(self):
        """Fitted, and not by a release whose rules did not record how they decide."""
        check_is_fitted(self)
        if getattr(self, "_saved_by_old_release", False):
            raise ValueError("This GlobalRuleExplainer was saved by skpartx 0.1, whose rules did not record how they "
                             "decide; fit it again with this version of skpartx.")

    def symbols(self, F: ArrayLike) -> "pandas.DataFrame":
        """The binary symbols of ``F`` that rules' conditions name, as a DataFrame (see ``get_feature_names_out``)."""
        import pandas as pd

        return pd.DataFrame(self._symbols(F), columns=list(self.get_feature_names_out()))

    def _symbols(self, F):
        self._check_current()
        return self.symbol_space_.transform(validate_data(self, F, reset=False, dtype=np.float64))

    def firing(self, F: ArrayLike, rules: "Sequence[Rule] | None" = None) -> np.ndarray:
        """Bool ``(n_images, n_rules)``: which of ``rules`` (default: ``rules_``) fire on the images of ``F``."""
        symbols = self._symbols(F)  # first: it refuses rules saved by an old release
        return self.symbol_space_.firing(symbols, [r.conditions for r in (rules or self.rules_)])

    def _decide(self, firing):
        """The class index decided for each image, and whether a rule of that class decided it."""
        return decide_rules(firing, self.decision_, self.rules_, [plain(c) for c in self.classes_],
                            self.class_names_, self.default_class_, self.intercept_)

    def predict(self, F: ArrayLike) -> np.ndarray:
        """The model decision the rules give each image of ``F`` (see ``decision_``)."""
        decided, _ = self._decide(self.firing(F))
        return self.classes_[decided]

    def score(self, F: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Fidelity: the share of images on which the rules reproduce the model's decision ``y``
        (a warning names the classes of ``y`` the rules were not fitted on, never reproduced)."""
        warn_unseen_classes(y, self.classes_)
        return accuracy_score(y, self.predict(F), sample_weight=sample_weight)

    def coverage(self, F: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Share of images decided (``decision_``) by a rule of the model's decided class ``y``:
        never for two classes, and never through the default class."""
        classes, by_rule = self._decide(self.firing(F))
        covered = by_rule & (self.classes_[classes] == np.asarray(y))
        return float(np.average(covered, weights=sample_weight)) if len(covered) else 0.0

    def verify(self, F: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> RuleVerification:
        """The rules checked on images ``F`` (decisions ``y``) they were not learnt from: a :class:`RuleVerification` of
        held-out statistics per rule beside the training ones, and the held-out fidelity and coverage."""
        firing, y = self.firing(F), np.asarray(y)
        weights = _check_sample_weight(sample_weight, firing, dtype=np.float64, ensure_non_negative=True)
        table = verification_table(self.rules_, firing, y, self.classes_, weights)
        classes, by_rule = self._decide(firing)
        return RuleVerification(table, *held_out_shares(weights, self.classes_[classes] == y, by_rule))

    def class_label(self, target: object) -> str:
        """The display name of a class: its ``target_names`` entry, or the label as text."""
        return display_name(target, self.target_names)

    def rule_parts(self, rule: "Rule | int") -> list:
        """The part names (in ``part_names_`` order) a rule or its index requires, directly or via its symbols."""
        check_is_fitted(self)
        rule = self.rules_[rule] if isinstance(rule, (int, np.integer)) else rule
        wanted = {p for symbol in rule.positive_features() for p in self.symbol_space_.symbol_parts(symbol)}
        return [p for p in self.part_names_ if p in wanted]

    def rules_for(self, target: object) -> list:
        """The rules of one class."""
        check_is_fitted(self)
        return [rule for rule in self.rules_ if rule.target == target]

    @property
    def complexity_(self) -> dict:
        """Number of rules and total number of conditions over all rules."""
        check_is_fitted(self)
        return {"n_rules": len(self.rules_), "total_length": sum(len(r) for r in self.rules_)}

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Names of the symbols rules are written in, the columns of :meth:`symbols`: the parts, then
        any relations; for MSXs, the candidate part sets (``{head, wing}``), then any ``(baseline)``."""
        check_is_fitted(self, "symbol_space_")
        return np.asarray(self.symbol_space_.names, dtype=object)

    def report(self, format: str = "text", verification: RuleVerification | None = None) -> str:
        """The rules, how they decide, and what the explanations say per class.

        Parameters
        ----------
        format : {"text", "markdown", "json"}, default="text"
            ``"json"`` is the self-sufficient ``rules.json`` that :func:`apply_rules` reads.
        verification : RuleVerification, default=None
            From :meth:`verify`: held-out figures are shown next to the training ones.
        """
        self._check_current()
        if format == "json":
            return json.dumps(_rule_report.rules_json(self, verification), indent=2, ensure_ascii=False)
        if format not in ("text", "markdown"):
            raise ValueError(f"format must be 'text', 'markdown' or 'json', got {format!r}.")
        return _rule_report.text_report(self, markdown=format == "markdown", verification=verification)

    def to_html(self, verification: RuleVerification | None = None) -> str:
        """The rules as an HTML fragment (the notebook display), optionally with held-out figures."""
        self._check_current()
        return _rule_report.html_report(self, verification)

    def _repr_html_(self):
        return self.to_html() if hasattr(self, "rules_") else html.escape(repr(self))

    def plot_rules(self, ax: "Axes | None" = None) -> "Figure":
        """Bar chart of each rule's coverage, annotated with its precision."""
        check_is_fitted(self)
        return plot_rules(self, ax=ax)

    def plot_weights(self, ax: "Axes | None" = None) -> "Figure":
        """Heatmap of an additive model's weights (a scorecard's points), rules by classes."""
        check_is_fitted(self)
        if self.decision_ != "weighted_sum":
            raise ValueError(f"plot_weights draws additive models; these rules decide {self.decision_!r}: "
                             "use plot_rules.")
        return plot_weights(self, ax=ax)

    def plot(self, ax: "Axes | None" = None) -> "Figure":
        """The rules' picture: :meth:`plot_weights` for additive models (scorecards), else :meth:`plot_rules`."""
        check_is_fitted(self)
        return (plot_weights if self.decision_ == "weighted_sum" else plot_rules)(self, ax=ax)

    def plot_part_importance(self, ax: "Axes | None" = None) -> "Figure":
        """Heatmap of the mean part score of each class's training images (class × part)."""
        check_is_fitted(self)
        title = "Share of MSXs with the part" if self.binarize_ == "msx" else "Part importance per class"
        return plot_class_part_table(self.class_part_scores_, self.class_names_, self.part_names_, ax, title)

    def plot_rule_examples(self, X: "PartImages", F: ArrayLike, rule: "int | Rule" = 0, n_images: int = 8) -> "Figure":
        """Up to ``n_images`` images of ``X`` (with their part masks) that a rule, or the rule
        of that index in ``rules_``, fires on, its parts highlighted; ``F`` as given to :meth:`fit`."""
        check_is_fitted(self)
        rule = self.rules_[rule] if isinstance(rule, (int, np.integer)) else rule
        fired = self.firing(F, [rule])[:, 0]
        return plot_rule_examples(X, np.flatnonzero(fired)[:n_images], rule, parts=self.rule_parts(rule))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Rules over binarised symbols are not meant to fit arbitrary numeric data well.
        tags.classifier_tags.poor_score = True
        return tags


def load_rules_json(rules_json: "dict | str | os.PathLike") -> dict:
    """The content of a ``rules.json``: a dict as it is, JSON text, or a file path."""
    if isinstance(rules_json, dict):
        return rules_json
    if isinstance(rules_json, (str, os.PathLike)) and not str(rules_json).lstrip().startswith("{"):
        with open(rules_json, encoding="utf-8") as handle:
            return json.load(handle)
    return json.loads(rules_json)


def apply_rules(rules_json: "dict | str | os.PathLike", scores: ArrayLike) -> np.ndarray:
    """Decide classes for new part scores from a ``rules.json`` alone, without a pickle.

    Parameters
    ----------
    rules_json : dict, str or path-like
        ``GlobalRuleExplainer.report("json")`` as a dict, JSON text or a file.
    scores : array-like of shape (n_images, n_columns)
        Local explanations as the rules were fitted on (part scores or MSX codes); a
        DataFrame's columns are matched by name to the file's ``binarization.columns``.

    Returns
    -------
    labels : ndarray of shape (n_images,)
        The class labels (as in the file's ``classes``) the rules decide.

    Raises
    ------
    ValueError
        For a file of another format version (skpartx 0.1 wrote none) or inconsistent
        content.
    """
    spec = load_rules_json(rules_json)
    version = spec.get("version")
    if version != RULES_JSON_VERSION:
        raise ValueError(
            f"rules.json has version {version!r}, this skpartx reads version {RULES_JSON_VERSION}"
            + (" (files of skpartx 0.1 have no version and no decision procedure: fit the rules again)."
               if version is None else ".")
        )
    space = SymbolSpace.from_dict(spec["binarization"], spec["symbols"])
    if hasattr(scores, "columns"):
        missing = [c for c in space.columns if c not in list(map(str, scores.columns))]
        if missing:
            raise ValueError(f"scores lack the column(s) {missing} that the rules were fitted on.")
        scores = scores[space.columns]
    symbols = space.transform(np.asarray(scores, dtype=np.float64))
    names = [c["name"] for c in spec["classes"]]
    labels = np.asarray([c["label"] for c in spec["classes"]])
    rules = spec["rules"]
    if spec["decision"] not in DECISIONS:
        raise ValueError(f"rules.json: unknown decision {spec['decision']!r}.")
    weights = weight_matrix([rule.get("weight") for rule in rules], names)
    intercept = spec.get("intercept")
    firing = space.firing(
        symbols, [[(c["feature"], c["operator"], c["threshold"]) for c in rule["conditions"]] for rule in rules]
    )
    classes, _ = decide(
        firing,
        spec["decision"],
        targets=[names.index(rule["target"]) for rule in rules],
        n_classes=len(names),
        default=names.index(spec["default"]),
        precisions=[rule["precision"] for rule in rules],
        weights=weights,
        intercept=None if intercept is None else [intercept[n] for n in names],
    )
    return labels[classes]
