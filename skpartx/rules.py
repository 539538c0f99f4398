"""Global symbolic rules per class, learned from local part explanations."""

import html
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._html import rules_table
from ._set_cover import all_subsets, greedy_cover, observed_sets

_OPERATORS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
}


@dataclass(frozen=True)
class Rule:
    """One conjunctive rule ``target ← condition ∧ condition ∧ ...``.

    Attributes
    ----------
    target : object
        The class the rule predicts (a label of ``y``).
    conditions : tuple of (str, str, float)
        ``(feature, operator, threshold)`` with ``operator`` in ``>``, ``>=``, ``<``,
        ``<=``, ``==``; features are symbols of ``get_feature_names_out()``.
    support : int
        Training images on which the rule fires.
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

    def __str__(self):
        body = " ∧ ".join(self.condition_strings()) or "(always)"
        return f"{self.label} ← {body} (precision {self.precision:.2f}, covers {self.coverage:.0%})"

    def __len__(self):
        return len(self.conditions)


class GlobalRuleExplainer(ClassifierMixin, BaseEstimator):
    """Per-class rules over part symbols that reproduce a model's decisions.

    Part scores (one row per image, one column per part, e.g. from
    :class:`PartAttributor`) are binarised into symbols ("this part matters for this
    image's decision"); each image's set of symbols is its local explanation. Then, for
    each class, greedy set cover (GEPC) picks conjunctions of symbols until the class's
    images are covered: by default the class's most common local explanation among the
    still uncovered images, read as a conjunction, provided it keeps a minimum precision
    against the other classes. A rule fires on (covers) every image whose explanation
    contains all its symbols.

    Parameters
    ----------
    rule_model : {"set_cover"}, default="set_cover"
        The rule learner.
    binarize : {"relative", "absolute"}, default="relative"
        ``"relative"``: a part is on when its score is positive and at least
        ``threshold`` × the image's highest part score. ``"absolute"``: when its score
        is at least ``threshold``.
    threshold : float, default=0.5
    max_rule_length : int, default=3
        Most symbols in one conjunction.
    max_rules : int, default=5
        Most rules per class.
    min_precision : float, default=0.9
        Least share of a rule's firing images that must belong to its class.
    min_coverage : float, default=0.95
        Stop adding rules to a class once this share of its images is covered.
    min_support : int, default=2
        Least number of a class's images a candidate conjunction must occur in.
    candidates : {"observed", "subsets"}, default="observed"
        ``"observed"`` (GEPC): candidates are the images' whole explanation sets, and each
        pick maximises the uncovered images it is the whole explanation of, so rules are
        complete local explanations ("head ∧ wing", not just "head").
        ``"subsets"``: every sub-conjunction of an explanation is a candidate and each
        pick maximises the uncovered images it fires on, which favours the shortest
        rules that separate the classes.
    target_names : sequence or dict, default=None
        Display names of the classes: indexed by class label (a sequence for labels
        ``0..K-1``, or a dict).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    rules_ : list of Rule
        Rules grouped by class, in the order set cover picked them.
    default_class_ : object
        Predicted when no rule fires: the most frequent class.
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
        "rule_model": [StrOptions({"set_cover"})],
        "binarize": [StrOptions({"relative", "absolute"})],
        "threshold": [Interval(Real, None, None, closed="neither")],
        "max_rule_length": [Interval(Integral, 1, None, closed="left")],
        "max_rules": [Interval(Integral, 1, None, closed="left")],
        "min_precision": [Interval(Real, 0, 1, closed="both")],
        "min_coverage": [Interval(Real, 0, 1, closed="both")],
        "min_support": [Interval(Integral, 1, None, closed="left")],
        "candidates": [StrOptions({"observed", "subsets"})],
        "target_names": ["array-like", dict, None],
    }

    def __init__(
        self,
        rule_model="set_cover",
        *,
        binarize="relative",
        threshold=0.5,
        max_rule_length=3,
        max_rules=5,
        min_precision=0.9,
        min_coverage=0.95,
        min_support=2,
        candidates="observed",
        target_names=None,
    ):
        self.rule_model = rule_model
        self.binarize = binarize
        self.threshold = threshold
        self.max_rule_length = max_rule_length
        self.max_rules = max_rules
        self.min_precision = min_precision
        self.min_coverage = min_coverage
        self.min_support = min_support
        self.candidates = candidates
        self.target_names = target_names

    def _symbols(self, F):
        """Binary part symbols of a validated score matrix."""
        if self.binarize == "absolute":
            return F >= self.threshold
        row_max = F.max(axis=1, keepdims=True) if F.shape[1] else np.zeros((len(F), 1))
        return (F > 0) & (F >= self.threshold * row_max)

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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, F, y):
        """Learn rules that reproduce ``y`` from the part scores ``F``.

        Parameters
        ----------
        F : array-like of shape (n_images, n_parts)
            Part scores; a DataFrame's column names become the symbols' names.
        y : array-like of shape (n_images,)
            The model's decisions on the images (see :func:`skpartx.predict_classes`).

        Returns
        -------
        self : GlobalRuleExplainer
        """
        F, y = validate_data(self, F, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        symbols = self._symbols(F)
        names = self.get_feature_names_out()
        rules = []
        for k, target in enumerate(self.classes_):
            positive = y_index == k
            mine = observed_sets if self.candidates == "observed" else all_subsets
            candidates = mine(symbols[positive], self.max_rule_length, self.min_support)
            gain = "exact" if self.candidates == "observed" else "covered"
            picks = greedy_cover(
                symbols, positive, candidates, self.max_rules, self.min_precision, self.min_coverage, gain
            )
            for conjunction, fired in picks:
                rules.append(
                    Rule(
                        target=target,
                        conditions=tuple((str(names[j]), "==", 1) for j in conjunction),
                        support=int(fired.sum()),
                        precision=float((fired & positive).sum() / max(fired.sum(), 1)),
                        coverage=float((fired & positive).sum() / positive.sum()),
                        target_name=self._target_name(target),
                    )
                )
        self.rules_ = rules
        self.default_class_ = self.classes_[np.bincount(y_index).argmax()]
        return self

    def _rule_firing(self, F):
        """Bool (n_images, n_rules): which rules fire on which images."""
        names = {name: j for j, name in enumerate(self.get_feature_names_out())}
        symbols = self._symbols(F).astype(np.float64)
        out = np.ones((len(F), len(self.rules_)), dtype=bool)
        for r, rule in enumerate(self.rules_):
            for feature, op, threshold in rule.conditions:
                out[:, r] &= _OPERATORS[op](symbols[:, names[feature]], threshold)
        return out

    def _validated(self, F):
        check_is_fitted(self)
        return validate_data(self, F, reset=False, dtype=np.float64)

    def predict(self, F):
        """The class of the most precise rule that fires, or ``default_class_``.

        Parameters
        ----------
        F : array-like of shape (n_images, n_parts)

        Returns
        -------
        y : ndarray of shape (n_images,)
        """
        F = self._validated(F)
        firing = self._rule_firing(F)
        order = sorted(range(len(self.rules_)), key=lambda r: (-self.rules_[r].precision, -self.rules_[r].support))
        prediction = np.full(len(F), self.default_class_, dtype=self.classes_.dtype)
        decided = np.zeros(len(F), dtype=bool)
        for r in order:
            new = firing[:, r] & ~decided
            prediction[new] = self.rules_[r].target
            decided |= new
        return prediction

    def score(self, F, y, sample_weight=None):
        """Fidelity: the share of images on which the rules reproduce the model's decision ``y``."""
        return accuracy_score(y, self.predict(F), sample_weight=sample_weight)

    def coverage(self, F, y):
        """Share of images on which a rule of the model's decided class ``y`` fires."""
        F = self._validated(F)
        y = np.asarray(y)
        firing = self._rule_firing(F)
        targets = np.array([rule.target for rule in self.rules_], dtype=self.classes_.dtype)
        if not len(self.rules_):
            return 0.0
        return float((firing & (targets[None, :] == y[:, None])).any(axis=1).mean())

    def get_feature_names_out(self, input_features=None):
        """Names of the part symbols the rules are written in."""
        check_is_fitted(self, "n_features_in_")
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def rules_for(self, target):
        """The rules of one class."""
        check_is_fitted(self)
        return [rule for rule in self.rules_ if rule.target == target]

    def report(self, format="text"):
        """The rules per class as text or Markdown.

        Parameters
        ----------
        format : {"text", "markdown"}, default="text"

        Returns
        -------
        report : str
        """
        check_is_fitted(self)
        if format not in ("text", "markdown"):
            raise ValueError(f"format must be 'text' or 'markdown', got {format!r}.")
        lines = []
        heading = "# Global rules" if format == "markdown" else "Global rules"
        lines += [heading, ""]
        for target in self.classes_:
            name = self._target_name(target) or str(target)
            rules = self.rules_for(target)
            lines.append(f"## {name}" if format == "markdown" else f"{name}:")
            if not rules:
                lines.append("- no rule reaches the required precision" if format == "markdown" else "  (no rule reaches the required precision)")
            for rule in rules:
                lines.append(("- " if format == "markdown" else "  ") + str(rule))
            lines.append("")
        default = self._target_name(self.default_class_) or str(self.default_class_)
        lines.append(f"Otherwise: {default} (most frequent class).")
        return "\n".join(lines)

    def _repr_html_(self):
        if not hasattr(self, "rules_"):
            return html.escape(repr(self))
        return rules_table(self.rules_)

    def plot(self, ax=None):
        """Bar chart of the rules' coverage and precision (see :func:`skpartx.plotting.plot_rules`)."""
        from .plotting import plot_rules

        check_is_fitted(self)
        return plot_rules(self, ax=ax)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Rules over binarised symbols are not meant to fit arbitrary numeric data well.
        tags.classifier_tags.poor_score = True
        return tags
