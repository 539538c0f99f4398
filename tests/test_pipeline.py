"""The whole pipeline: partial labels → transfer → attribution → rules, on the session's model."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skpartx import GlobalRuleExplainer, PartAttributor, PartLabelTransfer


@pytest.fixture(scope="module")
def explain_idx(data, labelled_idx):
    """500 training images to explain, including the labelled ones."""
    rng = np.random.RandomState(1)
    others = np.setdiff1d(rng.permutation(3000), labelled_idx)[: 500 - len(labelled_idx)]
    return np.concatenate([labelled_idx, others])


@pytest.fixture(scope="module")
def fitted(model, data, decisions, partial_X, explain_idx):
    pipe = make_pipeline(
        PartLabelTransfer(backbone=model, random_state=0),
        PartAttributor(model=model, method="shapley", baseline="mean"),
        GlobalRuleExplainer(target_names=data.target_names),
    ).set_output(transform="pandas")
    return pipe.fit(partial_X[explain_idx], decisions[explain_idx])


def test_pipeline_recovers_a_rule_of_defining_parts_for_every_class(fitted, data):
    rules = fitted[-1]
    for c, parts in data.rules.items():
        class_rules = rules.rules_for(c)
        assert class_rules, f"no rule for class {data.target_names[c]}"
        first = {feature for feature, _, _ in class_rules[0].conditions}
        assert first <= set(parts), f"{class_rules[0]} should use only {parts}"
        assert class_rules[0].precision >= 0.9
    # The planted conjunctions themselves appear as rules for most classes.
    exact = sum(
        any({f for f, _, _ in r.conditions} == set(parts) for r in rules.rules_for(c)) for c, parts in data.rules.items()
    )
    assert exact >= 3


@pytest.fixture(scope="module")
def held_out_features(fitted, partial_X, test_slice):
    """Part scores of the held-out images; unlabelled, so the pipeline transfers their parts."""
    return fitted[:-1].transform(partial_X[test_slice])


def test_rules_are_faithful_on_held_out_images(fitted, partial_X, decisions, test_slice, held_out_features):
    assert fitted.score(partial_X[test_slice], decisions[test_slice]) >= 0.95
    assert fitted[-1].coverage(held_out_features, decisions[test_slice]) >= 0.95


@pytest.mark.parametrize("rule_model", ["set_cover", "figs"])
def test_rules_use_only_defining_parts_and_stay_faithful(
    rule_model, fitted, partial_X, explain_idx, decisions, test_slice, held_out_features, data
):
    """Issue bar: set-cover and FIGS rules, held-out fidelity and coverage >= 0.95, and every
    rule requires only parts that define its class (negated conditions may name others)."""
    train_features = fitted[:-1].transform(partial_X[explain_idx])
    explainer = GlobalRuleExplainer(rule_model, target_names=data.target_names, random_state=0)
    explainer.fit(train_features, decisions[explain_idx])
    assert explainer.score(held_out_features, decisions[test_slice]) >= 0.95
    assert explainer.coverage(held_out_features, decisions[test_slice]) >= 0.95
    for rule in explainer.rules_:
        assert set(rule.positive_features()) <= set(data.rules[rule.target]), str(rule)
        if not rule.positive_features():  # a tree's "nothing matters" leaf: rare by design here
            assert rule.coverage < 0.1, str(rule)


def test_grid_search_over_explanation_parameters(model, data, decisions, partial_X, labelled_idx):
    rng = np.random.RandomState(2)
    idx = np.concatenate([labelled_idx, rng.permutation(np.setdiff1d(np.arange(3000), labelled_idx))[:80]])
    idx = rng.permutation(idx)
    pipe = make_pipeline(
        PartLabelTransfer(backbone=model, random_state=0),
        PartAttributor(model=model, method="msx"),
        GlobalRuleExplainer(),
    )
    # The search of DESIGN.md: the MSX sufficiency threshold and the rule budget.
    search = GridSearchCV(
        pipe, {"partattributor__tau": [0.8, 0.95], "globalruleexplainer__max_rules": [1, 3]}, cv=3
    )
    search.fit(partial_X[idx], decisions[idx])
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all()
    assert search.best_score_ >= 0.7
    assert search.best_params_["globalruleexplainer__max_rules"] == 3
    clone(search.best_estimator_)  # still a well-formed estimator
