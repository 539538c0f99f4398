"""imodels rule learners on binary symbol matrices (skpartx.rules._imodels)."""

import itertools
import math
import warnings

import numpy as np
import pytest

imodels = pytest.importorskip("imodels")

from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from skpartx.rules._imodels import IMODELS_LEARNERS, ImodelsRules, make_learner  # noqa: E402

NAMES = ["head", "wing", "tail", "wheel", "horn", "leg", "body above wing", "<b>beak</b>"]

# training accuracy on the 3-class data below, floors a little under what each reached
# (figs, rulefit, c45, hstree 1.00; skope 0.99; boosted 0.89; greedy list 0.76; OneR
# 0.65). The greedy rule list and OneR recurse into one side of each split, so they
# cannot express "head and wing"; boosted stumps vote one symbol at a time.
ACCURACY_FLOOR = {
    "figs": 0.95,
    "rulefit": 0.95,
    "greedy_rule_list": 0.7,
    "skope": 0.95,
    "boosted": 0.85,
    "oner": 0.6,
    "c45": 0.95,
    "hstree": 0.95,
}
TREES = ("c45", "hstree")  # a single multiclass tree: its leaves partition the inputs
DECISION_LISTS = ("greedy_rule_list", "oner")  # binary only, so one-vs-rest here
PLANTED = ("figs", "c45", "hstree", "rulefit", "skope")  # recover "flyer <- head and wing"
# rules that are verdicts for their class: tree leaves and boosted trees' leaf votes.
# (Weighted sums also hold terms that only lower a class, or raise it a little: RuleFit's
# negative coefficients, a one-vs-rest list's low-probability entries, FIGS residuals.)
POINTED = ("boosted", "c45", "hstree")


def make_symbols(n=400, random_state=0):
    """Symbols drawn at random; the class is set by planted conjunctions."""
    rng = np.random.default_rng(random_state)
    S = (rng.random((n, len(NAMES))) < 0.5).astype(float)
    head, wing, tail, wheel = S[:, 0] == 1, S[:, 1] == 1, S[:, 2] == 1, S[:, 3] == 1
    y = np.where(head & wing, "flyer", np.where(tail & wheel, "racer", "other"))
    return S, y


S, Y = make_symbols()
# the planted problem with two classes, and both with integer labels
TASKS = {
    "3 str": Y,
    "2 str": np.where(Y == "flyer", "flyer", "not flyer"),
    "3 int": np.select([Y == "flyer", Y == "racer"], [7, -3], default=12),
    "2 int": np.where(Y == "racer", 1, 0),
}


def check_rows(d, random_state=0):
    """Every 0/1 row over d symbols when d <= 10, else 4000 random ones."""
    if d <= 10:
        return np.array(list(itertools.product([0.0, 1.0], repeat=d)))
    return (np.random.default_rng(random_state).random((4000, d)) < 0.5).astype(float)


def evaluate(model, S, names, classes):
    """Labels a rule model assigns to the rows of S, by its documented procedure.

    first_match: the first rule, in list order, whose conditions all hold decides its
    label; none: the default. weighted_sum: each class starts at its intercept and adds,
    rule by rule in list order, its weight of every rule that holds; the largest score
    wins, ties to the class that comes first in ``classes``.
    """
    column = {name: j for j, name in enumerate(names)}

    def holds(conditions):
        mask = np.ones(len(S), dtype=bool)
        for name, op, value in conditions:
            assert op == "=="
            mask &= S[:, column[name]] == value
        return mask

    out = np.empty(len(S), dtype=object)
    if model["decision"] == "first_match":
        out[:] = [model["default"]] * len(S)
        decided = np.zeros(len(S), dtype=bool)
        for target, conditions, _ in model["rules"]:
            hit = holds(conditions) & ~decided
            out[hit] = [target] * hit.sum()
            decided |= hit
        return out
    assert model["decision"] == "weighted_sum"
    score = {c: np.full(len(S), float(model["intercept"][c])) for c in classes}
    for _, conditions, weight in model["rules"]:
        hit = holds(conditions)
        for c, w in weight.items():
            score[c][hit] = score[c][hit] + w
    best = np.zeros(len(S), dtype=int)
    best_score = score[classes[0]].copy()
    for k, c in enumerate(classes[1:], start=1):
        better = score[c] > best_score  # strictly: a tie keeps the earlier class
        best[better], best_score[better] = k, score[c][better]
    out[:] = [classes[k] for k in best]
    return out


def assert_reproduces(model, S_fit, names=NAMES):
    """The rule model gives model.predict on the training rows and on check_rows."""
    rule_model = model.rule_model()
    classes = model.classes_.tolist()
    for rows in (S_fit, check_rows(S_fit.shape[1])):
        expected = model.predict(rows).astype(object)
        got = evaluate(rule_model, rows, names, classes)
        assert np.mean(got == expected) == 1.0, np.flatnonzero(got != expected)[:10]


def fires(conditions, S=S):
    """Rows of S on which a conjunction of (name, "==", value) holds."""
    mask = np.ones(len(S), dtype=bool)
    for name, op, value in conditions:
        assert op == "=="
        mask &= S[:, NAMES.index(name)] == value
    return mask


@pytest.fixture(scope="module")
def fitted():
    """Each learner fitted once per task (default: 3 classes, strings), with any warning that escaped."""
    cache = {}

    def get(name, task="3 str"):
        if (name, task) not in cache:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = ImodelsRules(name, random_state=0).fit(S, TASKS[task], NAMES)
                prediction = model.predict(S)
            cache[name, task] = model, prediction, caught
        return cache[name, task]

    return get


def assert_valid_rules(rules, classes):
    assert rules, "no rules"
    for target, conditions in rules:
        assert target in set(classes)
        assert isinstance(conditions, tuple) and conditions, "empty conditions"
        for condition in conditions:
            name, op, value = condition
            assert name in NAMES and op == "==" and value in (0, 1), condition
            assert isinstance(value, int)
        assert len({name for name, _, _ in conditions}) == len(conditions), "repeated symbol"


def test_data_has_three_balanced_enough_classes():
    labels, counts = np.unique(Y, return_counts=True)
    assert list(labels) == ["flyer", "other", "racer"]
    assert counts.min() > 60


@pytest.mark.parametrize("name", IMODELS_LEARNERS)
def test_fit_predict_rules(name, fitted):
    model, prediction, caught = fitted(name)
    assert not caught, [str(w.message) for w in caught]
    assert prediction.shape == Y.shape and prediction.dtype.kind == "U"
    assert set(prediction) <= set(Y)
    assert np.mean(prediction == Y) >= ACCURACY_FLOOR[name]
    assert list(model.classes_) == ["flyer", "other", "racer"]
    assert_valid_rules(model.rules(), Y)


def assert_partition_reproduces(rules, prediction):
    """Every input satisfies exactly one rule, and that rule's class is the prediction."""
    firing = np.column_stack([fires(conditions) for _, conditions in rules])
    assert (firing.sum(axis=1) == 1).all()
    targets = np.array([target for target, _ in rules], dtype=object)
    np.testing.assert_array_equal(targets[firing.argmax(axis=1)], prediction)


@pytest.mark.parametrize("name", TREES)
def test_tree_rules_reproduce_predictions(name, fitted):
    model, prediction, _ = fitted(name)
    assert not model.one_vs_rest_ and len(model.estimators_) == 1
    assert_partition_reproduces(model.rules(), prediction)  # one leaf per input


@pytest.mark.parametrize("name", DECISION_LISTS)
def test_one_vs_rest_list_terms_are_each_learners_probability(name, fitted):
    model, _, _ = fitted(name)
    assert model.one_vs_rest_ and len(model.estimators_) == len(model.classes_)
    rule_model = model.rule_model()
    assert rule_model["decision"] == "weighted_sum"
    rows = check_rows(len(NAMES))
    for label, learner in zip(model.classes_, model.estimators_):
        # estimators_[k] separates classes_[k] (class 1) from the rest: its entries are
        # the rules weighing classes_[k], they hold on disjoint rows, and their weights
        # are the probability of class 1 it gives there
        score = np.full(len(rows), rule_model["intercept"][label])
        fired = np.zeros(len(rows), dtype=bool)
        for _, conditions, weight in rule_model["rules"]:
            if label in weight:
                hit = fires(conditions, rows)
                assert not (hit & fired).any(), "list entries of one class overlap"
                fired |= hit
                score[hit] += weight[label]
        np.testing.assert_array_equal(score, learner.predict_proba(rows)[:, 1], err_msg=str(label))


@pytest.mark.parametrize("name", TREES + DECISION_LISTS)
def test_two_class_rules_reproduce_predictions(name, fitted):
    model, _, _ = fitted(name, "2 str")
    assert len(model.estimators_) == 1 and model.rule_model()["decision"] == "first_match"
    # one learner and both classes: the rules (leaves, list entries) partition the inputs
    assert_partition_reproduces(model.rules(), model.predict(S))


@pytest.mark.parametrize("name", POINTED)
def test_rules_point_to_their_class(name, fitted):
    # where a rule fires, its class is more common than overall (measured: lift >= 1.2).
    # A leaf given to the wrong side of a split, or a vote to the wrong class, fails this.
    model, _, _ = fitted(name)
    for target, conditions in model.rules():
        hit = fires(conditions)
        assert hit.any(), (target, conditions)
        assert np.mean(Y[hit] == target) > np.mean(Y == target), (target, conditions)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", IMODELS_LEARNERS)
def test_rule_model_reproduces_predict(name, task, fitted):
    # printed = scored: the rules alone, by their decision procedure, give the learner's
    # own prediction on the training rows and on every 0/1 row
    model, _, caught = fitted(name, task)
    assert not caught, [str(w.message) for w in caught]
    assert_reproduces(model, S)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", IMODELS_LEARNERS)
def test_rule_model_is_well_formed(name, task, fitted):
    model, _, _ = fitted(name, task)
    rule_model = model.rule_model()
    classes = model.classes_.tolist()
    label_type = type(classes[0])
    assert set(rule_model) == {"decision", "rules", "intercept", "default"}
    assert rule_model["default"] in classes and type(rule_model["default"]) is label_type
    # the default is what the procedure decides when no rule holds
    nothing_holds = dict(rule_model, rules=[])
    assert evaluate(nothing_holds, S[:1], NAMES, classes)[0] == rule_model["default"]
    for target, conditions, weight in rule_model["rules"]:
        assert target in classes and type(target) is label_type
        assert isinstance(conditions, tuple) and conditions, "empty conditions"
        for name_, op, value in conditions:
            assert name_ in NAMES and op == "==" and type(value) is int and value in (0, 1)
        assert len({c[0] for c in conditions}) == len(conditions), "repeated symbol"
        if rule_model["decision"] == "first_match":
            assert weight is None
        else:
            assert weight and set(weight) <= set(classes)
            assert all(type(w) is float and math.isfinite(w) and w != 0 for w in weight.values())
            # the target is the class the weight raises most, ties to the first class
            assert target == max(classes, key=lambda c: weight.get(c, 0.0))
    if rule_model["decision"] == "first_match":
        assert rule_model["intercept"] is None
    else:
        intercept = rule_model["intercept"]
        assert list(intercept) == classes
        assert all(type(b) is float and math.isfinite(b) for b in intercept.values())
    expected = "first_match" if name in TREES or (name in DECISION_LISTS and task[0] == "2") else "weighted_sum"
    assert rule_model["decision"] == expected


def test_rule_model_is_a_copy(fitted):
    model, _, _ = fitted("figs")
    rule_model = model.rule_model()
    rule_model["rules"][0][2].clear()
    rule_model["intercept"]["flyer"] = 99.0
    rule_model["rules"].clear()
    assert model.rule_model()["rules"][0][2] and model.rule_model()["intercept"]["flyer"] != 99.0


INSTANCES = {
    "sklearn tree": lambda: DecisionTreeClassifier(max_depth=4),
    "greedy tree": lambda: imodels.GreedyTreeClassifier(max_depth=4),
    "hstree on a greedy tree": lambda: imodels.HSTreeClassifier(imodels.GreedyTreeClassifier(max_depth=3)),
    # ~20 trees: FIGS's sum over trees uses numpy's pairwise summation from 8 on
    "figs stumps": lambda: imodels.FIGSClassifier(max_rules=20, max_depth=1),
    "figs cv": lambda: imodels.FIGSClassifierCV(n_rules_list=[4, 8], n_trees_list=[2], depth_list=[2], cv=2),
    "boosted depth 2": lambda: imodels.BoostedRulesClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=10),
    "c45 capped": lambda: imodels.C45TreeClassifier(max_rules=4),
    "greedy list depth 2": lambda: imodels.GreedyRuleListClassifier(max_depth=2),
}


@pytest.mark.parametrize("task", ["3 str", "2 int"])
@pytest.mark.parametrize("make", INSTANCES.values(), ids=INSTANCES.keys())
def test_rule_model_of_instances(make, task):
    model = ImodelsRules(make(), random_state=0).fit(S, TASKS[task], NAMES)
    assert_reproduces(model, S)


def noisy_problem(n_classes, d, random_state):
    """Labels from noisy linear scores: no planted rules, many near-equal scores."""
    rng = np.random.default_rng(random_state)
    S = (rng.random((250, d)) < rng.uniform(0.2, 0.8, d)).astype(float)
    logits = S @ rng.normal(0, 2, (d, n_classes)) + rng.normal(0, 1, (250, n_classes))
    return S, np.array(list("abcd"))[np.argmax(logits, axis=1)]


@pytest.mark.parametrize("n_classes, d", [(4, 12), (2, 10)])
@pytest.mark.parametrize("name", [n for n in IMODELS_LEARNERS if n != "rulefit"])  # rulefit: slow
def test_rule_model_on_a_noisier_problem(name, n_classes, d):
    # 12 symbols: checked on 4000 random rows; 10: on all 1024
    S_noisy, y = noisy_problem(n_classes, d, random_state=1)
    names = [f"p{j}" for j in range(d)]
    model = ImodelsRules(name, random_state=0).fit(S_noisy, y, names)
    assert_reproduces(model, S_noisy, names)


def test_conjunction_of_splits():
    from skpartx.rules._imodels import _conjunction

    # thresholds between 0 and 1 test a symbol; repeats collapse; order is kept
    assert _conjunction([(3, ">", 0.5), (1, "<=", 0.5), (3, ">=", 1.0)]) == ((3, 1), (1, 0))
    assert _conjunction([(0, "<", 1.0), (2, "==", 1.0)]) == ((0, 0), (2, 1))
    assert _conjunction([(0, "<=", 1.5)]) == ()  # always holds on 0/1
    assert _conjunction([(0, ">", 1.0)]) is None  # never holds
    assert _conjunction([(0, "<=", 0.5), (1, ">", 0.5), (0, ">", 0.5)]) is None


@pytest.mark.parametrize("name", PLANTED)
def test_planted_conjunction_recovered(name, fitted):
    model, _, _ = fitted(name)
    assert any(
        target == "flyer" and ("head", "==", 1) in conditions and ("wing", "==", 1) in conditions
        for target, conditions in model.rules()
    ), model.rules()


@pytest.mark.parametrize("name", ["figs", "skope", "boosted", "greedy_rule_list"])
def test_integer_labels(name, fitted):
    y = TASKS["3 int"]
    model, prediction, _ = fitted(name, "3 int")
    assert prediction.dtype.kind == "i" and set(prediction) <= {7, -3, 12}
    assert np.mean(prediction == y) >= ACCURACY_FLOOR[name]
    assert_valid_rules(model.rules(), y)
    assert all(type(target) is int for target, _ in model.rules())


@pytest.mark.parametrize("labels", [(0, 1), ("no", "yes")])
def test_two_classes_string_and_integer(labels):
    y = np.where(Y == "flyer", labels[1], labels[0])
    model = ImodelsRules("boosted", random_state=0).fit(S, y, NAMES)
    np.testing.assert_array_equal(model.predict(S), y)
    assert {target for target, _ in model.rules()} == set(labels)


def test_skope_two_classes_describes_the_rarer_class(fitted):
    # Skope-rules only learns rules for its class 1: the rare "flyer" here, although
    # it sorts first
    y = TASKS["2 str"]
    model, _, _ = fitted("skope", "2 str")
    assert {target for target, _ in model.rules()} == {"flyer"}
    assert np.mean(model.predict(S) == y) >= 0.85


def test_instance_instead_of_name():
    learner = imodels.FIGSClassifier(max_rules=5)
    model = ImodelsRules(learner, random_state=0).fit(S, Y, NAMES)
    assert not hasattr(learner, "trees_"), "the instance passed in was fitted"
    assert model.estimators_[0].max_rules == 5 and model.estimators_[0].complexity_ <= 5
    assert np.mean(model.predict(S) == Y) >= 0.9
    assert_valid_rules(model.rules(), Y)


def test_single_figs_tree_rules_reproduce_predictions():
    model = ImodelsRules(imodels.FIGSClassifier(max_rules=6, max_trees=1), random_state=0)
    model.fit(S, Y, NAMES)
    rules = model.rules()
    firing = np.column_stack([fires(conditions) for _, conditions in rules])
    assert (firing.sum(axis=1) == 1).all()
    targets = np.array([target for target, _ in rules], dtype=object)
    np.testing.assert_array_equal(targets[firing.argmax(axis=1)], model.predict(S))


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError) as error:
        ImodelsRules("cart", random_state=0).fit(S, Y, NAMES)
    for name in IMODELS_LEARNERS:
        assert name in str(error.value)
    with pytest.raises(ValueError, match="figs"):
        make_learner("FIGS")


def test_unsupported_instance_is_rejected():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match="LogisticRegression"):
        make_learner(LogisticRegression())


@pytest.mark.parametrize("name", IMODELS_LEARNERS)
def test_make_learner_is_unfitted_and_seeded(name):
    learner = make_learner(name, random_state=3)
    assert type(learner).__module__.startswith("imodels")
    params = learner.get_params(deep=False)
    if "random_state" in params:
        assert params["random_state"] == 3
    if name == "hstree":  # HSTree hides its tree's seed from get_params
        assert learner.estimator_.random_state == 3
    assert make_learner(learner) is not learner


def test_make_learner_keeps_an_instance_seed_unless_given_one():
    assert make_learner(imodels.FIGSClassifier(random_state=5)).random_state == 5
    assert make_learner(imodels.FIGSClassifier(random_state=5), random_state=1).random_state == 1
    hstree = imodels.HSTreeClassifier(DecisionTreeClassifier(max_leaf_nodes=5, random_state=9))
    assert make_learner(hstree).estimator_.random_state == 9
    assert make_learner(hstree).estimator_.max_leaf_nodes == 5


@pytest.mark.parametrize("name", ["figs", "skope", "greedy_rule_list"])
def test_deterministic_and_leaves_global_rng_alone(name):
    # a copy of "head" ties with it at every split: some learners break such ties with
    # numpy's global generator, whatever their own random_state
    S2, names2 = np.column_stack([S, S[:, 0]]), NAMES + ["head copy"]
    results = []
    for seed in range(4):
        np.random.seed(seed)
        before = np.random.get_state()[1].copy()
        model = ImodelsRules(name, random_state=0).fit(S2, Y, names2)
        np.testing.assert_array_equal(np.random.get_state()[1], before)
        results.append((model.rules(), model.predict(S2).tolist()))
    assert all(result == results[0] for result in results)


def test_no_warnings_escape_and_filters_unchanged():
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("skope", "hstree", "oner"):
            ImodelsRules(name, random_state=0).fit(S, Y, NAMES).predict(S)
    assert warnings.filters == filters


def test_input_checks():
    with pytest.raises(ValueError, match="0 and 1"):
        ImodelsRules("c45").fit(S * 0.5, Y, NAMES)
    with pytest.raises(ValueError, match="names"):
        ImodelsRules("c45").fit(S, Y, NAMES[:-1])
    with pytest.raises(ValueError, match="2 classes"):
        ImodelsRules("c45").fit(S, np.zeros(len(S)), NAMES)
    model = ImodelsRules("c45").fit(S, Y, NAMES)
    with pytest.raises(ValueError, match="symbols"):
        model.predict(S[:, :3])
