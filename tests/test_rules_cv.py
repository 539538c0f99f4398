"""GlobalRuleExplainerCV on fixed score tables: the setting it chooses is the one a
brute-force cross-validation chooses, and what it prints is what it scores."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from skpartx import GlobalRuleExplainer, GlobalRuleExplainerCV, apply_rules
from skpartx._core.part_scores import PartScoreArray
from skpartx.rules import default_grid


def score_table(n_per_class=30, random_state=0):
    """Part scores of three classes: class 0 explained by a ∧ b, class 1 by c (and often a
    weaker a), class 2 by d; noise everywhere, and a tenth of each class explained by one
    part of its conjunction only."""
    rng = np.random.RandomState(random_state)
    names = ["background", "a", "b", "c", "d", "e"]
    y = np.repeat([0, 1, 2], n_per_class)
    F = rng.uniform(0, 0.05, (len(y), len(names)))
    for i, c in enumerate(y):
        parts = {0: ["a", "b"], 1: ["c"], 2: ["d"]}[c]
        for part in parts:
            F[i, names.index(part)] += rng.uniform(0.3, 0.5)
        if c == 1 and rng.rand() < 0.6:
            F[i, names.index("a")] += rng.uniform(0.1, 0.25)
        if rng.rand() < 0.1:
            F[i, names.index(parts[0])] = 0.0
    return pd.DataFrame(F, columns=names), y


@pytest.fixture(scope="module")
def table():
    return score_table()


def brute_force_choice(F, y, grid_settings, cv=5, **budget):
    """Each setting's mean fidelity over stratified folds, fitted and scored one by one."""
    folds = list(StratifiedKFold(cv).split(F, y))
    means, sizes = [], []
    for setting in grid_settings:
        scores, n_rules = [], []
        for train, test in folds:
            explainer = GlobalRuleExplainer(candidates="subsets", **budget, **setting).fit(F.iloc[train], y[train])
            scores.append(explainer.score(F.iloc[test], y[test]))
            n_rules.append(len(explainer.rules_))
        means.append(np.mean(scores))
        sizes.append(np.mean(n_rules))
    return np.array(means), np.array(sizes)


def test_the_choice_is_the_brute_force_cross_validation_choice(table):
    F, y = table
    cv_rules = GlobalRuleExplainerCV(max_rules=3).fit(F, y)
    settings = cv_rules.cv_results_["params"]
    assert len(settings) == 20
    means, sizes = brute_force_choice(F, y, settings, max_rules=3)
    np.testing.assert_allclose(cv_rules.cv_results_["mean_test_fidelity"], means, atol=1e-12)
    best = int(np.argmax(means))  # the first best: ties go to the setting listed first
    expected_rank = 1 + np.array([(means > m + 1e-12).sum() for m in means])
    np.testing.assert_array_equal(cv_rules.cv_results_["rank_test_fidelity"], expected_rank)
    assert cv_rules.best_params_ == settings[best]
    assert cv_rules.best_score_ == pytest.approx(means[best])
    # refitted on every image with the chosen setting
    refit = GlobalRuleExplainer(candidates="subsets", max_rules=3, **settings[best]).fit(F, y)
    assert [str(r) for r in cv_rules.rules_] == [str(r) for r in refit.rules_]
    # the rule sizes over the folds are reported beside the fidelity
    np.testing.assert_allclose(cv_rules.cv_results_["mean_n_rules"], sizes)
    assert not any(k.startswith("split") and k.endswith("n_rules") for k in cv_rules.cv_results_)


def test_ties_go_to_the_plain_explainers_default_setting():
    # two classes told apart by one part each: every setting reproduces them perfectly
    rng = np.random.RandomState(0)
    F = np.abs(rng.normal(0, 0.02, (40, 3)))
    y = np.arange(40) % 2
    F[y == 0, 0] += 1.0
    F[y == 1, 2] += 1.0
    cv_rules = GlobalRuleExplainerCV(cv=4).fit(F, y)
    assert np.all(cv_rules.cv_results_["mean_test_fidelity"] == 1.0)
    assert cv_rules.best_params_ == {"binarize": "fraction", "threshold": 0.8, "min_precision": 0.9,
                                     "as_decision_list": False}


def test_a_setting_that_sees_nothing_loses(table):
    F, y = table
    grid = [{"binarize": ["absolute"], "threshold": [5.0]}, {"binarize": ["relative"], "threshold": [0.5]}]
    cv_rules = GlobalRuleExplainerCV(param_grid=grid).fit(F, y)
    blind, sighted = cv_rules.cv_results_["mean_test_fidelity"]
    assert blind == pytest.approx(1 / 3, abs=0.02)  # no part is ever on: the default class only
    assert sighted > 0.85 and cv_rules.best_params_ == {"binarize": "relative", "threshold": 0.5}


def test_the_size_budget_holds_in_every_setting(table):
    F, y = table
    cv_rules = GlobalRuleExplainerCV(max_rules=1, max_rule_length=1).fit(F, y)
    assert all(len(rule) <= 1 for rule in cv_rules.rules_)
    assert max(np.unique([r.target for r in cv_rules.rules_], return_counts=True)[1]) <= 1
    assert cv_rules.best_estimator_.max_rules == 1 and cv_rules.best_estimator_.max_rule_length == 1


def test_printed_is_scored(table, tmp_path):
    F, y = table
    cv_rules = GlobalRuleExplainerCV(target_names=["x", "y", "z"]).fit(F, y)
    best = cv_rules.best_estimator_
    np.testing.assert_array_equal(cv_rules.predict(F), best.predict(F))
    assert cv_rules.score(F, y) == best.score(F, y)
    assert cv_rules.coverage(F, y) == best.coverage(F, y)
    text = cv_rules.report()
    assert text.endswith(best.report()) and "cross-validated fidelity" in text
    for key, value in cv_rules.best_params_.items():
        assert f"{key}={value!r}" in text
    rules_json = tmp_path / "rules.json"
    rules_json.write_text(cv_rules.report("json"))
    np.testing.assert_array_equal(apply_rules(rules_json, F),
                                  cv_rules.predict(F))
    assert cv_rules.class_names_ == ["x", "y", "z"] and cv_rules.decision_ == best.decision_
    assert list(cv_rules.get_feature_names_out()) == list(best.get_feature_names_out())
    assert "<" in cv_rules._repr_html_()
    # what code written for a GlobalRuleExplainer reads is the chosen explainer's
    assert cv_rules.explanation_profile_ == best.explanation_profile_
    assert cv_rules.symbol_space_ is best.symbol_space_ and cv_rules.complexity_ == best.complexity_
    assert cv_rules.rules_for(0) == best.rules_for(0) and cv_rules.class_label(1) == "y"
    np.testing.assert_array_equal(cv_rules.firing(F), best.firing(F))
    pd.testing.assert_frame_equal(cv_rules.symbols(F), best.symbols(F))
    with pytest.raises(AttributeError, match="no attribute 'missing_'"):
        cv_rules.missing_
    assert not hasattr(GlobalRuleExplainerCV(), "rules_")


def test_msx_codes_compare_precision_and_form_only():
    assert default_grid("msx") == [{"binarize": ["msx"], "min_precision": [0.9, 0.8],
                                    "as_decision_list": [False, True]}]
    assert all("min_precision" not in grid for grid in default_grid("scores", "figs"))
    # membership codes: bit k of a column = the image's k-th MSX holds the part
    y = np.repeat([0, 1], 12)
    codes = np.zeros((24, 3))
    codes[y == 0, 0] = 1
    codes[y == 1, 1] = 1
    codes[::6, 2] = 2  # a second MSX now and then
    F = PartScoreArray(codes, ["head", "wing", "tail"], encoding="msx")
    cv_rules = GlobalRuleExplainerCV(cv=3).fit(F, y)
    assert cv_rules.best_params_["binarize"] == "msx" and cv_rules.best_score_ == 1.0
    assert len(cv_rules.cv_results_["params"]) == 4
    # a table that says it holds MSX codes but names no columns is still read as MSX codes
    unnamed = GlobalRuleExplainerCV(cv=3).fit(PartScoreArray(codes, encoding="msx"), y)
    assert unnamed.best_estimator_.binarize_ == "msx"


def test_in_a_pipeline_a_grid_search_clone_and_pickle(table):
    F, y = table
    pipe = make_pipeline(FunctionTransformer(), GlobalRuleExplainerCV(cv=3))
    search = GridSearchCV(pipe, {"globalruleexplainercv__max_rules": [1, 3]}, cv=3).fit(F, y)
    assert search.best_params_["globalruleexplainercv__max_rules"] in (1, 3)
    fitted = GlobalRuleExplainerCV(cv=3).fit(F, y)
    assert clone(fitted).get_params() == fitted.get_params() and not hasattr(clone(fitted), "best_estimator_")
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict(F), fitted.predict(F))


def test_bad_settings_fail_clearly(table):
    F, y = table
    with pytest.raises(ValueError, match="Invalid parameter 'colour'"):
        GlobalRuleExplainerCV(param_grid={"colour": [1]}).fit(F, y)
    with pytest.raises(ValueError, match="max_rules"):
        GlobalRuleExplainerCV(max_rules=0).fit(F, y)
    with pytest.raises(Exception, match="not fitted"):
        GlobalRuleExplainerCV().predict(F)


def test_the_figure_shows_every_setting_and_the_choice(table):
    import matplotlib

    matplotlib.use("Agg")
    F, y = table
    cv_rules = GlobalRuleExplainerCV(cv=3).fit(F, y)
    fig = cv_rules.plot_cv_results()
    ax = fig.axes[0]
    assert len(ax.patches) == len(cv_rules.cv_results_["params"])
    widths = [p.get_width() for p in ax.patches][::-1]  # bars are drawn top to bottom
    np.testing.assert_allclose(sorted(widths), sorted(cv_rules.cv_results_["mean_test_fidelity"]))
    colours = {p.get_facecolor() for p in ax.patches}
    assert len(colours) == 2


@parametrize_with_checks([GlobalRuleExplainerCV(cv=2)])
def test_sklearn_compatible(estimator, check):
    # Each sklearn check asserts internally and raises on a violation; fitting inside a
    # check must leave the constructor parameters as they were.
    params = repr(estimator.get_params())
    check(estimator)
    assert repr(estimator.get_params()) == params
