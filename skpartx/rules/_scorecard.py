"""Scorecards: whole-number points per symbol and class, learned by sparse logistic regression.

A scorecard is an additive rule model (``"weighted_sum"``): each class starts from its
intercept, every firing symbol adds its points to the classes it names, and the class with
the most points wins. The points are an L1-penalised multinomial logistic regression's
coefficients on the binary symbols, scaled so that the largest is ``MAX_POINTS`` and
rounded: what a report prints is the model that predicts, to the last point.

Set cover explains each class by a few conjunctions that must each be precise on their
own; a scorecard weighs every symbol's evidence for and against every class at once. On
the development worlds this reproduced the model's decisions on held-out images markedly
better than set cover or imodels' learners, whose rules saw the same symbols
(``benchmarks/worlds.py --rule-grid``; ``benchmarks/RESULTS.md``).
"""

import warnings

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

MAX_POINTS = 10  # the largest point value: 1/10 steps kept the logistic fit's fidelity on the development worlds


def default_scorecard_learner(random_state=None):
    """The logistic regression behind ``rule_model="scorecard"``.

    ``C=1`` (the L1 penalty's inverse strength) was chosen on the development worlds, beside
    0.3 (sparser, 0.01-0.03 less faithful) and 3 (up to 0.01 more faithful, with 30-40% more
    points: the smaller card was preferred); cross-validating ``C`` on
    the user's images did as well as fixing it, at 5-10 times the cost.
    """
    # scikit-learn 1.8 replaced penalty="l1" by l1_ratio=1 (and warns about the former)
    newer = tuple(int(v) for v in sklearn.__version__.split(".")[:2]) >= (1, 8)
    lasso = {"l1_ratio": 1.0} if newer else {"penalty": "l1"}
    return LogisticRegression(C=1.0, solver="saga", max_iter=5000, random_state=random_state, **lasso)


def resolve_rule_model(rule_model, stacklevel=2):
    """``rule_model`` with the default ``"warn"`` read as ``"set_cover"``, which it announces
    (a ``FutureWarning`` at ``stacklevel`` counted from the caller) becomes ``"scorecard"``."""
    if not (isinstance(rule_model, str) and rule_model == "warn"):
        return rule_model
    warnings.warn(
        "GlobalRuleExplainer's default rule_model is 'set_cover' in skpartx 0.2 and becomes 'scorecard' in 0.3: "
        "whole-number points per part and class, which reproduced the model's decisions on held-out images of "
        "the development worlds far more often (median fidelity 0.975 against 0.902, 10th percentile 0.913 against "
        "0.755; benchmarks/RESULTS.md). Pass rule_model='set_cover' to keep set cover, or rule_model='scorecard' "
        "to use it now and silence this warning.",
        FutureWarning,
        stacklevel=stacklevel + 1,
    )
    return "set_cover"


def is_scorecard(rule_model):
    """Whether ``rule_model`` asks for a scorecard: ``"scorecard"`` or a LogisticRegression."""
    return isinstance(rule_model, LogisticRegression) or (
        isinstance(rule_model, str) and rule_model == "scorecard")


def to_points(coef, intercept, max_points=MAX_POINTS):
    """Whole-number points from logistic coefficients, on one scale for every class.

    Parameters
    ----------
    coef : ndarray of shape (n_classes, n_symbols)
    intercept : ndarray of shape (n_classes,)
    max_points : int, default=MAX_POINTS
        The largest absolute coefficient becomes this many points.

    Returns
    -------
    points : int ndarray of shape (n_classes, n_symbols)
    intercept_points : int ndarray of shape (n_classes,)
    """
    largest = np.abs(coef).max() if coef.size else 0.0
    scale = max_points / largest if largest > 0 else 1.0
    return np.rint(coef * scale).astype(np.int64), np.rint(intercept * scale).astype(np.int64)


def fit_scorecard(rule_model, symbols, y_index, weights, symbol_names, class_names, random_state=None):
    """Fit a scorecard on binary symbols and write it as additive rules.

    Parameters
    ----------
    rule_model : "scorecard" or LogisticRegression
        ``"scorecard"``: :func:`default_scorecard_learner`; an unfitted (or fitted: it is
        cloned) ``LogisticRegression`` to use instead, e.g. with another ``C``.
    symbols : bool ndarray of shape (n_images, n_symbols)
    y_index : int ndarray of shape (n_images,)
        Class index of each image, in ``0..n_classes-1``.
    weights : ndarray of shape (n_images,)
        Image weights.
    symbol_names : list of str
    class_names : list of str
        Display name of each class, by index.
    random_state : int, RandomState or None, default=None
        Seed of the solver (``"scorecard"`` only; an instance keeps its own).

    Returns
    -------
    rules : list of (int, tuple, dict)
        One rule per symbol with points for some class, in symbol order: ``(class index of
        its most points, ((symbol, "==", 1),), {class name: points})``.
    intercept : ndarray of shape (n_classes,)
        Each class's points before any symbol fires (whole numbers).
    default : int
        The class with the most intercept points: what an image with no firing symbol gets.
    """
    # every class index occurs in y_index (the explainer's classes are those of y)
    if len(class_names) == 1:  # one class: it always wins
        coef, intercept = np.zeros((1, symbols.shape[1])), np.ones(1)
    else:
        learner = default_scorecard_learner(random_state) if isinstance(rule_model, str) else clone(rule_model)
        learner.fit(symbols.astype(np.float64), y_index, sample_weight=weights)
        coef, intercept = learner.coef_, learner.intercept_
        if len(class_names) == 2:  # binary: one row of log-odds for the second class
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, intercept[0]])
    points, intercept_points = to_points(coef, intercept)
    rules = []
    for j, name in enumerate(symbol_names):
        column = points[:, j]
        if not column.any():
            continue
        weight = {class_names[k]: float(column[k]) for k in np.flatnonzero(column)}
        rules.append((int(np.argmax(column)), ((name, "==", 1),), weight))
    return rules, intercept_points.astype(np.float64), int(np.argmax(intercept_points))

