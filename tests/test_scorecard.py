"""Scorecards (``GlobalRuleExplainer(rule_model="scorecard")``): whole-number points per
symbol and class that decide exactly as printed, recover planted evidence, and work on part
scores and on MSXs."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from skpartx import GlobalRuleExplainer, apply_rules
from skpartx.rules import load_rules_json

PARTS = ["head", "wing", "tail", "wheel", "horn", "leg"]
CLASSES = np.array(["bird", "car", "goat"])
# planted points: each class is told by two of its own parts and spoilt by one of another's
PLANTED = np.array([
    # head wing tail wheel horn leg
    [4, 4, 0, -3, 0, 0],  # bird
    [0, -3, 0, 5, 0, 2],  # car
    [0, 0, -3, 0, 5, 3],  # goat
], dtype=float)


def planted_scores(n, random_state):
    """Part scores of ``n`` images whose decision is the argmax of the planted points (plus
    a little noise, which decides ties), and those decisions. Each image shows a random half
    of the parts."""
    rng = np.random.default_rng(random_state)
    on = rng.random((n, len(PARTS))) < 0.5
    y = CLASSES[np.argmax(on @ PLANTED.T + rng.normal(0, 0.3, (n, len(CLASSES))), axis=1)]
    # a part that is on carries a clear share of the positive total; one that is off carries none
    F = np.where(on, rng.uniform(0.5, 1.0, on.shape), rng.uniform(-0.05, 0.0, on.shape))
    return pd.DataFrame(F, columns=PARTS), y


@pytest.fixture(scope="module")
def planted():
    F, y = planted_scores(600, 0)
    F_held, y_held = planted_scores(1000, 1)
    explainer = GlobalRuleExplainer("scorecard", binarize="positive", random_state=0).fit(F, y)
    return explainer, F, y, F_held, y_held


def points_of(explainer):
    """The card as numbers read off ``rules_`` and ``intercept_``: (symbols x classes) points."""
    names = list(explainer.get_feature_names_out())
    points = np.zeros((len(names), len(explainer.classes_)))
    for rule in explainer.rules_:
        ((symbol, op, value),) = rule.conditions
        assert (op, value) == ("==", 1)
        for name, weight in rule.weight.items():
            points[names.index(symbol), explainer.class_names_.index(name)] = weight
    return points


def test_scorecard_reproduces_the_planted_decisions(planted):
    explainer, F, y, F_held, y_held = planted
    assert explainer.decision_ == "weighted_sum"
    # where the planted points set one class ahead by 2 or more, the noise never decides
    on = F_held.to_numpy() > 0
    totals = on @ PLANTED.T
    ordered = np.sort(totals, axis=1)
    clear = ordered[:, -1] - ordered[:, -2] >= 2
    assert clear.mean() > 0.5
    planted_class = CLASSES[np.argmax(totals, axis=1)]
    assert np.mean(explainer.predict(F_held[clear]) == planted_class[clear]) >= 0.98
    # elsewhere (ties broken by noise) nothing can do better than the planted points themselves
    assert explainer.score(F_held, y_held) >= np.mean(planted_class == y_held) - 0.02
    # set cover with the same symbols cannot weigh evidence against a class
    cover = GlobalRuleExplainer("set_cover", binarize="positive", candidates="subsets", as_decision_list=True)
    assert explainer.score(F_held, y_held) >= cover.fit(F, y).score(F_held, y_held) + 0.03


def test_scorecard_points_order_classes_as_planted(planted):
    explainer = planted[0]
    points = points_of(explainer)
    symbols = list(explainer.get_feature_names_out())
    # points are identified up to a constant per symbol across classes: compare classes
    # within a symbol's row, wherever the planted points set them clearly apart
    for j, part in enumerate(PARTS):
        row = points[symbols.index(part)]
        for a in range(len(CLASSES)):
            for b in range(len(CLASSES)):
                if PLANTED[a, j] - PLANTED[b, j] >= 3:
                    assert row[a] > row[b], (part, CLASSES[a], CLASSES[b], row)


def test_scorecard_decides_exactly_as_its_whole_points_say(planted):
    explainer, _, _, F_held, _ = planted
    points = points_of(explainer)
    assert np.array_equal(points, np.rint(points)) and np.abs(points).max() == 10
    assert np.array_equal(explainer.intercept_, np.rint(explainer.intercept_))
    totals = explainer.intercept_ + explainer.symbols(F_held).to_numpy(dtype=float) @ points
    assert np.array_equal(explainer.predict(F_held), explainer.classes_[np.argmax(totals, axis=1)])
    # the report's weights table is the card, every point the whole number it is
    report = explainer.report()
    table = report[report.index("Weights"):].splitlines()[1:]
    header = table[0].split()
    assert header == ["when", *explainer.class_names_]
    start = table[1].split()
    assert start[0] == "(start)" and [float(v) for v in start[1:]] == explainer.intercept_.tolist()
    symbols = list(explainer.get_feature_names_out())
    for line in table[2:2 + len(explainer.rules_)]:
        cells = line.split()
        row = points[symbols.index(cells[0])]
        assert sorted(float(v) for v in cells[1:]) == sorted(v for v in row if v != 0)


def test_scorecard_rules_json_decides_the_same(planted, tmp_path):
    explainer, _, _, F_held, _ = planted
    path = tmp_path / "rules.json"
    path.write_text(explainer.report(format="json"), encoding="utf-8")
    assert load_rules_json(path)["decision"] == "weighted_sum"
    assert np.array_equal(apply_rules(path, F_held), explainer.predict(F_held))
    again = pickle.loads(pickle.dumps(explainer))
    assert np.array_equal(again.predict(F_held), explainer.predict(F_held))


def test_penalty_sets_the_size_of_the_card():
    F, y = planted_scores(600, 0)
    sizes = {}
    for C in (0.01, 10.0):
        learner = LogisticRegression(C=C, l1_ratio=1.0, solver="saga", max_iter=5000, random_state=0)
        explainer = GlobalRuleExplainer(learner, binarize="positive").fit(F, y)
        sizes[C] = int((points_of(explainer) != 0).sum())
        assert explainer.get_params()["rule_model"] is learner  # kept as given, cloned to fit
        assert not hasattr(learner, "coef_")
    assert sizes[0.01] < sizes[10.0]


def test_integer_sample_weight_acts_like_repeated_images():
    F, y = planted_scores(200, 3)
    weight = np.random.default_rng(4).integers(1, 3, len(y))
    weighted = GlobalRuleExplainer("scorecard", binarize="positive", random_state=0).fit(F, y, sample_weight=weight)
    repeated = GlobalRuleExplainer("scorecard", binarize="positive", random_state=0).fit(
        F.loc[np.repeat(F.index, weight)], np.repeat(y, weight))
    # the same optimum up to the solver's tolerance: points may differ by one at most
    assert np.abs(points_of(weighted) - points_of(repeated)).max() <= 1
    assert np.mean(weighted.predict(F) == repeated.predict(F)) >= 0.97


def test_two_classes():
    F, y = planted_scores(400, 5)
    keep = y != "goat"
    explainer = GlobalRuleExplainer("scorecard", binarize="positive", random_state=0).fit(F[keep], y[keep])
    assert list(explainer.classes_) == ["bird", "car"] and len(explainer.intercept_) == 2
    F_held, y_held = planted_scores(400, 6)
    keep = y_held != "goat"
    assert explainer.score(F_held[keep], y_held[keep]) >= 0.9
    points = points_of(explainer)
    symbols = list(explainer.get_feature_names_out())
    assert points[symbols.index("wheel"), 1] - points[symbols.index("wheel"), 0] > 0


def msx_codes(msx_per_image, n_parts):
    """Membership codes: bit m of a part's code is set when it is in the image's m-th MSX."""
    codes = np.zeros((len(msx_per_image), n_parts))
    for i, sets in enumerate(msx_per_image):
        for m, s in enumerate(sets):
            for p in s:
                codes[i, p] += 2 ** m
    return codes


def test_scorecard_on_msx_weighs_parts_alone():
    rng = np.random.default_rng(0)
    msx, y = [], []
    for _ in range(300):  # bird: head with wing or with tail; car: wheel with any other part
        if rng.random() < 0.5:
            msx.append([(0, int(rng.choice([1, 2])))])
            y.append("bird")
        else:
            msx.append([(3, int(rng.choice([0, 4, 5])))])
            y.append("car")
    F, y = pd.DataFrame(msx_codes(msx, len(PARTS)), columns=PARTS), np.array(y)
    card = GlobalRuleExplainer("scorecard", binarize="msx", random_state=0).fit(F, y)
    names = list(card.get_feature_names_out())
    assert "wheel" in names and "head" in names  # a part in an MSX, on its own
    assert card.symbols(F)["wheel"].to_numpy().tolist() == (F["wheel"] > 0).tolist()
    assert card.score(F, y) == 1.0
    # set cover keeps GEPC's candidates: the MSXs themselves
    cover = GlobalRuleExplainer(binarize="msx").fit(F, y)
    assert all(name.startswith("{") or name == "(baseline)" for name in cover.get_feature_names_out())
    assert "A part's name alone" in card.report() and "A part's name alone" not in cover.report()
    spec = json.loads(card.report(format="json"))
    assert np.array_equal(apply_rules(spec, F), card.predict(F))


def test_scorecard_clones_with_its_learner():
    learner = LogisticRegression(C=0.5, l1_ratio=1.0, solver="saga")
    explainer = GlobalRuleExplainer(learner)
    assert clone(explainer).get_params()["rule_model"].C == 0.5


def test_scorecard_picture_is_its_weights(planted):
    import matplotlib

    matplotlib.use("Agg")
    explainer = planted[0]
    fig = explainer.plot()
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names == ["(start)", *(r.conditions[0][0] for r in explainer.rules_)]
    shown = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    points = points_of(explainer)
    symbols = list(explainer.get_feature_names_out())
    for i, rule in enumerate(explainer.rules_, start=1):
        for j, value in enumerate(points[symbols.index(rule.conditions[0][0])]):
            assert shown.get((i, j), "") == ("" if value == 0 else f"{value:+.0f}")
    with pytest.raises(ValueError, match="plot_weights draws additive models"):
        GlobalRuleExplainer("set_cover", binarize="positive").fit(planted[1], planted[2]).plot_weights()
    import matplotlib.pyplot as plt

    plt.close("all")
