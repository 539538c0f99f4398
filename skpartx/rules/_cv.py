"""Rules whose settings are chosen on the user's own images, by cross-validated fidelity.

Fidelity needs no labels: the model's decisions are the targets. So the binarisation, its
threshold, the least precision of a rule and the decision form can be chosen on the images at
hand, like ``LassoCV`` chooses its penalty, while the size of the rules stays a budget the
user states (most rules per class, most conditions per rule).
"""

from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._core.part_scores import table_info
from ._explainer import _PARAMETER_CONSTRAINTS, GlobalRuleExplainer
from ._scorecard import resolve_rule_model

# The settings compared by default, per kind of table. Set cover on part scores: the two
# scale-free binarisations at three and two thresholds, with the least precision of a rule
# and the decision form. MSX codes are already symbols: precision and form only. Other rule
# learners: the binarisation only (precision and form are set cover's).
# Each list starts with GlobalRuleExplainer's own setting, so that the grid's first setting,
# which wins ties, is its default.
_PRECISION_AND_FORM = {"min_precision": [0.9, 0.8], "as_decision_list": [False, True]}
_BINARISATIONS = [
    {"binarize": ["fraction"], "threshold": [0.8, 0.7, 0.9]},
    {"binarize": ["relative"], "threshold": [0.5, 0.3]},
]


def default_grid(encoding, rule_model="set_cover"):
    """The settings :class:`GlobalRuleExplainerCV` compares when given no ``param_grid``.

    Parameters
    ----------
    encoding : {"scores", "msx"} or None
        What the table holds (None: part scores).
    rule_model : str or estimator, default="set_cover"

    Returns
    -------
    grid : list of dict
        A ``GridSearchCV`` parameter grid over :class:`GlobalRuleExplainer`'s parameters.
    """
    set_cover = isinstance(rule_model, str) and rule_model == "set_cover"
    if encoding == "msx":
        return [{"binarize": ["msx"], **(_PRECISION_AND_FORM if set_cover else {})}]
    return [{**binarisation, **(_PRECISION_AND_FORM if set_cover else {})} for binarisation in _BINARISATIONS]


class GlobalRuleExplainerCV(ClassifierMixin, BaseEstimator):
    """A :class:`GlobalRuleExplainer` whose settings are chosen by cross-validated fidelity.

    Each setting of ``param_grid`` is fitted on all but one fold of the images and scored by
    fidelity (the share of images whose decision the rules reproduce) on the fold left out;
    the setting with the highest mean fidelity (ties: the first in the grid) is fitted on all
    images and gives the rules. The rule size is not searched: ``max_rules`` and
    ``max_rule_length`` are the budget every setting keeps. ``predict``, ``score``,
    ``coverage``, ``report`` and the figures are those of the chosen explainer,
    ``best_estimator_``: what is printed is what is scored.

    Parameters
    ----------
    rule_model : "set_cover", "scorecard", str or estimator, default="warn"
        As in :class:`GlobalRuleExplainer` (``"warn"``: ``"set_cover"`` with a
        ``FutureWarning``, once per fit; ``"scorecard"`` in 0.3).
    param_grid : dict or list of dict, default=None
        Settings of :class:`GlobalRuleExplainer` to compare (``GridSearchCV``'s form). None:
        for part scores with set cover, ``binarize="fraction"`` at thresholds 0.8, 0.7, 0.9
        and ``"relative"`` at 0.5, 0.3, each with ``min_precision`` 0.9 or 0.8 and without or
        with ``as_decision_list`` (20 settings, the first being the plain explainer's
        defaults); for MSX codes, ``min_precision`` and ``as_decision_list`` (4); other rule
        learners compare the binarisations only (:func:`skpartx.rules.default_grid`).
    max_rules : int, default=5
        Most rules per class (set cover), in every setting.
    max_rule_length : int, default=3
        Most conditions per rule, in every setting.
    cv : int, cross-validation generator or iterable, default=5
        Folds, as in ``GridSearchCV`` (an int gives stratified folds over the decisions).
    n_jobs : int, default=None
        Settings and folds fitted in parallel (joblib).
    target_names : sequence or dict, default=None
        Display names of the classes.
    random_state : int, RandomState instance or None, default=None
        Seed of imodels learners.

    Attributes
    ----------
    best_estimator_ : GlobalRuleExplainer
        The chosen setting, fitted on all images.
    best_params_ : dict
        The chosen setting.
    best_score_ : float
        Its mean cross-validated fidelity.
    cv_results_ : dict of ndarray
        Per setting (``params``, ``param_*``) its fidelity on each fold, their mean, spread
        and rank (``GridSearchCV``'s form), plus ``mean_n_rules`` and ``mean_total_length``
        (the size of the rules, averaged over the folds).
    best_index_ : int
        The chosen setting's row of ``cv_results_``.
    rules_, classes_, class_names_, decision_, default_class_ : see :class:`GlobalRuleExplainer`
        Those of ``best_estimator_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``F`` was a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skpartx import GlobalRuleExplainerCV
    >>> rng = np.random.RandomState(0)
    >>> F = np.abs(rng.normal(0, 0.05, (40, 3)))
    >>> y = np.arange(40) % 2
    >>> F[y == 0, 0] += 1.0
    >>> F[y == 1, 2] += 1.0
    >>> rules = GlobalRuleExplainerCV(cv=4).fit(F, y)
    >>> rules.best_score_
    1.0
    """

    _parameter_constraints = {
        "rule_model": _PARAMETER_CONSTRAINTS["rule_model"],
        "param_grid": [dict, list, None],
        "max_rules": _PARAMETER_CONSTRAINTS["max_rules"],
        "max_rule_length": _PARAMETER_CONSTRAINTS["max_rule_length"],
        "cv": ["cv_object"],
        "n_jobs": [Interval(Integral, None, None, closed="neither"), None],
        "target_names": _PARAMETER_CONSTRAINTS["target_names"],
        "random_state": _PARAMETER_CONSTRAINTS["random_state"],
    }

    def __init__(self, rule_model="warn", *, param_grid=None, max_rules=5, max_rule_length=3, cv=5,
                 n_jobs=None, target_names=None, random_state=None):
        self.rule_model = rule_model
        self.param_grid = param_grid
        self.max_rules = max_rules
        self.max_rule_length = max_rule_length
        self.cv = cv
        self.n_jobs = n_jobs
        self.target_names = target_names
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, F: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> "GlobalRuleExplainerCV":
        """Choose the setting by cross-validated fidelity and learn its rules on all of ``F``.

        Parameters
        ----------
        F : array-like of shape (n_images, n_columns)
            Part scores or MSX codes, as :meth:`GlobalRuleExplainer.fit` takes them.
        y : array-like of shape (n_images,)
            The model's decisions.
        sample_weight : array-like of shape (n_images,), default=None
            Image weights of every fit and of every fold's fidelity.

        Returns
        -------
        self : GlobalRuleExplainerCV
        """
        if y is None:
            raise ValueError("GlobalRuleExplainerCV requires y to be passed, but the target y is None: give the "
                             "model's decisions (skpartx.predict_classes).")
        names, encoding = table_info(F)
        checked, y = validate_data(self, F, y, dtype=np.float64)
        if names is None and encoding is None:  # says nothing of itself: the checked array, which folds can index
            F = checked
        # stacklevel 3: past fit and scikit-learn's wrapper of it; resolved once, not per fold
        rule_model = resolve_rule_model(self.rule_model, stacklevel=3)
        grid = default_grid(encoding, rule_model) if self.param_grid is None else self.param_grid
        settings = list(ParameterGrid(grid))
        # binarisation and candidates as GlobalRuleExplainer's "auto" resolves them, stated, so
        # that a grid without them does not announce the changed defaults once per fit
        msx = encoding == "msx"
        base = GlobalRuleExplainer(
            rule_model, binarize="msx" if msx else "fraction", candidates="observed" if msx else "subsets",
            max_rules=self.max_rules, max_rule_length=self.max_rule_length, target_names=self.target_names,
            random_state=self.random_state)
        for setting in settings:  # an unknown parameter fails here, before any fit
            clone(base).set_params(**setting)
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, y, ensure_non_negative=True)
        folds = list(check_cv(self.cv, y, classifier=True).split(np.zeros((len(y), 1)), y))
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_and_score)(clone(base).set_params(**setting), F, y, weights, train, test)
            for setting in settings for train, test in folds)
        self.cv_results_ = _results_table(settings, np.array(results).reshape(len(settings), len(folds), 3))
        best = int(np.argmax(self.cv_results_["mean_test_fidelity"]))  # ties: the first in the grid
        self.best_index_ = best
        self.best_params_ = settings[best]
        self.best_score_ = float(self.cv_results_["mean_test_fidelity"][best])
        self.best_estimator_ = clone(base).set_params(**settings[best]).fit(F, y, sample_weight=weights)
        return self

    # What the chosen explainer has and does: read from it, never copied, so that what is
    # printed is what is scored.
    rules_ = property(lambda self: self._best().rules_, doc="The chosen explainer's rules.")
    classes_ = property(lambda self: self._best().classes_, doc="The classes of the decisions.")
    class_names_ = property(lambda self: self._best().class_names_, doc="Display names of the classes.")
    decision_ = property(lambda self: self._best().decision_, doc="How the rules decide.")
    default_class_ = property(lambda self: self._best().default_class_, doc="Class when no rule decides.")

    def _best(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def __getattr__(self, name):
        # Every other fitted attribute of the chosen explainer (symbol_space_,
        # explanation_profile_, ...), so that code written for a GlobalRuleExplainer reads it here.
        fitted = self.__dict__.get("best_estimator_")
        if fitted is not None and name.endswith("_") and not name.startswith("__"):
            return getattr(fitted, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def predict(self, F: ArrayLike) -> np.ndarray:
        """The decision the chosen rules give each image."""
        return self._best().predict(F)

    def score(self, F: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Fidelity of the chosen rules: the share of images whose decision ``y`` they reproduce."""
        return self._best().score(F, y, sample_weight=sample_weight)

    def coverage(self, F: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Share of images decided by a rule of their decided class ``y``."""
        return self._best().coverage(F, y, sample_weight=sample_weight)

    def verify(self, F: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None):
        """The chosen rules checked on held-out images (see :meth:`GlobalRuleExplainer.verify`)."""
        return self._best().verify(F, y, sample_weight=sample_weight)

    def report(self, format: str = "text", verification=None) -> str:
        """The chosen rules' report, preceded (text, Markdown) by the setting chosen and its
        cross-validated fidelity; ``"json"`` is the chosen explainer's ``rules.json``."""
        body = self._best().report(format, verification)
        if format == "json":
            return body
        chosen = ", ".join(f"{k}={v!r}" for k, v in sorted(self.best_params_.items()))
        n = len(self.cv_results_["params"])
        line = (f"Setting chosen among {n} by cross-validated fidelity {self.best_score_:.3f}: {chosen} "
                f"(budget: max_rules={self.max_rules}, max_rule_length={self.max_rule_length}).")
        return (f"*{line}*" if format == "markdown" else line) + "\n\n" + body

    def to_html(self, verification=None) -> str:
        """The chosen rules as an HTML fragment."""
        return self._best().to_html(verification)

    def _repr_html_(self):
        return self.to_html() if hasattr(self, "best_estimator_") else super()._repr_html_()

    def plot_rules(self, ax=None):
        """Bar chart of the chosen rules' coverage (see :meth:`GlobalRuleExplainer.plot_rules`)."""
        return self._best().plot_rules(ax=ax)

    plot = plot_rules

    def plot_cv_results(self, ax=None):
        """Mean cross-validated fidelity of every setting compared (with its spread over the
        folds), the chosen one marked."""
        from ._plot import plot_setting_scores

        check_is_fitted(self, "best_estimator_")
        return plot_setting_scores(self.cv_results_, self.best_params_, ax=ax)

    def plot_part_importance(self, ax=None):
        """Mean part score of each class's training images (see :meth:`GlobalRuleExplainer.plot_part_importance`)."""
        return self._best().plot_part_importance(ax=ax)

    def plot_rule_examples(self, X, F, rule=0, n_images=8):
        """Images a chosen rule fires on (see :meth:`GlobalRuleExplainer.plot_rule_examples`)."""
        return self._best().plot_rule_examples(X, F, rule, n_images)

    def rules_for(self, target) -> list:
        """The chosen rules of one class."""
        return self._best().rules_for(target)

    def rule_parts(self, rule) -> list:
        """The part names a chosen rule (or its index) requires."""
        return self._best().rule_parts(rule)

    def class_label(self, target) -> str:
        """The display name of a class."""
        return self._best().class_label(target)

    def symbols(self, F):
        """The binary symbols of ``F`` the chosen rules are written in, as a DataFrame."""
        return self._best().symbols(F)

    def firing(self, F, rules=None) -> np.ndarray:
        """Which of ``rules`` (default: the chosen ones) fire on the images of ``F``."""
        return self._best().firing(F, rules)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the symbols the chosen rules are written in."""
        return self._best().get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


def _fit_and_score(explainer, F, y, weights, train, test):
    """One setting on one fold: fidelity on the left-out images, number of rules, total length."""
    fold_weights = (None, None) if weights is None else (weights[train], weights[test])
    explainer.fit(_safe_indexing(F, train), y[train], sample_weight=fold_weights[0])
    fidelity = explainer.score(_safe_indexing(F, test), y[test], sample_weight=fold_weights[1])
    complexity = explainer.complexity_
    return fidelity, complexity["n_rules"], complexity["total_length"]


def _results_table(settings, results):
    """``GridSearchCV``'s form of the table: per setting its parameters, each fold's fidelity,
    their mean, spread and rank (1: best), and the mean size of the rules over the folds."""
    fidelity = results[:, :, 0]
    mean = fidelity.mean(axis=1)
    table = {"params": settings}
    for name in sorted({key for setting in settings for key in setting}):
        table[f"param_{name}"] = np.ma.masked_array(
            [setting.get(name) for setting in settings], mask=[name not in setting for setting in settings],
            dtype=object)
    for k in range(fidelity.shape[1]):
        table[f"split{k}_test_fidelity"] = fidelity[:, k]
    rank = rankdata(-mean, method="min").astype(np.int32)  # as GridSearchCV ranks: equal means share a rank
    table.update(mean_test_fidelity=mean, std_test_fidelity=fidelity.std(axis=1), rank_test_fidelity=rank,
                 mean_n_rules=results[:, :, 1].mean(axis=1), mean_total_length=results[:, :, 2].mean(axis=1))
    return table
