"""Global symbolic rules per class, learned from local part explanations."""

import json
import os
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _rule_report
from ._decision import DECISIONS, decide, rule_firing
from ._part_scores import table_info
from ._rule_report import RULES_JSON_VERSION
from ._set_cover import all_subsets, drop_subsumed, fires, greedy_cover, observed_sets
from ._symbols import BINARIZE, SymbolSpace

_Z95 = 1.959963984540054


def wilson_interval(successes, trials, z=_Z95):
    """Wilson score interval of a proportion (95% by default); ``(0, 1)`` without trials.

    Weighted counts are accepted: ``trials`` then acts as the effective number of trials.
    """
    if trials <= 0:
        return (0.0, 1.0)
    p = min(max(successes / trials, 0.0), 1.0)
    denominator = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denominator
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    # the interval holds p itself; rounding must not push an end past it at p = 0 or 1
    return (max(0.0, min(float(centre - half), p)), min(1.0, max(float(centre + half), p)))


@dataclass(frozen=True)
class Rule:
    """One conjunctive rule ``target ← condition ∧ condition ∧ ...``.

    Attributes
    ----------
    target : object
        The class the rule predicts (a label of ``y``).
    conditions : tuple of (str, str, float)
        ``(symbol, operator, threshold)`` with ``operator`` in ``>``, ``>=``, ``<``,
        ``<=``, ``==``; symbols are the columns of :meth:`GlobalRuleExplainer.symbols`,
        which are 1 when the part (relation, or set of parts) belongs to an image's
        explanation.
    support : float
        Training images on which the rule fires (their total ``sample_weight``).
    precision : float
        Share of those images that the model assigned to ``target``.
    coverage : float
        Share of the model's ``target`` images on which the rule fires.
    target_name : str or None
        Display name of the class.
    precision_interval, coverage_interval : tuple of float or None
        95% Wilson intervals of ``precision`` and ``coverage``.
    weight : dict or None
        Additive rule models only: class name → what the rule adds to that class's score
        when it fires.
    """

    target: object
    conditions: tuple
    support: int
    precision: float
    coverage: float
    target_name: str = None
    precision_interval: tuple = None
    coverage_interval: tuple = None
    weight: dict = field(default=None, hash=False)

    @property
    def label(self):
        return self.target_name if self.target_name is not None else str(self.target)

    def condition_strings(self):
        """Each condition as text: a symbol's name, ``¬name``, or ``name op threshold``."""
        out = []
        for feature, op, threshold in self.conditions:
            if op == "==" and threshold in (0, 1):
                out.append(feature if threshold == 1 else f"¬{feature}")
            else:
                out.append(f"{feature} {op} {threshold:.3g}")
        return out

    def positive_features(self):
        """Symbols the rule requires to be present (``== 1``)."""
        return [f for f, op, t in self.conditions if op == "==" and t == 1]

    def weight_string(self):
        """The weights as text (``"weights racer +0.31, flyer -0.12"``), or ``""``."""
        if not self.weight:
            return ""
        return "weights " + ", ".join(f"{name} {value:+.3g}" for name, value in self.weight.items())

    def __str__(self):
        body = " ∧ ".join(self.condition_strings()) or "(always)"
        weights = f"{self.weight_string()}; " if self.weight else ""
        return f"{self.label} ← {body} ({weights}precision {self.precision:.2f}, covers {self.coverage:.0%})"

    def __len__(self):
        return len(self.conditions)


@dataclass
class RuleVerification:
    """Rules checked on images they were not learnt from (:meth:`GlobalRuleExplainer.verify`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per rule (in ``rules_`` order): ``rule``, ``class``, then ``support``,
        ``precision``, ``precision_low``, ``precision_high``, ``coverage``,
        ``coverage_low``, ``coverage_high`` for the training images (suffix ``_train``) and
        for the verification images (suffix ``_test``). Intervals are 95% Wilson intervals.
    fidelity : float
        Share of the verification images whose model decision the rules reproduce.
    coverage : float
        Share of the verification images covered by a rule of their decided class.
    n_images : float
        Number (total weight) of verification images.
    """

    table: object
    fidelity: float
    coverage: float
    n_images: float


class GlobalRuleExplainer(ClassifierMixin, BaseEstimator):
    """Per-class rules over part symbols that reproduce a model's decisions.

    Each row of ``F`` holds one image's local explanation, as given by
    :class:`PartAttributor`. Explanations become binary *symbols* — "this part matters
    for this image's decision" — and a rule is a conjunction of symbols. Part scores
    (Shapley values, occlusion, ...) are binarised per image (``binarize``); columns named
    like ``"wing above body"`` (``PartAttributor(relations=True)``) are relational symbols,
    on when the relation holds in the image's part mask and both parts are on. Minimal
    sufficient explanations (``PartAttributor(method="msx")``) keep each MSX its own
    candidate conjunction, as GEPC does: the symbol ``{head, wing}`` is on when head and
    wing contain one of the image's MSXs and each belongs to one of them; the empty MSX
    (the baseline alone suffices) turns on only the symbol ``(baseline)``.

    How rules decide (one procedure per fitted model, see ``decision_``, printed in every
    report, written in ``rules.json``): ``"most_precise"`` (set cover): the most precise
    firing rule decides, equal precision → the rule listed first; ``"first_match"``
    (decision lists, trees): the first firing rule decides; ``"weighted_sum"`` (vote-based
    imodels learners): each class sums its intercept and the weights of the firing rules,
    the largest sum decides, equal sums → the class listed first. No deciding rule → the
    default class. ``predict``, ``score``, ``coverage``, every report and
    :func:`apply_rules` on ``rules.json`` use exactly these rules and this procedure.

    Parameters
    ----------
    rule_model : "set_cover", str or imodels estimator, default="set_cover"
        ``"set_cover"`` (GEPC's greedy set cover) or one of ``"figs"``, ``"rulefit"``,
        ``"greedy_rule_list"``, ``"skope"``, ``"boosted"``, ``"oner"``, ``"c45"``,
        ``"hstree"``, or an (unfitted) imodels estimator, fitted on the symbols and written
        as rules with the decision procedure that reproduces its own predictions.
        Binary-only learners are wrapped one-vs-rest.
    binarize : {"auto", "msx", "relative", "fraction", "absolute", "top_k", "positive"}, default="auto"
        How ``F`` becomes symbols:

        - ``"auto"``: ``"msx"`` when ``F`` comes from ``PartAttributor(method="msx")`` (its
          output says so), ``"fraction"`` otherwise (changed in 0.2: ``"relative"`` before;
          ``benchmarks/rules.py`` measures why);
        - ``"msx"``: ``F`` holds MSX membership codes (see ``PartAttributor``);
        - ``"relative"``: a part is on when its score is > 0 and ≥ ``threshold`` (0.5) ×
          the image's top score — scale-free, suits every scoring method;
        - ``"fraction"``: among the smallest set of top-scoring parts whose scores add up to
          ``threshold`` (0.8) of the image's total positive score — for Shapley values,
          whose total is f(image) − f(baseline), the parts carrying that share of it;
        - ``"absolute"``: score ≥ ``threshold`` (0.5);
        - ``"top_k"``: the ``top_k`` highest positive scores;
        - ``"positive"``: score > 0.
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
        Set cover stops adding rules to a class once this share of its training images is
        covered.
    min_support : int, default=2
        Least number of a class's images a candidate conjunction must fire on.
    candidates : {"auto", "observed", "subsets"}, default="auto"
        ``"observed"`` (GEPC): candidates are the images' own local explanations — each
        of their MSXs, or their whole symbol sets — so rules are complete local
        explanations. ``"subsets"``: every conjunction of up to ``max_rule_length``
        symbols (for MSXs, of parts) found in explanations is a candidate. ``"auto"``:
        ``"observed"`` for MSXs, which are minimal by construction (a proper part of an MSX
        does not suffice), ``"subsets"`` for part scores, whose binarised sets are not
        minimal, so the conjunction common to most explanations becomes the rule (changed
        in 0.2: ``"observed"`` before). Either way each pick is the candidate that fires
        on the most still-uncovered images of the class (ties: the shorter, then the more
        precise), and a rule that a more general chosen rule of its class with at least
        its precision subsumes is dropped.
    as_decision_list : bool, default=False
        Set cover only: learn one ordered list across classes (each pick is the best rule
        of any class on the images earlier rules left) and decide by the first firing
        rule. Otherwise each class gets its own rules and the most precise firing rule
        decides.
    target_names : sequence or dict, default=None
        Display names of the classes: indexed by class label (a sequence for labels
        ``0..K-1``, or a dict).
    random_state : int, RandomState instance or None, default=None
        Seed of imodels learners.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_names_ : list of str
        Display name of each class (``target_names`` or the label as text), unique.
    rules_ : list of Rule
        Set cover: grouped by class in pick order (in list order with
        ``as_decision_list``). imodels: the learner's rules.
    decision_ : {"first_match", "most_precise", "weighted_sum"}
        How ``rules_`` decide.
    default_class_ : object
        Decided when no rule decides: set cover, the most frequent class among the
        training images no rule fires on (of all images when every image is covered);
        imodels, the learner's own default (for additive models, the class with the
        largest intercept).
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
        for MSXs, the baseline alone keeps the model's confidence), for the classes where
        that happens at all.
    shortcuts_ : list of str
        Names in the explanation of at least half of the images of every class (with two
        or more classes): the model leans on them whatever the class — a likely shortcut,
        such as the background, that no per-class rule can single out.
    background_shortcuts_ : dict
        Class → share of its images whose explanation includes the ``"background"``
        part, for the classes where that share is at least one half (with two or more
        classes): the model decides these classes by what surrounds the object.
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
    0 ← x0 ∧ x1 (precision 1.00, covers 100%)
    """

    _parameter_constraints = {
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
        "as_decision_list": ["boolean"],
        "target_names": ["array-like", dict, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        rule_model="set_cover",
        *,
        binarize="auto",
        threshold=None,
        top_k=2,
        max_rule_length=3,
        max_rules=5,
        min_precision=0.9,
        min_coverage=0.98,
        min_support=2,
        candidates="auto",
        as_decision_list=False,
        target_names=None,
        random_state=None,
    ):
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
        self.as_decision_list = as_decision_list
        self.target_names = target_names
        self.random_state = random_state

    # -- symbols -------------------------------------------------------------------------

    def _resolve_defaults(self, encoding):
        """``binarize`` and ``candidates`` for this table: ``"auto"`` reads them off the encoding.

        Minimal sufficient explanations are minimal by construction, so a proper part of
        one does not suffice: each MSX is its own candidate (GEPC). A binarised set of part
        scores is not minimal, so any conjunction within it is a candidate, and the one
        common to most images' explanations becomes the rule.
        """
        if self.binarize == "auto":
            binarize = "msx" if encoding == "msx" else "fraction"
        else:
            binarize = self.binarize
        if encoding == "msx" and binarize != "msx":
            raise ValueError(
                f"F holds minimal sufficient explanations (PartAttributor(method='msx')), which binarize="
                f"{self.binarize!r} cannot read as part scores; use binarize='auto' or 'msx'."
            )
        if binarize == "msx":
            return binarize, "observed" if self.candidates == "auto" else self.candidates
        candidates = "subsets" if self.candidates == "auto" else self.candidates
        changed = [f"{name}={new!r} (was {old!r})" for name, value, new, old in (
            ("binarize", self.binarize, binarize, "relative"), ("candidates", self.candidates, candidates, "observed"),
        ) if value == "auto"]
        if changed:
            warnings.warn(
                f"GlobalRuleExplainer's defaults for part scores changed in skpartx 0.2: {' and '.join(changed)}, "
                "which reproduce the model better on both built-in data families (benchmarks/RESULTS.md); pass the "
                "former values for the former rules, or the new ones to silence this warning.",
                FutureWarning,
                stacklevel=3,
            )
        return binarize, candidates

    def symbols(self, F):
        """The binary symbols of ``F`` that rules are written in, as a DataFrame.

        Columns are ``get_feature_names_out()``; the conditions of ``rules_`` (and of
        ``rules.json``) refer to them.
        """
        import pandas as pd

        return pd.DataFrame(self._symbols(F), columns=list(self.get_feature_names_out()))

    def _symbols(self, F):
        F = self._validated(F)
        return self.symbol_space_.transform(F)

    def rule_parts(self, rule):
        """The part names a rule requires, directly or through relations and part sets.

        Parameters
        ----------
        rule : Rule or int
            A rule or its index in ``rules_``.

        Returns
        -------
        parts : list of str
            In the order of ``part_names_``.
        """
        check_is_fitted(self)
        rule = self.rules_[rule] if isinstance(rule, (int, np.integer)) else rule
        wanted = {p for symbol in rule.positive_features() for p in self.symbol_space_.symbol_parts(symbol)}
        return [p for p in self.part_names_ if p in wanted]

    # -- fitting ---------------------------------------------------------------------------

    def class_label(self, target):
        """The display name of a class: its ``target_names`` entry, or the label as text."""
        names = self.target_names
        if isinstance(names, dict):
            return str(names[target]) if target in names else str(target)
        if names is not None:
            try:
                return str(names[int(target)])
            except (ValueError, TypeError, IndexError):
                pass
        return str(target)

    def _candidates(self, symbols, y_index, weights, k):
        """Set-cover candidates of class ``k`` (sorted tuples of symbol indices)."""
        rows = y_index == k
        if self.binarize_ == "msx":  # each symbol is one conjunction of parts
            support = symbols[rows].T.astype(np.float64) @ weights[rows]
            return [(j,) for j in np.flatnonzero(support >= self.min_support - 1e-12)]
        mine = observed_sets if self.candidates_ == "observed" else all_subsets
        return mine(symbols[rows], self.max_rule_length, self.min_support, weights[rows])

    def _set_cover(self, symbols, y_index, weights):
        """Set-cover picks ``[(class index, symbol indices)]``, grouped by class or as one ordered list."""
        candidates = [self._candidates(symbols, y_index, weights, k) for k in range(len(self.classes_))]
        if self.as_decision_list:
            return self._decision_list(symbols, y_index, candidates, weights)
        picks = []
        for k, class_candidates in enumerate(candidates):
            chosen = greedy_cover(
                symbols, y_index == k, class_candidates, self.max_rules, self.min_precision, self.min_coverage, weights
            )
            picks += [(k, conjunction) for conjunction, _, _ in drop_subsumed(chosen, weights)]
        return picks

    def _decision_list(self, symbols, y_index, candidates, weights):
        """Greedy ordered list: each step takes the best admissible rule of any class on the
        images that earlier rules leave, judged on those images only."""
        remaining = weights > 0
        total = weights.sum()
        per_class = np.zeros(len(self.classes_), dtype=int)
        picks = []
        while remaining.any() and 1 - weights[remaining].sum() / total < self.min_coverage - 1e-12:
            best = None
            for k, class_candidates in enumerate(candidates):
                if per_class[k] >= self.max_rules or not class_candidates:
                    continue
                chosen = greedy_cover(
                    symbols[remaining], y_index[remaining] == k, class_candidates, 1, self.min_precision, 1.0,
                    weights[remaining],
                )
                if not chosen:
                    continue
                conjunction, fired, _ = chosen[0]
                score = float(weights[remaining][fired & (y_index[remaining] == k)].sum())
                if best is None or score > best[0] + 1e-12:
                    best = (score, k, conjunction)
            if best is None:
                break
            _, k, conjunction = best
            picks.append((k, conjunction))
            per_class[k] += 1
            remaining &= ~fires(symbols, conjunction)
        return picks

    def _fit_imodels(self, symbols, y, sample_weight):
        """Rules, decision, intercept and default of an imodels learner fitted on the symbols."""
        from ._imodels import IMODELS_LEARNERS, ImodelsRules

        if isinstance(self.rule_model, str) and self.rule_model not in IMODELS_LEARNERS:
            raise ValueError(
                f"rule_model={self.rule_model!r} is unknown; use 'set_cover', one of {list(IMODELS_LEARNERS)} "
                "or an imodels estimator."
            )
        self.learner_ = ImodelsRules(self.rule_model, random_state=self.random_state)
        self.learner_.fit(symbols.astype(np.float64), y, self.symbol_space_.names, sample_weight=sample_weight)
        model = self.learner_.rule_model()
        index = {self._plain(c): k for k, c in enumerate(self.classes_)}
        rules = []
        for target, conditions, weight in model["rules"]:
            named = None if weight is None else {self.class_names_[index[self._plain(c)]]: float(w) for c, w in weight.items()}
            rules.append((index[self._plain(target)], tuple(conditions), named))
        if model["decision"] == "weighted_sum":
            rules = self._merged_terms(rules)
        intercept = None
        if model.get("intercept") is not None:
            intercept = np.zeros(len(self.classes_))
            for c, value in model["intercept"].items():
                intercept[index[self._plain(c)]] = float(value)
        return model["decision"], rules, intercept, index[self._plain(model["default"])]

    def _merged_terms(self, rules):
        """Additive rules with the same conditions as one rule whose weights are their sums.

        Boosting and sums of trees repeat a condition with several weights; one line per
        condition reads better and decides the same (the sum only changes its order of
        addition). The merged rule's class is the one its weights raise most.
        """
        merged = {}
        for _, conditions, weight in rules:
            total = merged.setdefault(frozenset(conditions), [conditions, {}])[1]
            for name, value in weight.items():
                total[name] = total.get(name, 0.0) + value
        out = []
        for conditions, weight in merged.values():
            weight = {name: value for name, value in weight.items() if value != 0}
            if weight:
                best = max(self.class_names_, key=lambda n: (weight.get(n, 0.0), -self.class_names_.index(n)))
                out.append((self.class_names_.index(best), conditions, weight))
        return out

    @staticmethod
    def _plain(value):
        return value.item() if isinstance(value, np.generic) else value

    def _statistics(self, firing, targets, y_index, weights):
        """Support, precision and coverage (with 95% intervals) of each rule on labelled images."""
        out = []
        class_weight = np.bincount(y_index, weights=weights, minlength=len(self.classes_))
        for r, k in enumerate(targets):
            fired = firing[:, r]
            hits = float(weights[fired & (y_index == k)].sum())
            support = float(weights[fired].sum())
            positives = float(class_weight[k])
            out.append(
                {
                    "support": int(support) if support.is_integer() else support,
                    "precision": hits / support if support > 0 else 0.0,
                    "precision_interval": wilson_interval(hits, support),
                    "coverage": hits / positives if positives > 0 else 0.0,
                    "coverage_interval": wilson_interval(hits, positives),
                }
            )
        return out

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, F, y, sample_weight=None):
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
            Image weights, e.g. to balance classes; every count is weighted (an integer
            weight acts like repeating the image). In a pipeline, route them with
            metadata routing: ``GlobalRuleExplainer().set_fit_request(sample_weight=True)``.

        Returns
        -------
        self : GlobalRuleExplainer
        """
        carried_names, encoding = table_info(F)
        F, y = validate_data(self, F, y, dtype=np.float64)
        check_classification_targets(y)
        weights = _check_sample_weight(sample_weight, F, dtype=np.float64, ensure_non_negative=True)
        if not weights.sum() > 0:
            raise ValueError("sample_weight must not be zero for every image.")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self.class_names_ = self._unique_names([self.class_label(c) for c in self.classes_])
        if hasattr(self, "feature_names_in_"):
            columns = [str(c) for c in self.feature_names_in_]
        elif carried_names is not None:
            columns = carried_names
        else:
            columns = [f"x{i}" for i in range(self.n_features_in_)]
        self.binarize_, self.candidates_ = self._resolve_defaults(encoding)
        if self.binarize_ == "msx":
            self.symbol_space_ = SymbolSpace.for_msx(
                columns, F, y_index, weights, self.max_rule_length, self.min_support, self.candidates_
            )
        else:
            self.symbol_space_ = SymbolSpace.for_scores(columns, self.binarize_, self.threshold, self.top_k)
        self.part_names_ = list(self.symbol_space_.part_columns)
        symbols = self.symbol_space_.transform(F)
        names = self.symbol_space_.names
        self.learner_ = None
        self.intercept_ = None
        if isinstance(self.rule_model, str) and self.rule_model == "set_cover":
            self.decision_ = "first_match" if self.as_decision_list else "most_precise"
            raw = [(k, tuple((names[j], "==", 1) for j in conjunction), None)
                   for k, conjunction in self._set_cover(symbols, y_index, weights)]
            default = None
        else:
            self.decision_, raw, self.intercept_, default = self._fit_imodels(symbols, y, sample_weight)
        targets = np.array([k for k, _, _ in raw], dtype=np.int64)
        firing = rule_firing(symbols, [conditions for _, conditions, _ in raw], {n: j for j, n in enumerate(names)})
        statistics = self._statistics(firing, targets, y_index, weights)
        self.rules_ = [
            Rule(target=self._plain(self.classes_[k]), conditions=conditions, target_name=self._target_name(k),
                 weight=weight, **stats)
            for (k, conditions, weight), stats in zip(raw, statistics)
        ]
        if default is None:  # set cover: the majority of the images no rule fires on
            uncovered = ~firing.any(axis=1) & (weights > 0)
            pool = uncovered if uncovered.any() else np.ones(len(y_index), dtype=bool)
            default = int(np.bincount(y_index[pool], weights=weights[pool], minlength=len(self.classes_)).argmax())
        self.default_class_ = self._plain(self.classes_[default])
        self._profile(F, y_index, weights)
        return self

    def _target_name(self, k):
        """The display name a rule of class index ``k`` shows (None when it is just the label)."""
        name = self.class_names_[k]
        return None if self.target_names is None and name == str(self.classes_[k]) else name

    @staticmethod
    def _unique_names(names):
        counts = {n: names.count(n) for n in names}
        return [f"{n} ({k})" if counts[n] > 1 else n for k, n in enumerate(names)]

    def _profile(self, F, y_index, weights):
        """Explanation statistics per class: part importance, common explanations, empty ones, shortcuts."""
        space = self.symbol_space_
        values = space.part_values(F)
        explanations = space.explanations(F)
        n_classes = len(self.classes_)
        self.class_part_scores_ = np.zeros((n_classes, len(self.part_names_)))
        self.explanation_profile_, self.empty_explanations_ = {}, {}
        names = sorted({n for sets in explanations for s in sets for n in s}, key=self._name_order)
        shares = np.zeros((n_classes, len(names)))
        for k, target in enumerate(self.classes_):
            rows = np.flatnonzero((y_index == k) & (weights > 0))
            total = weights[rows].sum()
            if total <= 0:
                continue
            self.class_part_scores_[k] = np.average(values[rows], axis=0, weights=weights[rows])
            counts, empty = {}, 0.0
            for i in rows:
                for s in set(explanations[i]):
                    counts[s] = counts.get(s, 0.0) + weights[i]
                empty += weights[i] * (explanations[i] == [frozenset()])
                for n in set().union(*explanations[i]):
                    shares[k, names.index(n)] += weights[i] / total
            top = sorted(counts.items(), key=lambda kv: (-kv[1], len(kv[0]), sorted(kv[0])))[:3]
            target = self._plain(target)
            self.explanation_profile_[target] = [
                (tuple(sorted(s, key=self._name_order)), float(count / total)) for s, count in top
            ]
            if empty > 0:
                self.empty_explanations_[target] = float(empty / total)
        several = n_classes > 1
        common = (shares >= 0.5).all(axis=0) if several else np.zeros(len(names), bool)
        self.shortcuts_ = [names[j] for j in np.flatnonzero(common)]
        self.background_shortcuts_ = {}
        if several and "background" in names and "background" not in self.shortcuts_:
            share = shares[:, names.index("background")]
            self.background_shortcuts_ = {
                self._plain(t): float(share[k]) for k, t in enumerate(self.classes_) if share[k] >= 0.5
            }

    def _name_order(self, name):
        columns = self.symbol_space_.columns
        return (columns.index(name), name) if name in columns else (len(columns), name)

    # -- prediction ----------------------------------------------------------------------

    def __setstate__(self, state):
        super().__setstate__(state)
        if "rules_" in state and "decision_" not in state:
            self._saved_by_old_release = True

    def _check_current(self):
        """Fitted, and not by a release whose rules did not record how they decide."""
        check_is_fitted(self)
        if getattr(self, "_saved_by_old_release", False):
            raise ValueError(
                "This GlobalRuleExplainer was saved by skpartx 0.1, whose rules did not record how they decide; "
                "fit it again with this version of skpartx."
            )

    def _validated(self, F):
        self._check_current()
        return validate_data(self, F, reset=False, dtype=np.float64)

    def _decide(self, F):
        """Class index decided for each image and whether a rule of that class decided it."""
        symbols = self._symbols(F)
        index = {n: j for j, n in enumerate(self.symbol_space_.names)}
        firing = rule_firing(symbols, [r.conditions for r in self.rules_], index)
        return decide(firing, self.decision_, **self._decision_arrays())

    def _decision_arrays(self):
        classes = [self._plain(c) for c in self.classes_]
        n_classes = len(classes)
        weights = np.zeros((len(self.rules_), n_classes))
        for r, rule in enumerate(self.rules_):
            for name, value in (rule.weight or {}).items():
                weights[r, self.class_names_.index(name)] = value
        return {
            "targets": np.array([classes.index(r.target) for r in self.rules_], dtype=np.int64),
            "n_classes": n_classes,
            "default": classes.index(self.default_class_),
            "precisions": np.array([r.precision for r in self.rules_]),
            "weights": weights,
            "intercept": self.intercept_,
        }

    def predict(self, F):
        """The model decision the rules give each image (see ``decision_``).

        Parameters
        ----------
        F : array-like of shape (n_images, n_columns)

        Returns
        -------
        y : ndarray of shape (n_images,)
        """
        decided, _ = self._decide(F)
        return self.classes_[decided]

    def score(self, F, y, sample_weight=None):
        """Fidelity: the share of images on which the rules reproduce the model's decision ``y``.

        Classes of ``y`` the rules were not fitted on can never be reproduced; a warning
        names them.
        """
        predicted = self.predict(F)
        unseen = np.setdiff1d(np.unique(np.asarray(y)), self.classes_).tolist()
        if unseen:
            warnings.warn(
                f"y holds class(es) {unseen} that the rules were not fitted on, so they count as errors; fit on "
                "images of every class the model decides.",
                UserWarning,
                stacklevel=2,
            )
        return accuracy_score(y, predicted, sample_weight=sample_weight)

    def coverage(self, F, y, sample_weight=None):
        """Share of images decided by a rule of the model's decided class ``y``.

        An image counts only when the rule that decides it (``decision_``) is of its class
        — never for two classes, and never through the default class.
        """
        classes, by_rule = self._decide(F)
        covered = by_rule & (self.classes_[classes] == np.asarray(y))
        return float(np.average(covered, weights=sample_weight)) if len(covered) else 0.0

    def verify(self, F, y, sample_weight=None):
        """The rules checked on other images, next to their training figures.

        The fitted estimator is not changed.

        Parameters
        ----------
        F : array-like of shape (n_images, n_columns)
            Local explanations of images the rules were not learnt from.
        y : array-like of shape (n_images,)
            The model's decisions on them.
        sample_weight : array-like of shape (n_images,), default=None

        Returns
        -------
        verification : RuleVerification
            Per-rule training and held-out support, precision and coverage with 95%
            intervals, and the held-out fidelity and coverage. Pass it to :meth:`report`.
        """
        import pandas as pd

        symbols = self._symbols(F)
        y = np.asarray(y)
        weights = _check_sample_weight(sample_weight, symbols, dtype=np.float64, ensure_non_negative=True)
        known = np.isin(y, self.classes_)
        y_index = np.where(known, np.searchsorted(self.classes_, y), -1)
        index = {n: j for j, n in enumerate(self.symbol_space_.names)}
        firing = rule_firing(symbols, [r.conditions for r in self.rules_], index)
        arrays = self._decision_arrays()
        held_out = self._statistics(firing[known], arrays["targets"], y_index[known], weights[known])
        rows = []
        for rule, test in zip(self.rules_, held_out):
            row = {"rule": str(rule), "class": rule.target}
            for suffix, stats in (("train", _training_statistics(rule)), ("test", test)):
                row[f"support_{suffix}"] = stats["support"]
                for measure in ("precision", "coverage"):
                    row[f"{measure}_{suffix}"] = stats[measure]
                    row[f"{measure}_low_{suffix}"], row[f"{measure}_high_{suffix}"] = stats[f"{measure}_interval"] or (
                        np.nan, np.nan)
            rows.append(row)
        classes, by_rule = decide(firing, self.decision_, **arrays)
        total = weights.sum()
        correct = self.classes_[classes] == y
        return RuleVerification(
            table=pd.DataFrame(rows),
            fidelity=float(weights[correct].sum() / total) if total > 0 else 0.0,
            coverage=float(weights[correct & by_rule].sum() / total) if total > 0 else 0.0,
            n_images=float(total),
        )

    @property
    def complexity_(self):
        """Number of rules and total number of conditions over all rules."""
        check_is_fitted(self)
        return {"n_rules": len(self.rules_), "total_length": sum(len(r) for r in self.rules_)}

    def get_feature_names_out(self, input_features=None):
        """Names of the symbols the rules are written in (the columns of :meth:`symbols`).

        For part scores: the parts, then any relations. For MSXs: the candidate sets of
        parts (``{head, wing}``), then ``(baseline)`` when some images have the empty MSX.
        """
        check_is_fitted(self, "symbol_space_")
        return np.asarray(self.symbol_space_.names, dtype=object)

    def rules_for(self, target):
        """The rules of one class."""
        check_is_fitted(self)
        return [rule for rule in self.rules_ if rule.target == target]

    # -- reporting -----------------------------------------------------------------------

    def report(self, format="text", verification=None):
        """The rules, how they decide, and what the explanations say per class.

        Parameters
        ----------
        format : {"text", "markdown", "json"}, default="text"
            ``"json"`` is the self-sufficient ``rules.json`` that :func:`apply_rules` reads.
        verification : RuleVerification, default=None
            From :meth:`verify`: held-out precision and coverage are shown next to the
            training ones.

        Returns
        -------
        report : str
        """
        self._check_current()
        if format == "json":
            return json.dumps(_rule_report.rules_json(self, verification), indent=2, ensure_ascii=False)
        if format not in ("text", "markdown"):
            raise ValueError(f"format must be 'text', 'markdown' or 'json', got {format!r}.")
        return _rule_report.text_report(self, markdown=format == "markdown", verification=verification)

    def to_html(self, verification=None):
        """The rules as an HTML fragment (the notebook display), optionally with held-out figures."""
        self._check_current()
        return _rule_report.html_report(self, verification)

    def _repr_html_(self):
        if not hasattr(self, "rules_"):
            import html

            return html.escape(repr(self))
        return self.to_html()

    def plot_rules(self, ax=None):
        """Bar chart of each rule's coverage, annotated with its precision."""
        from .plotting import plot_rules

        check_is_fitted(self)
        return plot_rules(self, ax=ax)

    plot = plot_rules

    def plot_part_importance(self, ax=None):
        """Heatmap of the mean part score of each class's training images (class × part)."""
        from .plotting import plot_class_part_table

        check_is_fitted(self)
        title = "Share of MSXs with the part" if self.binarize_ == "msx" else "Part importance per class"
        return plot_class_part_table(self.class_part_scores_, self.class_names_, self.part_names_, ax=ax, title=title)

    def plot_rule_examples(self, X, F, rule=0, n_images=8):
        """A grid of images a rule fires on, with the rule's parts highlighted.

        Parameters
        ----------
        X : PartImages
            The images with their (transferred) part masks.
        F : array-like of shape (n_images, n_columns)
            Their local explanations, as given to :meth:`fit`.
        rule : int or Rule, default=0
            Index into ``rules_`` or a rule.
        n_images : int, default=8

        Returns
        -------
        fig : matplotlib.figure.Figure
        """
        from .plotting import plot_rule_examples

        check_is_fitted(self)
        rule = self.rules_[rule] if isinstance(rule, (int, np.integer)) else rule
        index = {n: j for j, n in enumerate(self.symbol_space_.names)}
        fired = rule_firing(self._symbols(F), [rule.conditions], index)[:, 0]
        return plot_rule_examples(X, np.flatnonzero(fired)[:n_images], rule, parts=self.rule_parts(rule))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Rules over binarised symbols are not meant to fit arbitrary numeric data well.
        tags.classifier_tags.poor_score = True
        return tags


def _training_statistics(rule):
    """A rule's training statistics, keyed as :meth:`GlobalRuleExplainer._statistics` returns them."""
    return {
        "support": rule.support,
        "precision": rule.precision,
        "coverage": rule.coverage,
        "precision_interval": rule.precision_interval,
        "coverage_interval": rule.coverage_interval,
    }


def load_rules_json(rules_json):
    """The content of a ``rules.json``: a dict as it is, JSON text, or a file path."""
    if isinstance(rules_json, dict):
        return rules_json
    if isinstance(rules_json, (str, os.PathLike)) and not str(rules_json).lstrip().startswith("{"):
        with open(rules_json, encoding="utf-8") as handle:
            return json.load(handle)
    return json.loads(rules_json)


def apply_rules(rules_json, scores):
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
    weights = np.zeros((len(rules), len(names)))
    for r, rule in enumerate(rules):
        for name, value in (rule.get("weight") or {}).items():
            weights[r, names.index(name)] = value
    intercept = spec.get("intercept")
    firing = rule_firing(
        symbols,
        [[(c["feature"], c["operator"], c["threshold"]) for c in rule["conditions"]] for rule in rules],
        {n: j for j, n in enumerate(space.names)},
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
