"""Global symbolic rules per class, learned from local part explanations."""

import html
import json
import warnings
from dataclasses import asdict, dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._html import rules_table
from ._relations import parse_relation
from ._set_cover import all_subsets, fires, greedy_cover, observed_sets

_OPERATORS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
}
BINARIZE = ("relative", "fraction", "absolute", "top_k", "positive")
_DEFAULT_THRESHOLD = {"relative": 0.5, "fraction": 0.8, "absolute": 0.5}


@dataclass(frozen=True)
class Rule:
    """One conjunctive rule ``target ← condition ∧ condition ∧ ...``.

    Attributes
    ----------
    target : object
        The class the rule predicts (a label of ``y``).
    conditions : tuple of (str, str, float)
        ``(feature, operator, threshold)`` with ``operator`` in ``>``, ``>=``, ``<``,
        ``<=``, ``==``; features are symbols of ``get_feature_names_out()``, which are 1
        when the part (or relation) belongs to an image's explanation.
    support : float
        Training images on which the rule fires (their total ``sample_weight``).
    precision : float
        Share of those images that the model assigned to ``target``.
    coverage : float
        Share of the model's ``target`` images on which the rule fires.
    target_name : str or None
        Display name of the class.
    """

    target: object
    conditions: tuple
    support: int
    precision: float
    coverage: float
    target_name: str = None

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
        """Features the rule requires to be present (``== 1``)."""
        return [f for f, op, t in self.conditions if op == "==" and t == 1]

    def __str__(self):
        body = " ∧ ".join(self.condition_strings()) or "(always)"
        return f"{self.label} ← {body} (precision {self.precision:.2f}, covers {self.coverage:.0%})"

    def __len__(self):
        return len(self.conditions)


class GlobalRuleExplainer(ClassifierMixin, BaseEstimator):
    """Per-class rules over part symbols that reproduce a model's decisions.

    Each row of ``F`` holds one image's part scores (e.g. from :class:`PartAttributor`).
    Scores are binarised into *symbols* — "this part matters for this image's decision"
    — and each image's set of symbols is its local explanation. Columns named like
    ``"wing above body"`` (``PartAttributor(relations=True)``) are relational symbols: on
    when the relation holds in the image's part mask and both parts are on.

    With ``rule_model="set_cover"`` (GEPC), greedy set cover picks, per class, conjunctions
    of symbols until the class's images are covered: by default the class's most common
    local explanation among the still uncovered images, provided it keeps a minimum
    precision against the other classes. With an imodels learner, the learner is fitted on
    the symbols and its trees or rules are converted to the same :class:`Rule` objects.

    Parameters
    ----------
    rule_model : "set_cover", str or imodels estimator, default="set_cover"
        ``"set_cover"`` or one of ``"figs"``, ``"rulefit"``, ``"greedy_rule_list"``,
        ``"skope"``, ``"boosted"``, ``"oner"``, ``"c45"``, ``"hstree"``, or an (unfitted)
        imodels estimator. Binary-only learners are wrapped one-vs-rest.
    binarize : {"relative", "fraction", "absolute", "top_k", "positive"}, default="relative"
        When a part is on, per image:

        - ``"relative"``: score > 0 and ≥ ``threshold`` (0.5) × the image's top score —
          scale-free, suits every method;
        - ``"fraction"``: among the smallest set of top-scoring parts whose scores add up to
          ``threshold`` (0.8) of the image's total positive score — for Shapley values,
          whose total is f(image) − f(baseline), the parts carrying that share of it;
        - ``"absolute"``: score ≥ ``threshold`` (0.5) — e.g. for ``msx``, parts in at least
          half of the image's minimal sufficient explanations;
        - ``"top_k"``: the ``top_k`` highest positive scores;
        - ``"positive"``: score > 0 — for ``msx``, parts in any MSX.
    threshold : float, default=None
        Threshold of ``binarize``; ``None`` uses the default given above.
    top_k : int, default=2
        Parts kept per image by ``binarize="top_k"``.
    max_rule_length : int, default=3
        Most symbols in one set-cover conjunction.
    max_rules : int, default=5
        Most set-cover rules per class.
    min_precision : float, default=0.9
        Least share of a set-cover rule's firing images that must belong to its class.
    min_coverage : float, default=0.98
        Set cover stops adding rules to a class once this share of its training images is
        covered (0.98 keeps held-out coverage above 0.95 on the built-in benchmark).
    min_support : int, default=2
        Least number of a class's images a candidate conjunction must occur in.
    candidates : {"observed", "subsets"}, default="observed"
        ``"observed"`` (GEPC): candidates are the images' whole explanation sets, and each
        pick maximises the uncovered images it is the whole explanation of, so rules are
        complete local explanations ("head ∧ wing", not just "head"). ``"subsets"``: every
        sub-conjunction of an explanation is a candidate and each pick maximises the
        uncovered images it fires on, which favours the shortest separating rules.
    as_decision_list : bool, default=False
        Set cover only: learn one ordered list across classes (each pick is the best rule
        of any class on the images earlier rules left) and predict with the first rule that
        fires. Otherwise each class gets its own rules and prediction follows the most
        precise firing rule.
    target_names : sequence or dict, default=None
        Display names of the classes: indexed by class label (a sequence for labels
        ``0..K-1``, or a dict).
    random_state : int, RandomState instance or None, default=None
        Seed of imodels learners.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    rules_ : list of Rule
        Set cover: grouped by class in pick order (in list order with
        ``as_decision_list``). imodels: the learner's rules, converted.
    default_class_ : object
        Predicted when no rule fires: the most frequent class among the training images no
        rule covers (of all images when every image is covered).
    class_part_scores_ : ndarray of shape (n_classes, n_parts)
        Mean part score of each class's training images (for :meth:`plot_part_importance`).
    explanation_profile_ : dict
        Class → its three most common local explanations, as ``(symbols, share of the
        class's images)``.
    shortcuts_ : list of str
        Symbols in the explanation of at least half of the images of every class (with two
        or more classes): the model leans on them whatever the class — a likely shortcut,
        such as the background, that no per-class rule can single out.
    background_shortcuts_ : dict
        Class → share of its images whose explanation includes the ``"background"``
        symbol, for the classes where that share is at least one half (with two or more
        classes): the model decides these classes by what surrounds the object — a
        likely shortcut even when the other classes are explained by their parts.
    part_names_ : list of str
        The part (non-relation) columns.
    learner_ : object or None
        The fitted imodels adapter.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``F`` had string column names (e.g. a DataFrame of part scores).

    Examples
    --------
    >>> import numpy as np
    >>> from skpartx import GlobalRuleExplainer
    >>> F = np.array([[1.0, 0.9, 0.0], [0.8, 1.0, 0.1], [0.0, 0.1, 1.0], [0.1, 0.0, 0.9]])
    >>> rules = GlobalRuleExplainer().fit(F, [0, 0, 1, 1])
    >>> print(rules.rules_[0])
    0 ← x0 ∧ x1 (precision 1.00, covers 100%)
    """

    _parameter_constraints = {
        "rule_model": "no_validation",
        "binarize": [StrOptions(set(BINARIZE))],
        "threshold": [Interval(Real, None, None, closed="neither"), None],
        "top_k": [Interval(Integral, 1, None, closed="left")],
        "max_rule_length": [Interval(Integral, 1, None, closed="left")],
        "max_rules": [Interval(Integral, 1, None, closed="left")],
        "min_precision": [Interval(Real, 0, 1, closed="both")],
        "min_coverage": [Interval(Real, 0, 1, closed="both")],
        "min_support": [Interval(Integral, 1, None, closed="left")],
        "candidates": [StrOptions({"observed", "subsets"})],
        "as_decision_list": ["boolean"],
        "target_names": ["array-like", dict, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        rule_model="set_cover",
        *,
        binarize="relative",
        threshold=None,
        top_k=2,
        max_rule_length=3,
        max_rules=5,
        min_precision=0.9,
        min_coverage=0.98,
        min_support=2,
        candidates="observed",
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

    def _columns(self, names):
        """Split columns into parts and relations ``(column, a_column, b_column)``."""
        parts = [j for j, name in enumerate(names) if parse_relation(name, names) is None]
        part_names = [names[j] for j in parts]
        relations = []
        for j, name in enumerate(names):
            parsed = parse_relation(name, part_names)
            if parsed is not None:
                relations.append((j, parts[parsed[1]], parts[parsed[2]]))
        return parts, relations

    def _binarize_parts(self, scores):
        """On/off of each part column per row, following ``binarize``."""
        t = self.threshold if self.threshold is not None else _DEFAULT_THRESHOLD.get(self.binarize)
        positive = scores > 0
        if self.binarize == "positive":
            return positive
        if self.binarize == "absolute":
            return scores >= t
        if self.binarize == "relative":
            top = scores.max(axis=1, keepdims=True) if scores.shape[1] else np.zeros((len(scores), 1))
            return positive & (scores >= t * top)
        order = np.argsort(-scores, axis=1, kind="stable")
        ranked = np.take_along_axis(scores, order, axis=1)
        if self.binarize == "top_k":
            chosen = np.arange(scores.shape[1])[None, :] < self.top_k
        else:  # fraction: the top parts until their cumulative score first reaches t of the total
            cumulative = np.cumsum(np.clip(ranked, 0, None), axis=1)
            total = cumulative[:, -1:] if scores.shape[1] else np.zeros((len(scores), 1))
            chosen = np.concatenate([np.ones((len(scores), 1), bool), cumulative[:, :-1] < t * total], axis=1)
        on = np.zeros_like(positive)
        np.put_along_axis(on, order, chosen, axis=1)
        return on & positive

    def _symbols(self, F):
        """Binary symbols of a validated score matrix (columns as ``get_feature_names_out``)."""
        symbols = np.zeros(F.shape, dtype=bool)
        symbols[:, self._part_columns] = self._binarize_parts(F[:, self._part_columns])
        for column, a, b in self._relation_columns:
            symbols[:, column] = (F[:, column] > 0.5) & symbols[:, a] & symbols[:, b]
        return symbols

    def symbols(self, F):
        """The binary symbols of ``F`` that rules are written in, as a DataFrame."""
        import pandas as pd

        F = self._validated(F)
        return pd.DataFrame(self._symbols(F), columns=list(self.get_feature_names_out()))

    # -- fitting ---------------------------------------------------------------------------

    def _target_name(self, target):
        names = self.target_names
        if names is None:
            return None
        if isinstance(names, dict):
            return str(names[target]) if target in names else None
        try:
            return str(names[int(target)])
        except (ValueError, TypeError, IndexError):
            return None

    def _make_rule(self, target, conditions, symbols, y, weights):
        fired = self._fires(symbols, conditions)
        positive = y == target
        hits = float(weights[fired & positive].sum())
        support = float(weights[fired].sum())
        return Rule(
            target=target,
            conditions=tuple(conditions),
            support=int(support) if support.is_integer() else support,
            precision=hits / support if support > 0 else 0.0,
            coverage=hits / max(float(weights[positive].sum()), 1e-300),
            target_name=self._target_name(target),
        )

    def _fires(self, symbols, conditions):
        index = {name: j for j, name in enumerate(self.get_feature_names_out())}
        out = np.ones(len(symbols), dtype=bool)
        for feature, op, threshold in conditions:
            out &= _OPERATORS[op](symbols[:, index[feature]].astype(np.float64), threshold)
        return out

    def _set_cover(self, symbols, y_index, weights):
        """Conjunctions per class (or one ordered list) as ``[(class index, symbol indices)]``."""
        mine = observed_sets if self.candidates == "observed" else all_subsets
        gain = "exact" if self.candidates == "observed" else "covered"
        candidates = [
            mine(symbols[y_index == k], self.max_rule_length, self.min_support, weights[y_index == k])
            for k in range(len(self.classes_))
        ]
        if not self.as_decision_list:
            picks = []
            for k, class_candidates in enumerate(candidates):
                chosen = greedy_cover(
                    symbols,
                    y_index == k,
                    class_candidates,
                    self.max_rules,
                    self.min_precision,
                    self.min_coverage,
                    gain,
                    weights,
                )
                picks += [(k, conjunction) for conjunction, _ in chosen]
            return picks
        return self._decision_list(symbols, y_index, candidates, gain, weights)

    def _decision_list(self, symbols, y_index, candidates, gain, weights):
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
                    symbols[remaining],
                    y_index[remaining] == k,
                    class_candidates,
                    1,
                    self.min_precision,
                    1.0,
                    gain,
                    weights[remaining],
                )
                if not chosen:
                    continue
                conjunction, fired = chosen[0]
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, F, y, sample_weight=None):
        """Learn rules that reproduce ``y`` from the part scores ``F``.

        Parameters
        ----------
        F : array-like of shape (n_images, n_columns)
            Part scores, optionally followed by relation indicators; a DataFrame's column
            names become the symbols' names.
        y : array-like of shape (n_images,)
            The model's decisions on the images (see :func:`skpartx.predict_classes`).
        sample_weight : array-like of shape (n_images,), default=None
            Image weights, e.g. to balance classes; set cover weighs every count with them
            (an integer weight acts like repeating the image). In a pipeline, route them with
            metadata routing: ``GlobalRuleExplainer().set_fit_request(sample_weight=True)``.

        Returns
        -------
        self : GlobalRuleExplainer
        """
        F, y = validate_data(self, F, y, dtype=np.float64)
        check_classification_targets(y)
        weights = _check_sample_weight(sample_weight, F, dtype=np.float64, ensure_non_negative=True)
        if not weights.sum() > 0:
            raise ValueError("sample_weight must not be zero for every image.")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        names = list(self.get_feature_names_out())
        self._part_columns, self._relation_columns = self._columns(names)
        self.part_names_ = [names[j] for j in self._part_columns]
        symbols = self._symbols(F)
        self.learner_ = None
        if isinstance(self.rule_model, str) and self.rule_model == "set_cover":
            conjunctions = [
                (self.classes_[k], [(names[j], "==", 1) for j in conjunction])
                for k, conjunction in self._set_cover(symbols, y_index, weights)
            ]
        else:
            from ._imodels import IMODELS_LEARNERS, ImodelsRules

            if isinstance(self.rule_model, str) and self.rule_model not in IMODELS_LEARNERS:
                raise ValueError(
                    f"rule_model={self.rule_model!r} is unknown; use 'set_cover', one of {list(IMODELS_LEARNERS)} "
                    "or an imodels estimator."
                )
            self.learner_ = ImodelsRules(self.rule_model, random_state=self.random_state)
            self.learner_.fit(symbols.astype(np.float64), y, names, sample_weight=sample_weight)
            conjunctions = self.learner_.rules()
        self.rules_ = [self._make_rule(target, conditions, symbols, y, weights) for target, conditions in conjunctions]
        self.class_part_scores_ = np.stack(
            [
                np.average(F[y_index == k][:, self._part_columns], axis=0, weights=weights[y_index == k])
                if weights[y_index == k].sum() > 0
                else np.zeros(len(self._part_columns))
                for k in range(len(self.classes_))
            ]
        )
        self._profile(symbols, y_index, names, weights)
        uncovered = ~self._rule_firing(symbols).any(axis=1) & (weights > 0)
        pool = uncovered if uncovered.any() else np.ones(len(y_index), dtype=bool)
        class_weight = np.bincount(y_index[pool], weights=weights[pool], minlength=len(self.classes_))
        self.default_class_ = self.classes_[class_weight.argmax()]
        return self

    def _profile(self, symbols, y_index, names, weights):
        """Most common explanations per class, and symbols common to every class's explanations."""
        self.explanation_profile_ = {}
        shares = np.zeros((len(self.classes_), len(names)))
        for k, target in enumerate(self.classes_):
            rows, w = symbols[y_index == k], weights[y_index == k]
            total = w.sum() if w.sum() > 0 else 1.0
            sets, inverse = np.unique(rows, axis=0, return_inverse=True)
            counts = np.bincount(inverse.ravel(), weights=w, minlength=len(sets))
            top = np.argsort(-counts, kind="stable")[:3]
            self.explanation_profile_[target] = [
                (tuple(names[j] for j in np.flatnonzero(sets[t])), float(counts[t] / total)) for t in top if counts[t] > 0
            ]
            shares[k] = w @ rows / total
        several = len(self.classes_) > 1
        common = (shares >= 0.5).all(axis=0) if several else np.zeros(len(names), bool)
        self.shortcuts_ = [names[j] for j in np.flatnonzero(common)]
        self.background_shortcuts_ = {}
        if several and "background" in names and "background" not in self.shortcuts_:
            share = shares[:, list(names).index("background")]
            self.background_shortcuts_ = {t: float(share[k]) for k, t in enumerate(self.classes_) if share[k] >= 0.5}

    # -- prediction ----------------------------------------------------------------------

    def _rule_firing(self, symbols):
        """Bool (n_images, n_rules): which rules fire on which images."""
        return np.stack([self._fires(symbols, r.conditions) for r in self.rules_], axis=1) if self.rules_ else (
            np.zeros((len(symbols), 0), dtype=bool)
        )

    def _validated(self, F):
        check_is_fitted(self)
        return validate_data(self, F, reset=False, dtype=np.float64)

    def predict(self, F):
        """The model decision the rules give each image.

        Set cover: the first firing rule (decision list) or the most precise firing rule,
        else ``default_class_``. imodels: the learner's own prediction on the symbols.

        Parameters
        ----------
        F : array-like of shape (n_images, n_columns)

        Returns
        -------
        y : ndarray of shape (n_images,)
        """
        symbols = self._symbols(self._validated(F))
        if self.learner_ is not None:
            return np.asarray(self.learner_.predict(symbols.astype(np.float64)))
        firing = self._rule_firing(symbols)
        if self.as_decision_list:
            order = range(len(self.rules_))
        else:
            order = sorted(range(len(self.rules_)), key=lambda r: (-self.rules_[r].precision, -self.rules_[r].support))
        prediction = np.full(len(symbols), self.default_class_, dtype=self.classes_.dtype)
        decided = np.zeros(len(symbols), dtype=bool)
        for r in order:
            new = firing[:, r] & ~decided
            prediction[new] = self.rules_[r].target
            decided |= new
        return prediction

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

    def coverage(self, F, y):
        """Share of images on which a rule of the model's decided class ``y`` fires."""
        symbols = self._symbols(self._validated(F))
        y = np.asarray(y)
        if not self.rules_:
            return 0.0
        targets = np.array([rule.target for rule in self.rules_], dtype=self.classes_.dtype)
        return float((self._rule_firing(symbols) & (targets[None, :] == y[:, None])).any(axis=1).mean())

    @property
    def complexity_(self):
        """Number of rules and total number of conditions over all rules."""
        check_is_fitted(self)
        return {"n_rules": len(self.rules_), "total_length": sum(len(r) for r in self.rules_)}

    def get_feature_names_out(self, input_features=None):
        """Names of the symbols the rules are written in: the parts, then any relations."""
        check_is_fitted(self, "n_features_in_")
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def rules_for(self, target):
        """The rules of one class."""
        check_is_fitted(self)
        return [rule for rule in self.rules_ if rule.target == target]

    # -- reporting -----------------------------------------------------------------------

    def _class_label(self, target):
        return self._target_name(target) or str(target)

    def report(self, format="text"):
        """The rules per class as text, Markdown or JSON.

        Parameters
        ----------
        format : {"text", "markdown", "json"}, default="text"

        Returns
        -------
        report : str
        """
        check_is_fitted(self)
        if format == "json":
            return json.dumps(self._report_dict(), indent=2, ensure_ascii=False)
        if format not in ("text", "markdown"):
            raise ValueError(f"format must be 'text', 'markdown' or 'json', got {format!r}.")
        markdown = format == "markdown"
        lines = ["# Global rules" if markdown else "Global rules", ""]
        if self.as_decision_list and self.learner_ is None:
            lines += [f"{k + 1}. {rule}" for k, rule in enumerate(self.rules_)]
            lines.append("")
        else:
            for target in self.classes_:
                rules = self.rules_for(target)
                lines.append(f"## {self._class_label(target)}" if markdown else f"{self._class_label(target)}:")
                if not rules:
                    lines.append(("- " if markdown else "  ") + "(no rule reaches the required precision)")
                lines += [("- " if markdown else "  ") + str(rule) for rule in rules]
                lines.append("")
        lines.append(f"Otherwise: {self._class_label(self.default_class_)}.")
        lines += ["", "## Most common local explanations" if markdown else "Most common local explanations:"]
        for target, profile in self.explanation_profile_.items():
            shown = ", ".join(f"{' ∧ '.join(s) or '(none)'} ({share:.0%})" for s, share in profile)
            lines.append(("- " if markdown else "  ") + f"{self._class_label(target)}: {shown}")
        if self.shortcuts_:
            lines += [
                "",
                f"Warning: {', '.join(self.shortcuts_)} explains at least half of the images of every class: "
                "the model leans on it whatever the class, a likely shortcut.",
            ]
        for target, share in self.background_shortcuts_.items():
            label = self._class_label(target)
            lines += [
                "",
                f"Warning: the background is in the explanations of {share:.0%} of the images decided as {label}: "
                f"the model decides {label} by what surrounds the object, a likely shortcut.",
            ]
        return "\n".join(lines)

    def _report_dict(self):
        def plain(value):
            return value.item() if isinstance(value, np.generic) else value

        rules = []
        for rule in self.rules_:
            entry = asdict(rule)
            entry["target"] = plain(entry["target"])
            entry["target_name"] = rule.label
            entry["conditions"] = [
                {"feature": f, "operator": op, "threshold": plain(t)} for f, op, t in rule.conditions
            ]
            entry["text"] = str(rule)
            rules.append(entry)
        return {
            "rule_model": self.rule_model if isinstance(self.rule_model, str) else type(self.rule_model).__name__,
            "classes": [plain(c) for c in self.classes_],
            "default_class": plain(self.default_class_),
            "decision_list": bool(self.as_decision_list and self.learner_ is None),
            "rules": rules,
            "explanation_profile": {
                self._class_label(target): [{"symbols": list(s), "share": share} for s, share in profile]
                for target, profile in self.explanation_profile_.items()
            },
            "shortcuts": list(self.shortcuts_),
            "background_shortcuts": {str(self._class_label(t)): share for t, share in self.background_shortcuts_.items()},
        }

    def _repr_html_(self):
        if not hasattr(self, "rules_"):
            return html.escape(repr(self))
        warning = ""
        if self.shortcuts_:
            warning = (
                "<p><b>Likely shortcut:</b> "
                + html.escape(", ".join(self.shortcuts_))
                + " explains at least half of the images of every class.</p>"
            )
        for target, share in self.background_shortcuts_.items():
            warning += (
                f"<p><b>Likely shortcut:</b> the background is in the explanations of {share:.0%} of the images "
                f"decided as {html.escape(str(self._class_label(target)))}.</p>"
            )
        return rules_table(self.rules_) + warning

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
        labels = [self._class_label(c) for c in self.classes_]
        return plot_class_part_table(self.class_part_scores_, labels, self.part_names_, ax=ax)

    def plot_rule_examples(self, X, F, rule=0, n_images=8):
        """A grid of images a rule covers, with the rule's parts highlighted.

        Parameters
        ----------
        X : PartImages
            The images with their (transferred) part masks.
        F : array-like of shape (n_images, n_columns)
            Their part scores, as given to :meth:`fit`.
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
        covered = np.flatnonzero(self._fires(self._symbols(self._validated(F)), rule.conditions))
        return plot_rule_examples(X, covered[:n_images], rule)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Rules over binarised symbols are not meant to fit arbitrary numeric data well.
        tags.classifier_tags.poor_score = True
        return tags
