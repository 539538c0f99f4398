"""Rule learners from `imodels`, adapted to binary part-symbol matrices.

:class:`ImodelsRules` fits an imodels classifier on a 0/1 symbol matrix and converts
whatever the learner stores (trees, rule lists, weighted rule sets) into a rule model:
conjunctions of ``(symbol, "==", 0 or 1)`` and one decision procedure (first match, or
a weighted sum) that together reproduce the learner's own predictions on every 0/1
input. :class:`~skpartx.GlobalRuleExplainer` reports and scores exactly that model, read
in its classes by :func:`fit_rule_model`.
"""

import re
import warnings
from collections import namedtuple
from contextlib import contextmanager
from inspect import signature
from numbers import Integral
from typing import NamedTuple

import imodels
import numpy as np
from imodels.tree.hierarchical_shrinkage import HSTree
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier

from .._core.labels import plain

IMODELS_LEARNERS = (
    "figs", "rulefit", "greedy_rule_list", "skope", "boosted", "oner", "c45", "hstree"
)

_OPS = {
    "<=": np.less_equal,
    "<": np.less,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
}


def _default_learner(name):
    """An unfitted learner for ``name``: imodels' defaults, made explicit."""
    return {
        "figs": lambda: imodels.FIGSClassifier(max_rules=12),
        # 20 trees rather than 100: on a few binary symbols the extra trees only repeat
        # rules, and each fit (once per class) cross-validates the L1 penalty
        "rulefit": lambda: imodels.RuleFitClassifier(n_estimators=20, max_rules=20),
        "greedy_rule_list": lambda: imodels.GreedyRuleListClassifier(max_depth=5),
        "skope": lambda: imodels.SkopeRulesClassifier(),
        # a fresh stump per learner: the class default is one object shared by all instances
        "boosted": lambda: imodels.BoostedRulesClassifier(DecisionTreeClassifier(max_depth=1)),
        "oner": lambda: imodels.OneRClassifier(max_depth=5),
        "c45": lambda: imodels.C45TreeClassifier(),
        "hstree": lambda: imodels.HSTreeClassifier(DecisionTreeClassifier(max_leaf_nodes=20)),
    }[name]()


def _kind(learner):
    """How ``learner``'s decision is read: a key of ``_FIRST_MATCH``, ``_ADDITIVE`` or ``_SCORES``, or None."""
    if isinstance(learner, (imodels.FIGSClassifier, imodels.FIGSClassifierCV)):
        return "figs"
    if isinstance(learner, imodels.C45TreeClassifier):
        return "c45"
    if isinstance(learner, HSTree) and isinstance(learner.estimator_, DecisionTreeClassifier):
        return "cart"
    if isinstance(learner, DecisionTreeClassifier):  # e.g. imodels.GreedyTreeClassifier
        return "cart"
    if isinstance(learner, imodels.BoostedRulesClassifier) and (
        learner.estimator is None or isinstance(learner.estimator, DecisionTreeClassifier)
    ):
        return "boosted"
    if isinstance(learner, imodels.RuleFitClassifier):
        return "rulefit"
    if isinstance(learner, imodels.SkopeRulesClassifier):
        return "skope"
    if isinstance(learner, imodels.GreedyRuleListClassifier):  # OneRClassifier too
        return "rulelist"
    return None


def _clone(learner):
    """An unfitted copy of ``learner`` with the same parameters."""
    new = clone(learner)
    if isinstance(learner, HSTree):
        # HSTree.__init__ overwrites its tree's seed, which its get_params leaves out
        new.estimator_.random_state = learner.estimator_.random_state
    return new


def _set_random_state(learner, random_state):
    """Seed ``learner`` where it takes a seed; None keeps the learner's own."""
    if random_state is None:
        return learner
    if "random_state" in learner.get_params(deep=False):
        learner.set_params(random_state=random_state)
    if isinstance(learner, HSTree):
        learner.estimator_.random_state = random_state
    return learner


def make_learner(rule_model, random_state=None):
    """An unfitted imodels classifier for :class:`ImodelsRules`.

    Parameters
    ----------
    rule_model : str or estimator
        A name in ``IMODELS_LEARNERS``, or an imodels classifier instance (fitted or
        not) whose rules can be read: FIGS, C4.5, HSTree or a scikit-learn decision
        tree, boosted stumps, RuleFit, Skope-rules, a greedy rule list or OneR.
    random_state : int, RandomState or None, default=None
        Seed given to the learner where it takes one (None keeps an instance's own).

    Returns
    -------
    estimator
        A new, unfitted estimator (a clone when ``rule_model`` is an instance).

    Raises
    ------
    ValueError
        For an unknown name, or an instance whose rules cannot be read.
    """
    if isinstance(rule_model, str):
        if rule_model not in IMODELS_LEARNERS:
            raise ValueError(
                f"Unknown imodels rule learner {rule_model!r}; valid names are "
                f"{', '.join(IMODELS_LEARNERS)}, or pass an imodels estimator instance."
            )
        learner = _default_learner(rule_model)
    else:
        if _kind(rule_model) is None:
            raise ValueError(
                f"Cannot read rules from {type(rule_model).__name__}; pass one of "
                f"{', '.join(IMODELS_LEARNERS)} or an instance of the corresponding imodels class."
            )
        learner = _clone(rule_model)
    return _set_random_state(learner, random_state)


@contextmanager
def _quiet_and_seeded(random_state):
    """Silence imodels' warnings and fix numpy's global generator for the block.

    Some learners draw from the global generator whatever their ``random_state``
    (FIGS's and the rule lists' split stumps break ties with it; RuleFit reseeds it),
    so an integer seed is applied there too, and the caller's stream is restored.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not isinstance(random_state, Integral):
            yield
            return
        state = np.random.get_state()
        np.random.seed(int(random_state))
        try:
            yield
        finally:
            np.random.set_state(state)


# --------------------------------------------------------------------------------------
# conditions on binary symbols


def _condition(j, op, threshold):
    """``x_j op threshold`` on a 0/1 symbol: ``(j, 0 or 1)``, True (always), False (never)."""
    holds = [bool(_OPS[op](value, float(threshold))) for value in (0.0, 1.0)]
    if all(holds):
        return True
    if not any(holds):
        return False
    return (j, int(holds[1]))


def _conjunction(conditions):
    """Reduce ``(j, op, threshold)`` triples to unique ``(j, value)`` pairs, in order.

    Returns None when the conjunction cannot hold (a split that no 0/1 value passes,
    or the same symbol required both on and off).
    """
    out = {}
    for j, op, threshold in conditions:
        cond = _condition(j, op, threshold)
        if cond is True:
            continue
        if cond is False or out.get(cond[0], cond[1]) != cond[1]:
            return None
        out[cond[0]] = cond[1]
    return tuple(out.items())


def _negate(condition):
    j, op, threshold = condition
    return (j, {"<=": ">", ">": "<=", "<": ">=", ">=": "<"}[op], threshold)


# --------------------------------------------------------------------------------------
# each learner's own decision, read from its fitted structure. Conditions are raw
# (j, op, threshold) triples and classes are the integer codes the learner was fitted on.
# Multiclass learners give either first-match rules [(code, conditions)] (the first rule
# that holds decides) or additive terms [(conditions, {code: weight})] (every class adds
# the weights of the terms that hold, in list order, and the largest total wins).


def _tree_leaves(root, children, split):
    """``(path, leaf)`` for every leaf of a binary tree whose left branch is ``split``.

    ``children(node)`` is None at a leaf, else ``(left, right)``; ``split(node)`` is the
    ``(j, "<=", threshold)`` test that sends a row left.
    """
    leaves = []

    def walk(node, path):
        below = children(node)
        if below is None:
            leaves.append((path, node))
            return
        test = split(node)
        walk(below[0], path + [test])
        walk(below[1], path + [_negate(test)])

    walk(root, [])
    return leaves


def _sklearn_leaves(tree):
    """``(path, code)`` per leaf of a fitted scikit-learn classification tree.

    The tree predicts ``classes_[argmax(value)]`` at the leaf a row reaches (counts,
    fractions, or HSTree's shrunk values alike; ties go to the first class, as there).
    """
    t = tree.tree_
    return [
        (path, int(tree.classes_[np.argmax(t.value[leaf, 0])]))
        for path, leaf in _tree_leaves(
            0,
            lambda i: None if t.children_left[i] == t.children_right[i]
            else (t.children_left[i], t.children_right[i]),
            lambda i: (int(t.feature[i]), "<=", t.threshold[i]),
        )
    ]


def _cart_model(learner):
    tree = learner.estimator_ if isinstance(learner, HSTree) else learner
    return [(code, path) for path, code in _sklearn_leaves(tree)]


def _c45_model(learner):
    # the tree is an XML document: element tag = feature name, attribute "flag" is
    # "l" (x < feature), "r" (x >= feature) or "m" (x == feature), and a leaf's text is
    # the class code. With more than two classes predict_proba scores the leaf's class by
    # the leaf's "p" attribute (its branch's share of the parent's samples, rounded to 3
    # decimals) and falls back to a uniform distribution, hence code 0, where that is 0.
    index = {name: j for j, name in enumerate(learner.feature_names)}
    multiclass = len(learner.classes_) > 2
    rules = []

    def walk(node, path):
        children = [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]
        if not children:
            text = "".join(c.data for c in node.childNodes if c.nodeType == c.TEXT_NODE).strip()
            code = int(float(text))
            if multiclass and not float(node.getAttribute("p") or 0) > 0:
                code = 0
            rules.append((code, path))
            return
        for child in children:
            op = {"l": "<", "r": ">=", "m": "=="}[child.getAttribute("flag")]
            walk(child, path + [(index[child.tagName], op, float(child.getAttribute("feature")))])

    walk(learner.root, [])
    return rules


def _figs_model(learner):
    # predict adds up, over the trees, the value vector of the leaf each row reaches and
    # takes the argmax. Columns are class codes: FIGS one-hot encodes y with sorted
    # categories, for two classes too.
    terms = []
    for root in learner.trees_:
        leaves = _tree_leaves(
            root,
            lambda n: None if n.left is None and n.right is None else (n.left, n.right),
            lambda n: (int(n.feature), "<=", n.threshold),
        )
        terms += [(path, dict(enumerate(np.ravel(node.value)))) for path, node in leaves]
    return terms


def _boosted_model(learner):
    # AdaBoost (SAMME) decision_function: each tree adds its weight w to the class its
    # leaf predicts and -w/(K-1) to each other class, summed in tree order; predict takes
    # the argmax (for two classes the sign of score 1 - score 0, the same decision, ties
    # to the first class). scikit-learn then divides by the total weight, a positive
    # constant, which leaves the argmax unchanged.
    codes = list(learner.classes_)
    terms = []
    for tree, w in zip(learner.estimators_, learner.estimator_weights_):
        other = -1 / (len(codes) - 1) * w  # the same float operations as scikit-learn
        for path, predicted in _sklearn_leaves(tree):
            terms.append((path, {k: w if code == predicted else other for k, code in enumerate(codes)}))
    return terms


# binary learners give a score: class 1 iff intercept + (weights of the terms that hold,
# in list order) > threshold; one-vs-rest compares (intercept + sum) / scale across classes
_Score = namedtuple("_Score", "terms intercept threshold scale")


def _rulelist_score(learner):
    # a decision list: entry k holds when no earlier entry did and its own test does; the
    # last entry takes what is left. predict_proba gives that entry's probability p of
    # class 1, predict the argmax of (1 - p, p): class 1 iff p > 0.5 (1 - p is exact there)
    terms, earlier = [], []
    entries = learner.rules_
    for k, entry in enumerate(entries):
        if k == len(entries) - 1:
            terms.append((list(earlier), entry["val"]))
            break
        test = (int(entry["index_col"]), "<" if entry["flip"] else ">=", entry["cutoff"])
        terms.append((earlier + [test], entry["val_right"]))
        earlier.append(_negate(test))
    return _Score(terms, 0.0, 0.5, 1.0)


_TERM = re.compile(r"^X_(\d+)$")


def _rule_terms(rule):
    """``(j, op, threshold)`` of an imodels ``Rule`` over the placeholders ``X_j``."""
    terms = []
    for (feature, op), value in rule.agg_dict.items():
        if op == "==" and value == feature:  # "X_0 == X_0": imodels' rule that always fires
            continue
        terms.append((int(_TERM.match(feature).group(1)), op, float(value)))
    return terms


def _rulefit_score(learner):
    # the continuous output z = weights of the rules that hold + linear terms + intercept;
    # predict_proba is softmax([1 - z, z]), so predict says class 1 iff z > 0.5 (not 0:
    # imodels' threshold, kept since the rules must reproduce predict)
    terms = [(_rule_terms(rule), rule.args[0]) for rule in learner.rules_without_feature_names_]
    intercept = float(np.ravel(learner.intercept)[0])
    n_linear = len(learner.coef) - len(learner.rules_without_feature_names_)
    if learner.include_linear and n_linear:
        # a linear term is coef * f(x_j), f the learner's own winsorising and scaling
        # (identity for a 0/1 symbol unless winsorising clips it): coef * f(0) always,
        # plus coef * (f(1) - f(0)) when the symbol is on
        values = np.vstack([np.zeros(n_linear), np.ones(n_linear)])
        if learner.lin_standardise:
            values = learner.friedscale.scale(values)
        for j, coef in enumerate(learner.coef[:n_linear]):
            intercept += coef * values[0, j]
            terms.append(([(j, "==", 1.0)], coef * (values[1, j] - values[0, j])))
    return _Score(terms, intercept, 0.5, 1.0)


def _skope_score(learner):
    # predict_proba's class-1 probability is the precision-weighted vote: the precisions
    # of the rules that hold, summed in rule order, over their total W. predict says
    # class 1 iff that share > 1/2, which in floating point is exactly sum > W / 2
    rules = learner.rules_without_feature_names_
    total = np.sum([rule.args[0] for rule in rules])  # as predict_proba computes it
    if total == 0:  # no vote: predict_proba says class 0 everywhere
        return _Score([], 0.0, 0.0, 1.0)
    return _Score([(_rule_terms(rule), rule.args[0]) for rule in rules], 0.0, total / 2, total)


_FIRST_MATCH = {"cart": _cart_model, "c45": _c45_model}
_ADDITIVE = {"figs": _figs_model, "boosted": _boosted_model}
_SCORES = {"rulelist": _rulelist_score, "rulefit": _rulefit_score, "skope": _skope_score}
# learners that fit any number of classes themselves; the binary ones (_SCORES) are
# wrapped one-vs-rest
_MULTICLASS = set(_FIRST_MATCH) | set(_ADDITIVE)


def _first_match(rules, names):
    """A first-match rule model from ``[(label, raw conditions)]`` in list order."""
    out = []
    for target, conditions in rules:
        conjunction = _conjunction(conditions)
        if conjunction is None:  # holds for no 0/1 input
            continue
        if not conjunction:  # holds for every input the earlier rules leave: the default
            return {"decision": "first_match", "rules": out, "intercept": None, "default": target}
        out.append((target, _named(conjunction, names), None))
    # the rules cover every input (tree leaves, a list's final entry): the default is
    # never reached, and the last rule's class is as good as any
    return {"decision": "first_match", "rules": out, "intercept": None, "default": out[-1][0]}


def _weighted_sum(terms, intercept, labels, names):
    """A weighted-sum rule model from ``[(raw conditions, {label: weight})]``.

    Terms that always hold go into the intercept, terms that never hold and zero weights
    are dropped; the others keep their order, which is the order the learner adds them in.
    """
    intercept = {label: float(intercept.get(label, 0.0)) for label in labels}
    rules = []
    for conditions, weights in terms:
        weights = {label: float(weights[label]) for label in labels if weights.get(label, 0) != 0}
        conjunction = _conjunction(conditions)
        if conjunction is None or not weights:
            continue
        if not conjunction:
            for label, weight in weights.items():
                intercept[label] += weight
            continue
        # max keeps the first of equal values: ties go to the class that comes first
        target = max(labels, key=lambda label: weights.get(label, 0.0))
        rules.append((target, _named(conjunction, names), weights))
    default = max(labels, key=intercept.__getitem__)
    return {"decision": "weighted_sum", "rules": rules, "intercept": intercept, "default": default}


def _named(conjunction, names):
    return tuple((names[j], "==", value) for j, value in conjunction)


# --------------------------------------------------------------------------------------


class ImodelsRules:
    """An imodels classifier fitted on binary symbols, read back as an exact rule model.

    Learners that handle several classes (FIGS, C4.5, HSTree and scikit-learn trees,
    boosted stumps) are fitted once on all classes; the others are fitted once per
    class, that class against the rest (a single learner when there are two classes).

    Parameters
    ----------
    learner : str or estimator
        A name in ``IMODELS_LEARNERS`` or an imodels classifier instance (see
        :func:`make_learner`).
    random_state : int, RandomState or None, default=None
        Seed for the learners, for reproducible rules. An int also seeds numpy's
        global generator while fitting (restored afterwards), which some learners use
        to break ties between equally good splits.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels of ``y``.
    estimators_ : list of estimator
        The fitted imodels learners, each fitted on integer class codes: a single
        multiclass learner (code ``k`` is ``classes_[k]``); a single binary one for two
        classes (class 1 is ``classes_[1]``, or for Skope-rules the rarer label); or,
        one-vs-rest, ``estimators_[k]`` with ``classes_[k]`` as class 1.
    one_vs_rest_ : bool
        Whether ``estimators_`` holds one learner per class.
    n_features_in_ : int
    feature_names_in_ : list of str
        The symbol names given to :meth:`fit`.

    Notes
    -----
    :meth:`rule_model` converts the fitted learner(s) into rules over the symbols that,
    evaluated with the documented decision procedure, reproduce :meth:`predict` on every
    0/1 input. Trees (C4.5, HSTree, scikit-learn trees) give one rule per leaf, decision
    lists on two classes one rule per entry ("no earlier entry, and this one"): both are
    first-match models. Sums of trees (FIGS), boosted trees, RuleFit, Skope-rules and
    every one-vs-rest combination are weighted sums whose weights and intercepts are the
    learner's own numbers (leaf values, SAMME tree weights, logistic coefficients,
    precisions). Splits become ``== 0`` / ``== 1`` tests; rules that no 0/1 input
    satisfies are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> S = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [0, 0, 1]] * 10, dtype=float)
    >>> y = np.array(["bird", "bird", "other", "other"] * 10)
    >>> model = ImodelsRules("c45").fit(S, y, ["head", "wing", "tail"])
    >>> model.rule_model()
    {'decision': 'first_match', 'rules': [('other', (('head', '==', 0),), None), \
('bird', (('head', '==', 1),), None)], 'intercept': None, 'default': 'bird'}
    >>> model.rules()
    [('other', (('head', '==', 0),)), ('bird', (('head', '==', 1),))]
    """

    def __init__(self, learner, random_state=None):
        self.learner = learner
        self.random_state = random_state

    def _fit_one(self, template, S, y, sample_weight=None):
        learner = _set_random_state(_clone(template), self.random_state)
        names = [f"s{j}" for j in range(S.shape[1])]  # safe for every parser in imodels
        fit_params = signature(learner.fit).parameters
        kwargs = {}
        if "feature_names" in fit_params or isinstance(learner, HSTree):
            kwargs["feature_names"] = names
        if sample_weight is not None:
            if "sample_weight" not in fit_params and not isinstance(learner, HSTree):
                raise ValueError(f"{type(learner).__name__} does not accept sample_weight.")
            kwargs["sample_weight"] = sample_weight
        learner.fit(S, y, **kwargs)
        return learner

    def fit(self, S, y, names, sample_weight=None):
        """Fit the learner(s) and convert them into a rule model.

        Parameters
        ----------
        S : array-like of shape (n_samples, n_symbols)
            Binary symbol matrix (only 0 and 1).
        y : array-like of shape (n_samples,)
            Class labels, at least two distinct ones.
        names : sequence of str
            The symbols' names, any text.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to learners that accept it (ValueError for those that do not).

        Returns
        -------
        self : ImodelsRules
        """
        S = self._check_S(S, n_features=None)
        y = np.asarray(y)
        names = [str(name) for name in names]
        if y.ndim != 1 or len(y) != len(S):
            raise ValueError(f"y must be 1-d with {len(S)} labels, got shape {y.shape}.")
        if len(names) != S.shape[1]:
            raise ValueError(f"Got {len(names)} names for {S.shape[1]} symbols.")
        self.classes_, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError("y needs at least 2 classes.")
        self.n_features_in_ = S.shape[1]
        self.feature_names_in_ = names

        template = make_learner(self.learner, self.random_state)
        kind = _kind(template)
        self.one_vs_rest_ = kind not in _MULTICLASS and n_classes > 2
        # targets[i] is what learner i is fitted on; _class_of maps a single learner's
        # class codes to indices in classes_
        if kind in _MULTICLASS:
            targets, self._class_of = [codes], np.arange(n_classes)
        elif n_classes == 2:
            # class 1 is classes_[1], except for Skope-rules, which only learns rules
            # that detect class 1 and votes them by precision: that suits the rarer class
            pos = 0 if kind == "skope" and counts[0] < counts[1] else 1
            targets, self._class_of = [(codes == pos).astype(int)], np.array([1 - pos, pos])
        else:
            targets = [(codes == k).astype(int) for k in range(n_classes)]
            self._class_of = None
        with _quiet_and_seeded(self.random_state):
            self.estimators_ = [self._fit_one(template, S, target, sample_weight) for target in targets]
        self.rule_model_ = self._read_rule_model(kind)
        return self

    def _read_rule_model(self, kind):
        """The fitted learner(s) as a rule model (see :meth:`rule_model`)."""
        labels = [plain(label) for label in self.classes_]
        names = self.feature_names_in_
        if kind in _FIRST_MATCH:
            rules = [(labels[code], path) for code, path in _FIRST_MATCH[kind](self.estimators_[0])]
            return _first_match(rules, names)
        if kind in _ADDITIVE:
            terms = [
                (path, {labels[code]: weight for code, weight in weights.items()})
                for path, weights in _ADDITIVE[kind](self.estimators_[0])
            ]
            return _weighted_sum(terms, {}, labels, names)
        scores = [_SCORES[kind](learner) for learner in self.estimators_]
        if self.one_vs_rest_:
            # predict takes the argmax over classes of each learner's score for its
            # class 1 (see _positive_score): for every binary learner here that score is
            # (intercept + a sum of rule weights) / scale, so each class adds its own
            # learner's terms
            terms, intercept = [], {}
            for label, score in zip(labels, scores):
                intercept[label] = score.intercept / score.scale
                terms += [(path, {label: weight / score.scale}) for path, weight in score.terms]
            return _weighted_sum(terms, intercept, labels, names)
        score = scores[0]
        neg, pos = (labels[k] for k in self._class_of)
        if kind == "rulelist":
            # the list's entries hold on disjoint inputs that together cover all, so
            # the list itself, each entry deciding its own class, is exact
            rules = [(pos if weight > score.threshold else neg, path) for path, weight in score.terms]
            return _first_match(rules, names)
        # class pos iff intercept + sum > threshold: neg scores the threshold, and where
        # neg comes second in classes_ (and so loses ties) the next float above it, which
        # a float sum reaches exactly when it exceeds the threshold
        threshold = score.threshold
        if labels.index(neg) > labels.index(pos):
            threshold = np.nextafter(threshold, np.inf)
        terms = [(path, {pos: weight}) for path, weight in score.terms]
        return _weighted_sum(terms, {neg: threshold, pos: score.intercept}, labels, names)

    def predict(self, S):
        """Predict labels with the learner's own decision rule.

        One-vs-rest: the class whose learner gives the highest score for class 1 (its
        probability; RuleFit's continuous output), ties to the first class in
        ``classes_``.

        Parameters
        ----------
        S : array-like of shape (n_samples, n_symbols)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        if not hasattr(self, "estimators_"):
            raise AttributeError("This ImodelsRules instance is not fitted yet; call fit first.")
        S = self._check_S(S, n_features=self.n_features_in_)
        with _quiet_and_seeded(None):
            if self.one_vs_rest_:
                scores = np.column_stack([_positive_score(est, S) for est in self.estimators_])
                codes = np.argmax(scores, axis=1)
            else:
                codes = np.asarray(self.estimators_[0].predict(S)).astype(float).astype(int)
                codes = self._class_of[codes]
        return self.classes_[codes]

    def rule_model(self):
        """The fitted learner(s) as rules and one decision procedure that reproduces :meth:`predict`.

        Returns
        -------
        dict
            ``"decision"``: ``"first_match"`` or ``"weighted_sum"``.
            ``"rules"``: list of ``(target_label, conditions, weight)``; ``conditions``
            is a non-empty tuple of ``(symbol_name, "==", 0 or 1)`` that must all hold.
            ``"intercept"``: ``{label: float}`` for every class (weighted_sum), else None.
            ``"default"``: a label.

            *first_match*: the first rule, in list order, whose conditions hold decides
            its ``target_label``; when none holds, ``default``. ``weight`` is None.

            *weighted_sum*: every class ``c`` scores ``intercept[c]`` plus
            ``weight[c]`` of each rule whose conditions hold, added in list order (the
            order the learner adds them in, so that floating-point sums agree); the
            largest score wins, ties going to the class that comes first in
            ``classes_``. ``weight`` is a dict ``{label: float}`` of non-zero entries and
            ``target_label`` the class it raises most (ties: first in ``classes_``).
            ``default`` is the decision when no rule holds, the argmax of the intercept.

        Notes
        -----
        Per learner: trees (C4.5, HSTree with its shrunk values, scikit-learn trees) give
        one first-match rule per leaf. A decision list (greedy rule list, OneR) on two
        classes gives one first-match rule per entry. FIGS gives one rule per leaf of
        each tree, weighted by the leaf's value vector. Boosted trees give one rule per
        leaf, weighted as SAMME votes: the tree's weight for the class the leaf predicts,
        ``-weight / (n_classes - 1)`` for the others. RuleFit on two classes: the rule
        and linear-term coefficients for the positive class, intercept the logistic
        intercept (plus linear terms at 0), against 0.5 for the other class (its predict
        thresholds the logistic output at 0.5). Skope-rules on two classes: each rule's
        precision for the positive class, against half the total precision.
        One-vs-rest: each class gets its own learner's terms and intercept, on the scale
        :meth:`predict` compares: RuleFit's continuous output (its probability is a
        sigmoid of it), Skope's vote share (precisions over their total), a decision
        list's probability of the entry that holds (one term per entry).
        """
        if not hasattr(self, "rule_model_"):
            raise AttributeError("This ImodelsRules instance is not fitted yet; call fit first.")
        model = dict(self.rule_model_)
        model["rules"] = [
            (target, conditions, dict(weight) if weight is not None else None)
            for target, conditions, weight in model["rules"]
        ]
        if model["intercept"] is not None:
            model["intercept"] = dict(model["intercept"])
        return model

    def rules(self):
        """The rule model's distinct ``(label, conditions)`` pairs, in order.

        A view of :meth:`rule_model` without weights, intercept or default.

        Returns
        -------
        list of (label, conditions)
            ``conditions`` is a non-empty tuple of ``(name, "==", 1)`` (symbol on) and
            ``(name, "==", 0)`` (symbol off), a conjunction.
        """
        if not hasattr(self, "rule_model_"):
            raise AttributeError("This ImodelsRules instance is not fitted yet; call fit first.")
        out = []
        for target, conditions, _ in self.rule_model_["rules"]:
            if (target, conditions) not in out:
                out.append((target, conditions))
        return out

    @staticmethod
    def _check_S(S, n_features):
        S = np.asarray(S, dtype=float)
        if S.ndim != 2:
            raise ValueError(f"S must be 2-d, got shape {S.shape}.")
        if n_features is not None and S.shape[1] != n_features:
            raise ValueError(f"S has {S.shape[1]} symbols, expected {n_features}.")
        if not np.isin(S, (0.0, 1.0)).all():
            raise ValueError("S must hold only 0 and 1.")
        return S

    def __repr__(self):
        return f"ImodelsRules({self.learner!r}, random_state={self.random_state!r})"


def _positive_score(learner, S):
    """A binary learner's probability of class 1, which one-vs-rest compares across classes.

    (RuleFit's probability is a strictly increasing map of its continuous output, which its
    rule model sums, so both pick the same class except where the probability rounds two
    different outputs to the same number.)
    """
    return np.asarray(learner.predict_proba(S))[:, 1]


class FittedRuleModel(NamedTuple):
    """An imodels learner's rules in the classes of :class:`~skpartx.GlobalRuleExplainer`.

    Attributes
    ----------
    learner : ImodelsRules
        The fitted adapter.
    decision : {"first_match", "weighted_sum"}
    rules : list of (int, tuple, dict or None)
        ``(class index, conditions, weight)``; ``weight`` maps class names to what the rule
        adds to each class's score (``"weighted_sum"``), None otherwise.
    intercept : ndarray of shape (n_classes,) or None
        Each class's score before any rule fires (``"weighted_sum"``).
    default : int
        Class index decided when no rule decides.
    """

    learner: ImodelsRules
    decision: str
    rules: list
    intercept: np.ndarray
    default: int


def fit_rule_model(rule_model, symbols, y, symbol_names, classes, class_names, sample_weight=None,
                   random_state=None):
    """Fit an imodels learner on binary symbols and read its rules in class indices and names.

    Parameters
    ----------
    rule_model : str or estimator
        A name in ``IMODELS_LEARNERS`` or an imodels classifier (see :func:`make_learner`).
    symbols : bool ndarray of shape (n_images, n_symbols)
    y : ndarray of shape (n_images,)
        Labels, each one of ``classes``.
    symbol_names : list of str
    classes : ndarray of shape (n_classes,)
        The sorted labels of ``y``.
    class_names : list of str
        Unique display name of each class, in the order of ``classes``.
    sample_weight : array-like of shape (n_images,), default=None
    random_state : int, RandomState or None, default=None

    Returns
    -------
    fitted : FittedRuleModel
        Additive rules with the same conditions are merged into one (:func:`_merged_terms`).

    Raises
    ------
    ValueError
        For an unknown learner name.
    """
    if isinstance(rule_model, str) and rule_model not in IMODELS_LEARNERS:
        raise ValueError(
            f"rule_model={rule_model!r} is unknown; use 'set_cover', 'scorecard', one of {list(IMODELS_LEARNERS)} "
            "or an imodels estimator."
        )
    learner = ImodelsRules(rule_model, random_state=random_state)
    learner.fit(symbols.astype(np.float64), y, symbol_names, sample_weight=sample_weight)
    model = learner.rule_model()
    index = {plain(c): k for k, c in enumerate(classes)}
    rules = []
    for target, conditions, weight in model["rules"]:
        named = None if weight is None else {class_names[index[plain(c)]]: float(w) for c, w in weight.items()}
        rules.append((index[plain(target)], tuple(conditions), named))
    if model["decision"] == "weighted_sum":
        rules = _merged_terms(rules, class_names)
    intercept = None
    if model.get("intercept") is not None:
        intercept = np.zeros(len(classes))
        for c, value in model["intercept"].items():
            intercept[index[plain(c)]] = float(value)
    return FittedRuleModel(learner, model["decision"], rules, intercept, index[plain(model["default"])])


def _merged_terms(rules, class_names):
    """Additive rules with the same conditions as one rule whose weights are their sums.

    Boosting and sums of trees repeat a condition with several weights; one line per
    condition reads better and decides the same (the sum only changes its order of
    addition). The merged rule's class is the one its weights raise most (ties: the class
    listed first).
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
            best = max(class_names, key=lambda n: (weight.get(n, 0.0), -class_names.index(n)))
            out.append((class_names.index(best), conditions, weight))
    return out
