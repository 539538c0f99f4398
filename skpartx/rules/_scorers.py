"""scikit-learn scorers of rule explainers: fidelity or coverage, optionally penalising long rules."""

from collections.abc import Callable

from numpy.typing import ArrayLike


def _final_step(estimator, X):
    """The rule explainer and its input, also when ``estimator`` is a pipeline ending in one."""
    if hasattr(estimator, "steps"):
        return estimator.steps[-1][1], estimator[:-1].transform(X)
    return estimator, X


def make_rule_scorer(
    metric: str = "fidelity", complexity_penalty: float = 0.0
) -> Callable[[object, ArrayLike, ArrayLike], float]:
    """A scikit-learn scorer for rule explainers, optionally penalising complex rule sets.

    The score is ``metric - complexity_penalty * total_length``, where ``total_length``
    counts the conditions of all rules, so a grid search can trade fidelity against
    readability. Works on a fitted :class:`~skpartx.GlobalRuleExplainer` or on a pipeline
    ending in one (its earlier steps transform ``X`` first).

    Parameters
    ----------
    metric : {"fidelity", "coverage"}, default="fidelity"
        Fidelity: share of images whose model decision ``y`` the rules reproduce.
        Coverage: share of images on which a rule of their decided class fires.
    complexity_penalty : float, default=0.0
        Score subtracted per rule condition.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y) -> float``

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skpartx import GlobalRuleExplainer
    >>> from skpartx.metrics import make_rule_scorer
    >>> search = GridSearchCV(
    ...     GlobalRuleExplainer(binarize="fraction", candidates="subsets"), {"max_rules": [1, 3]}, scoring=make_rule_scorer(complexity_penalty=0.01)
    ... )
    """
    if metric not in ("fidelity", "coverage"):
        raise ValueError(f"metric must be 'fidelity' or 'coverage', got {metric!r}.")
    if complexity_penalty < 0:
        raise ValueError(f"complexity_penalty must be >= 0, got {complexity_penalty!r}.")

    def scorer(estimator, X, y):
        explainer, features = _final_step(estimator, X)
        value = explainer.score(features, y) if metric == "fidelity" else explainer.coverage(features, y)
        return value - complexity_penalty * explainer.complexity_["total_length"]

    scorer.__name__ = f"{metric}_minus_{complexity_penalty:g}_per_condition" if complexity_penalty else metric
    return scorer


fidelity_scorer = make_rule_scorer("fidelity")
coverage_scorer = make_rule_scorer("coverage")
