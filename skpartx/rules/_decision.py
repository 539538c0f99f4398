"""How a list of rules decides a class: the three decision procedures of global rules.

Every rule model of :class:`~skpartx.GlobalRuleExplainer` — set cover or an imodels
learner — is written as a list of conjunctive rules over binary symbols plus one of
these procedures, and ``predict``, ``score``, ``coverage`` and every report come from
exactly that list and procedure:

- ``"first_match"`` (an ordered decision list): the first listed rule that fires decides
  its class; no rule fires → the default class.
- ``"most_precise"`` (a rule set): among the firing rules, the one with the highest
  training precision decides; equal precision → the rule listed first; no rule fires →
  the default class.
- ``"weighted_sum"`` (an additive model): each class scores its intercept plus, in list
  order, the weight for that class of every firing rule; the highest score decides;
  equal scores → the class listed first. No rule fires → the class with the largest
  intercept, which is the default class.

An image is *covered* when the decision comes from a rule of the class it is compared
with: for the first two procedures, the deciding rule is of that class; for
``"weighted_sum"``, the decided class is that class and a rule of it (its largest
weight is for that class) fires. So no image ever counts as covered for two classes.
"""

import numpy as np

DECISIONS = ("first_match", "most_precise", "weighted_sum")

OPERATORS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
}


def condition_holds(values, operator, threshold):
    """Where ``values operator threshold`` holds (``values`` a 0/1 symbol column)."""
    if operator not in OPERATORS:
        raise ValueError(f"unknown operator {operator!r}; use one of {list(OPERATORS)}.")
    return OPERATORS[operator](np.asarray(values, dtype=np.float64), float(threshold))


def rule_firing(symbols, conditions_per_rule, symbol_index):
    """Bool ``(n_images, n_rules)``: which rules fire on which images.

    Parameters
    ----------
    symbols : bool ndarray of shape (n_images, n_symbols)
    conditions_per_rule : sequence of sequence of (str, str, float)
        Each rule's ``(symbol, operator, threshold)`` conditions.
    symbol_index : dict
        Symbol name → column of ``symbols``.
    """
    firing = np.ones((len(symbols), len(conditions_per_rule)), dtype=bool)
    for r, conditions in enumerate(conditions_per_rule):
        for feature, operator, threshold in conditions:
            if feature not in symbol_index:
                raise ValueError(f"a rule names the symbol {feature!r}, which is not one of the symbols.")
            firing[:, r] &= condition_holds(symbols[:, symbol_index[feature]], operator, threshold)
    return firing


def weight_matrix(rule_weights, class_names):
    """The ``(n_rules, n_classes)`` weights of ``"weighted_sum"`` from each rule's weights.

    Parameters
    ----------
    rule_weights : sequence of (dict or None)
        Per rule, class name → what the rule adds to that class's score; None: nothing.
    class_names : list of str
        The class names, in class-index order.
    """
    weights = np.zeros((len(rule_weights), len(class_names)))
    for r, weight in enumerate(rule_weights):
        for name, value in (weight or {}).items():
            weights[r, class_names.index(name)] = value
    return weights


def decide(firing, decision, targets, n_classes, default, precisions=None, weights=None, intercept=None):
    """The class each image is given, and whether a rule of that class gave it.

    Parameters
    ----------
    firing : bool ndarray of shape (n_images, n_rules)
    decision : {"first_match", "most_precise", "weighted_sum"}
    targets : int ndarray of shape (n_rules,)
        Class index of each rule.
    n_classes : int
    default : int
        Class index given when no rule decides.
    precisions : ndarray of shape (n_rules,), optional
        Needed by ``"most_precise"``.
    weights : ndarray of shape (n_rules, n_classes), optional
        Needed by ``"weighted_sum"``.
    intercept : ndarray of shape (n_classes,), optional
        ``"weighted_sum"``; zeros when omitted.

    Returns
    -------
    classes : int ndarray of shape (n_images,)
        Class index decided for each image.
    by_rule : bool ndarray of shape (n_images,)
        Whether a rule of the decided class decided it (see the module docstring);
        ``by_rule & (classes == y)`` are the covered images.
    """
    n_images, n_rules = firing.shape
    targets = np.asarray(targets, dtype=np.int64)
    if decision == "weighted_sum":
        totals = np.tile(np.zeros(n_classes) if intercept is None else np.asarray(intercept, float), (n_images, 1))
        weights = np.asarray(weights, dtype=np.float64).reshape(n_rules, n_classes)
        for r in range(n_rules):  # in list order, so that sums are the same wherever they are taken
            totals[firing[:, r]] += weights[r]
        classes = np.argmax(totals, axis=1)  # the first of equal maxima: the class listed first
        own = firing & (targets[None, :] == classes[:, None])
        return classes, own.any(axis=1)
    if decision == "first_match":
        order = np.arange(n_rules)
    elif decision == "most_precise":
        # stable: equal precision keeps list order
        order = np.argsort(-np.asarray(precisions, dtype=np.float64), kind="stable")
    else:
        raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}.")
    classes = np.full(n_images, int(default), dtype=np.int64)
    decided = np.zeros(n_images, dtype=bool)
    for r in order:
        new = firing[:, r] & ~decided
        classes[new] = targets[r]
        decided |= new
    return classes, decided


def rule_targets(rules, labels):
    """Class index of each rule: the place of its ``target`` among ``labels`` (class-index order)."""
    return np.array([labels.index(rule.target) for rule in rules], dtype=np.int64)


def decide_rules(firing, decision, rules, labels, class_names, default, intercept=None):
    """:func:`decide` for rules given as objects with ``target``, ``precision`` and ``weight``.

    Parameters
    ----------
    firing : bool ndarray of shape (n_images, n_rules)
    decision : {"first_match", "most_precise", "weighted_sum"}
    rules : sequence of Rule
        ``target`` a label of ``labels``; ``weight`` None or class name → weight.
    labels : list
        The class labels, in class-index order.
    class_names : list of str
        The class names, in class-index order.
    default : object
        The default class's label.
    intercept : ndarray of shape (n_classes,), optional

    Returns
    -------
    classes, by_rule : ndarray of shape (n_images,)
        As :func:`decide` returns them.
    """
    return decide(
        firing, decision, rule_targets(rules, labels), len(labels), labels.index(default),
        np.array([rule.precision for rule in rules]), weight_matrix([rule.weight for rule in rules], class_names),
        intercept,
    )
