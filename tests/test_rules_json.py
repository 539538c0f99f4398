"""Printed = scored: rules.json alone, read by an evaluator written here, reproduces predict for every rule model."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from skpartx import GlobalRuleExplainer
from skpartx.rules._imodels import IMODELS_LEARNERS
from skpartx._core.part_scores import PartScoreArray, encode_msx
from skpartx.rules import apply_rules

NAMES = ["background", "body", "head", "wing", "tail", "wheel", "horn", "leg", "fin", "window"]
# A planted DNF in which classes share parts (as in make_part_shapes(family="shared")).
DNF = {
    0: [("head", "wing")],
    1: [("wheel", "tail"), ("wheel", "wing")],
    2: [("horn", "leg"), ("head", "fin")],
    3: [("fin", "window"), ("tail", "leg")],
}
RULE_MODELS = ["set_cover", "decision_list", *IMODELS_LEARNERS]


def planted_explanations(n, random_state):
    """Model decisions and, per image, the planted conjunction it was decided by; 8% of decisions are
    flipped to another class, so rules are imperfect and decision procedures matter."""
    rng = np.random.RandomState(random_state)
    y = rng.permutation(np.arange(n) % 4)
    chosen = [DNF[c][rng.randint(len(DNF[c]))] for c in y]
    flipped = rng.rand(n) < 0.08
    y = np.where(flipped, (y + rng.randint(1, 4, n)) % 4, y)
    return y, chosen, rng


def score_table(n, random_state):
    """Shapley-like part scores: the image's conjunction scores high, the rest low."""
    y, chosen, rng = planted_explanations(n, random_state)
    scores = rng.uniform(-0.05, 0.08, (n, len(NAMES)))
    for i, conjunction in enumerate(chosen):
        for part in conjunction:
            scores[i, NAMES.index(part)] = rng.uniform(0.2, 0.5)
        if rng.rand() < 0.15:  # the explanation lists one part only
            scores[i, NAMES.index(conjunction[0])] = 0.0
    return pd.DataFrame(scores, columns=NAMES), y


def msx_table(n, random_state):
    """MSX codes: the image's conjunction, sometimes with the body, one part, or the empty MSX."""
    y, chosen, rng = planted_explanations(n, random_state)
    msx = []
    for c, conjunction in zip(y, chosen):
        ids = tuple(NAMES.index(p) for p in conjunction)
        draw = rng.rand()
        if c == 2 and draw < 0.3:
            msx.append([()])
        elif draw < 0.45:
            msx.append([ids, (ids[0], 1)])
        elif draw < 0.55:
            msx.append([ids[:1]])
        else:
            msx.append([ids])
    codes, _ = encode_msx(msx, len(NAMES))
    return PartScoreArray(codes, NAMES, "msx"), y


def explainer_for(rule_model):
    if rule_model == "decision_list":
        return GlobalRuleExplainer(as_decision_list=True, min_precision=0.7, random_state=0)
    return GlobalRuleExplainer(rule_model, min_precision=0.7, random_state=0, target_names=["a", "b", "c", "d"])


def evaluate(spec, symbols):
    """rules.json's decision procedure, written from its documentation alone."""
    names = [c["name"] for c in spec["classes"]]
    labels = [c["label"] for c in spec["classes"]]
    ops = {"==": np.equal, ">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
    rules = spec["rules"]
    fires = [
        np.all([ops[c["operator"]](symbols[c["feature"]].to_numpy().astype(float), c["threshold"]) for c in r["conditions"]],
               axis=0)
        for r in rules
    ]
    decided, by_rule = [], []
    for i in range(len(symbols)):
        firing = [k for k in range(len(rules)) if fires[k][i]]
        if spec["decision"] == "weighted_sum":
            totals = {n: spec["intercept"][n] for n in names}
            for k in firing:
                for n, w in rules[k].get("weight", {}).items():
                    totals[n] += w
            best = max(names, key=lambda n: (totals[n], -names.index(n)))
            decided.append(best)
            by_rule.append(any(rules[k]["target"] == best for k in firing))
            continue
        if spec["decision"] == "most_precise":
            firing = sorted(firing, key=lambda k: -rules[k]["precision"])  # stable: list order on ties
        decided.append(rules[firing[0]]["target"] if firing else spec["default"])
        by_rule.append(bool(firing))
    return np.array([labels[names.index(n)] for n in decided]), np.array(by_rule)


@pytest.fixture(scope="module", params=["scores", "msx"])
def tables(request):
    make = score_table if request.param == "scores" else msx_table
    return make(500, 0), make(300, 1)


@pytest.mark.parametrize("rule_model", RULE_MODELS)
def test_rules_json_alone_reproduces_predict_score_and_coverage(rule_model, tables):
    (F, y), (F_test, y_test) = tables
    explainer = explainer_for(rule_model).fit(F, y)
    spec = json.loads(explainer.report("json"))
    assert spec["version"] == 2 and spec["decision"] == explainer.decision_
    assert all(r["conditions"] for r in spec["rules"]), "a rule without conditions would fire everywhere"
    for F_, y_ in ((F, y), (F_test, y_test)):
        symbols = explainer.symbols(F_)
        decided, by_rule = evaluate(spec, symbols)
        np.testing.assert_array_equal(decided, explainer.predict(F_))
        np.testing.assert_array_equal(apply_rules(spec, F_), explainer.predict(F_))
        assert explainer.score(F_, y_) == pytest.approx(np.mean(decided == y_))
        # covered: decided by a rule of the image's class, so never for two classes
        assert explainer.coverage(F_, y_) == pytest.approx(np.mean(by_rule & (decided == y_)))
    # the printed precision and coverage are those of the listed rules on the training images
    symbols = explainer.symbols(F)
    for rule in explainer.rules_:
        fired = np.all([symbols[f].to_numpy() == t for f, _, t in rule.conditions], axis=0)
        assert rule.precision == pytest.approx(np.mean(y[fired] == rule.target) if fired.any() else 0.0)
        assert rule.coverage == pytest.approx(np.mean(fired[y == rule.target]))
        low, high = rule.precision_interval
        assert low <= rule.precision <= high


@pytest.mark.parametrize("rule_model", ["boosted", "figs", "rulefit", "skope"])
def test_vote_based_learners_print_their_weights(rule_model, tables):
    (F, y), _ = tables
    explainer = explainer_for(rule_model).fit(F, y)
    assert explainer.decision_ == "weighted_sum"
    assert all(rule.weight for rule in explainer.rules_)
    text = explainer.report()
    assert "additive" in text and "weights" in text and "(start)" in text


def test_rules_json_written_to_a_file_and_read_back(tmp_path, tables):
    (F, y), (F_test, _) = tables
    explainer = GlobalRuleExplainer().fit(F, y)
    path = tmp_path / "rules.json"
    path.write_text(explainer.report("json"), encoding="utf-8")
    np.testing.assert_array_equal(apply_rules(str(path), F_test), explainer.predict(F_test))
    np.testing.assert_array_equal(apply_rules(path.read_text(encoding="utf-8"), F_test), explainer.predict(F_test))


def test_rules_json_of_the_last_release_fails_clearly():
    old = {"rule_model": "set_cover", "classes": [0, 1], "default_class": 0, "decision_list": False, "rules": []}
    with pytest.raises(ValueError, match="0.1"):
        apply_rules(old, np.zeros((2, 3)))


def test_pickle_of_the_last_release_loads_and_fails_clearly():
    F, y = score_table(200, 0)
    explainer = GlobalRuleExplainer().fit(F, y)
    state = dict(explainer.__getstate__())
    for name in ("decision_", "symbol_space_", "intercept_", "class_names_", "binarize_", "empty_explanations_",
                 "closure"):
        state.pop(name)
    old = GlobalRuleExplainer.__new__(GlobalRuleExplainer)
    old.__setstate__(state)
    assert old.get_params()["closure"] == 0.0 and "GlobalRuleExplainer" in repr(old)
    with pytest.raises(ValueError, match="skpartx 0.1"):
        old.predict(F)
    with pytest.raises(ValueError, match="fit it again"):
        old.report()
    fresh = pickle.loads(pickle.dumps(explainer))
    np.testing.assert_array_equal(fresh.predict(F), explainer.predict(F))


def test_empty_msx_is_a_named_symbol_never_a_rule_that_fires_everywhere():
    F, y = msx_table(500, 0)
    explainer = GlobalRuleExplainer(target_names=["a", "b", "c", "d"]).fit(F, y)
    assert "(baseline)" in explainer.get_feature_names_out()
    assert explainer.empty_explanations_[2] > 0.2
    baseline_rules = [r for r in explainer.rules_ if r.positive_features() == ["(baseline)"]]
    assert [r.target for r in baseline_rules] == [2]
    assert baseline_rules[0].precision == 1.0
    symbols = explainer.symbols(F)
    # the empty MSX turns on (baseline) and nothing else
    empty = symbols["(baseline)"].to_numpy()
    assert not symbols.drop(columns="(baseline)").to_numpy()[empty].any()
    assert "the baseline is not neutral for c" in explainer.report()


def test_msx_codes_keep_their_encoding_through_cross_validation():
    from sklearn.model_selection import GridSearchCV, cross_val_score

    F, y = msx_table(300, 2)
    search = GridSearchCV(GlobalRuleExplainer(), {"max_rules": [1, 4]}, cv=3).fit(F, y)
    assert search.best_estimator_.binarize_ == "msx" and search.best_params_ == {"max_rules": 4}
    assert all(name.startswith(("{", "(")) for name in search.best_estimator_.get_feature_names_out())
    assert cross_val_score(GlobalRuleExplainer(), F, y, cv=3).min() > 0.8
