"""Rule learners from `imodels`, adapted to binary part-symbol matrices.

:class:`ImodelsRules` fits an imodels classifier on a 0/1 symbol matrix and converts
whatever the learner stores (trees, rule lists, weighted rule sets) into conjunctions
``(symbol, "==", 0 or 1)``, the form :class:`~skpartx.GlobalRuleExplainer` reports.
"""

import re
import warnings
from contextlib import contextmanager
from inspect import signature
from numbers import Integral

import imodels
import numpy as np
from imodels.tree.hierarchical_shrinkage import HSTree
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier

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
    """How rules are read from ``learner``: a key of ``_EXTRACTORS``, or None."""
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


# learners that fit any number of classes themselves; the others are wrapped one-vs-rest
_MULTICLASS = {"figs", "c45", "cart", "boosted"}


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
# rule extraction: each returns [(class index in the learner's 0..K-1 coding, [(j, op, t)])]


def _figs_rules(learner):
    # a sum of trees: each leaf adds its value vector to the score, so a leaf is a
    # rule for the class it raises most (leaves that raise none are skipped)
    rules = []

    def walk(node, path):
        if node.left is None and node.right is None:
            value = np.ravel(node.value)
            if value.max() > 0:
                rules.append((int(np.argmax(value)), path))
            return
        split = (int(node.feature), "<=", node.threshold)
        walk(node.left, path + [split])
        walk(node.right, path + [_negate(split)])

    for root in learner.trees_:
        walk(root, [])
    return rules


def _sklearn_tree_rules(tree):
    """Root-to-leaf paths of a fitted scikit-learn classification tree."""
    t = tree.tree_
    rules = []

    def walk(node, path):
        if t.children_left[node] == t.children_right[node]:
            # the tree predicts the largest entry (counts, fractions or shrunk values)
            rules.append((int(np.argmax(t.value[node, 0])), path))
            return
        split = (int(t.feature[node]), "<=", t.threshold[node])
        walk(t.children_left[node], path + [split])
        walk(t.children_right[node], path + [_negate(split)])

    walk(0, [])
    return rules


def _cart_rules(learner):
    return _sklearn_tree_rules(learner.estimator_ if isinstance(learner, HSTree) else learner)


def _boosted_rules(learner):
    # AdaBoost (SAMME) adds each stump's weight to the class its leaf predicts
    return [
        rule
        for stump, weight in zip(learner.estimators_, learner.estimator_weights_)
        if weight > 0
        for rule in _sklearn_tree_rules(stump)
    ]


def _c45_rules(learner):
    # the tree is an XML document: element tag = feature name, attribute "flag" is
    # "l" (x < feature) or "r" (x >= feature), and a leaf's text is the class code
    index = {name: j for j, name in enumerate(learner.feature_names)}
    rules = []

    def walk(node, path):
        children = [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]
        text = "".join(c.data for c in node.childNodes if c.nodeType == c.TEXT_NODE).strip()
        if not children:
            if text:
                rules.append((int(float(text)), path))
            return
        for child in children:
            j = index[child.tagName]
            op = {"l": "<", "r": ">=", "m": "=="}[child.getAttribute("flag")]
            walk(child, path + [(j, op, float(child.getAttribute("feature")))])

    walk(learner.root, [])
    return rules


def _rulelist_rules(learner):
    # a decision list: entry k fires when its own condition holds and no earlier one
    # did; the last entry is the default. Its probability of class 1 decides the class.
    rules, earlier = [], []
    entries = learner.rules_
    for k, entry in enumerate(entries):
        if k == len(entries) - 1:
            rules.append((int(entry["val"] > 0.5), list(earlier)))
            break
        op = "<" if entry["flip"] else ">="
        cond = (int(entry["index_col"]), op, entry["cutoff"])
        rules.append((int(entry["val_right"] > 0.5), earlier + [cond]))
        earlier.append(_negate(cond))
    return rules


_TERM = re.compile(r"^X_(\d+)$")


def _rule_terms(rule):
    """``(j, op, threshold)`` of an imodels ``Rule`` over the placeholders ``X_j``."""
    terms = []
    for (feature, op), value in rule.agg_dict.items():
        if op == "==" and value == feature:  # "X_0 == X_0": imodels' rule that always fires
            continue
        terms.append((int(_TERM.match(feature).group(1)), op, float(value)))
    return terms


def _rulefit_rules(learner):
    # a logistic model on the symbols and on rule indicators: the sign of a non-zero
    # coefficient says which class the term pushes towards (1 when positive)
    rules = []
    n_linear = len(learner.coef) - len(learner.rules_without_feature_names_)
    for j, coef in enumerate(learner.coef[:n_linear]):
        if coef != 0:
            rules.append((int(coef > 0), [(j, "==", 1.0)]))
    for rule, coef in zip(learner.rules_without_feature_names_, learner.coef[n_linear:]):
        terms = _rule_terms(rule)
        if coef != 0 and terms:
            rules.append((int(coef > 0), terms))
    return rules


def _skope_rules(learner):
    # every selected rule detects class 1 (prediction: their precision-weighted vote)
    rules = [(1, _rule_terms(rule)) for rule in learner.rules_without_feature_names_]
    return [(code, terms) for code, terms in rules if terms]


_EXTRACTORS = {
    "figs": _figs_rules,
    "cart": _cart_rules,
    "boosted": _boosted_rules,
    "c45": _c45_rules,
    "rulelist": _rulelist_rules,
    "rulefit": _rulefit_rules,
    "skope": _skope_rules,
}


# --------------------------------------------------------------------------------------


class ImodelsRules:
    """An imodels classifier fitted on binary symbols, read back as conjunctive rules.

    Learners that handle several classes (FIGS, C4.5, HSTree, boosted stumps) are fitted
    once on all classes; the others are fitted once per class, that class against the
    rest (a single learner when there are two classes).

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
    Rules are read from the learner's own structure. Trees (C4.5, HSTree, FIGS, the
    boosted stumps): one rule per root-to-leaf path, for the class the leaf predicts
    (for FIGS, whose trees are summed, the class its value raises most). Decision lists
    (greedy rule list, OneR): entry k becomes "not entries 1..k-1, and entry k". Rule
    sets: Skope-rules' rules, and RuleFit's terms with a non-zero coefficient, for the
    class their sign favours (a linear term on a symbol reads "symbol is on"). One-vs-
    rest keeps only the rules of each learner's class 1. Splits become ``== 0`` /
    ``== 1`` tests; rules that no 0/1 input satisfies are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> S = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [0, 0, 1]] * 10, dtype=float)
    >>> y = np.array(["bird", "bird", "other", "other"] * 10)
    >>> model = ImodelsRules("c45").fit(S, y, ["head", "wing", "tail"])
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
        """Fit the learner(s) and convert them into rules.

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
        # targets[i] is what learner i is fitted on; class_of[i][c] the index in classes_
        # of the label its class code c stands for (None: "the rest", given no rules)
        if kind in _MULTICLASS:
            targets, class_of = [codes], [list(range(n_classes))]
        elif n_classes == 2:
            # class 1 is classes_[1], except for Skope-rules, which only learns rules
            # that detect class 1 and votes them by precision: that suits the rarer class
            pos = 0 if kind == "skope" and counts[0] < counts[1] else 1
            targets, class_of = [(codes == pos).astype(int)], [[1 - pos, pos]]
        else:
            targets = [(codes == k).astype(int) for k in range(n_classes)]
            class_of = [[None, k] for k in range(n_classes)]
        self._class_of = np.asarray(class_of[0]) if not self.one_vs_rest_ else None
        with _quiet_and_seeded(self.random_state):
            self.estimators_ = [self._fit_one(template, S, target, sample_weight) for target in targets]

        self.rules_ = []
        for learner, index in zip(self.estimators_, class_of):
            for code, conditions in _EXTRACTORS[kind](learner):
                conjunction = _conjunction(conditions)
                if index[code] is None or conjunction is None:
                    continue
                # a plain Python label, as in y, rather than a numpy scalar
                target = self.classes_[index[code]]
                target = target.item() if isinstance(target, np.generic) else target
                rule = (target, tuple((names[j], "==", value) for j, value in conjunction))
                if rule not in self.rules_:
                    self.rules_.append(rule)
        return self

    def predict(self, S):
        """Predict labels with the learner's own decision rule.

        One-vs-rest: the class whose learner gives the highest probability of class 1
        (ties go to the first class in ``classes_``).

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

    def rules(self):
        """The learned rules.

        Returns
        -------
        list of (label, conditions)
            ``conditions`` is a tuple of ``(name, "==", 1)`` (symbol on) and
            ``(name, "==", 0)`` (symbol off): a conjunction, empty when it always holds.
        """
        if not hasattr(self, "rules_"):
            raise AttributeError("This ImodelsRules instance is not fitted yet; call fit first.")
        return list(self.rules_)

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
    """A binary learner's probability (or score) of class 1."""
    if hasattr(learner, "predict_proba"):
        return np.asarray(learner.predict_proba(S))[:, 1]
    return np.asarray(learner.decision_function(S))
