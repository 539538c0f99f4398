"""Global rules: planted rules recovered from ideal explanations, exact rule statistics, sklearn checks."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skpartx import GlobalRuleExplainer, GlobalRuleExplainerCV, Rule
from skpartx.datasets import make_part_shapes


def ideal_scores(lone_share, random_state=0):
    """Part scores as a perfect explainer of the planted rules would give them, plus noise;
    ``lone_share`` of the images are explained by one of their defining parts only."""
    data = make_part_shapes(800, image_size=32, random_state=1)
    rng = np.random.RandomState(random_state)
    names = list(data.part_names)
    scores = rng.uniform(0, 0.05, (len(data.target), len(names))) * data.present
    for i, c in enumerate(data.target):
        for part in data.rules[c]:
            scores[i, names.index(part)] = rng.uniform(0.3, 0.5)
    lone = rng.rand(len(scores)) < lone_share
    for i in np.flatnonzero(lone):
        scores[i, names.index(data.rules[data.target[i]][0])] = 0.0
    return data, pd.DataFrame(scores, columns=names)


@pytest.fixture(scope="module")
def ideal():
    return ideal_scores(0.1)


def test_set_cover_recovers_planted_conjunctions():
    data, F = ideal_scores(0.0)
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", target_names=data.target_names).fit(F, data.target)
    for c, parts in data.rules.items():
        rules = explainer.rules_for(c)
        assert [{feature for feature, _, _ in rule.conditions} for rule in rules] == [set(parts)], rules
    assert explainer.score(F, data.target) == 1.0
    assert explainer.coverage(F, data.target) == 1.0


def test_set_cover_picks_the_rule_firing_on_most_uncovered_images(ideal):
    """METHODS.md: each pick covers the most still-uncovered images. With some images explained
    by their second defining part alone, that part alone fires on every image of the class
    (and on no other), so it is picked first, and the planted conjunction it subsumes is not kept."""
    data, F = ideal
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", target_names=data.target_names).fit(F, data.target)
    for c, parts in data.rules.items():
        rules = explainer.rules_for(c)
        assert [{feature for feature, _, _ in rule.conditions} for rule in rules] == [{parts[1]}], rules
        assert rules[0].coverage == 1.0 and rules[0].precision == 1.0
    assert explainer.score(F, data.target) == 1.0


def test_no_chosen_rule_is_subsumed_by_a_more_general_one():
    """Observed candidates on noisy scores: whatever is picked, no rule fires only where
    another rule of its class with at least its precision fires."""
    data, F = ideal_scores(0.3, random_state=4)
    y = data.target.copy()
    y[::6] = (y[::6] + 1) % 4
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", min_precision=0.5, max_rules=8, min_coverage=1.0).fit(F, y)
    symbols = explainer.symbols(F).to_numpy()
    names = list(explainer.get_feature_names_out())
    fired = [symbols[:, [names.index(f) for f, _, _ in rule.conditions]].all(axis=1) for rule in explainer.rules_]
    for a, rule_a in enumerate(explainer.rules_):
        for b, rule_b in enumerate(explainer.rules_):
            if a != b and rule_a.target == rule_b.target:
                subsumed = not (fired[b] & ~fired[a]).any() and rule_a.precision >= rule_b.precision
                assert not subsumed, f"{rule_b} is subsumed by {rule_a}"


def test_subset_candidates_give_shortest_separating_rules(ideal):
    data, F = ideal
    explainer = GlobalRuleExplainer(binarize="relative", candidates="subsets").fit(F, data.target)
    for c, parts in data.rules.items():
        assert all(len(rule) == 1 for rule in explainer.rules_for(c))
        assert all(rule.conditions[0][0] in parts for rule in explainer.rules_for(c))


def test_closure_names_every_part_that_carries_the_decision():
    """Both parts of each planted pair carry the decision on 98% of the images: the most
    general pick is one part; its closure is the pair. With 10% of images explained by one
    part (beyond the 5% tolerance) the pick stays one part."""
    data, F = ideal_scores(0.02)
    closed = GlobalRuleExplainer(binarize="relative").fit(F, data.target)
    unclosed = GlobalRuleExplainer(binarize="relative", closure=0).fit(F, data.target)
    for c, parts in data.rules.items():
        assert [set(closed.rule_parts(rule)) for rule in closed.rules_for(c)] == [set(parts)]
        assert all(len(rule) == 1 for rule in unclosed.rules_for(c))
    assert closed.coverage(F, data.target) >= 0.95
    _, F_lone = ideal_scores(0.1)
    lone = GlobalRuleExplainer(binarize="relative").fit(F_lone, data.target)
    assert all(len(rule) == 1 for rule in lone.rules_)


def test_close_conjunction_from_its_definition():
    """Brute force: the closure adds symbols most frequent first while the rows lost weigh at
    most the tolerance, up to the length limit, and only while the closed pick stays precise."""
    from skpartx.rules._set_cover import close_conjunction, greedy_cover

    rng = np.random.RandomState(0)
    rows = np.zeros(200, bool)
    rows[:100] = True
    symbols = np.zeros((200, 5), bool)
    symbols[:100, 0] = True          # the pick
    symbols[:97, 1] = True           # on 97% of its rows: added at tolerance 0.05
    symbols[3:99, 2] = True          # 96%, but together with 1 it loses 5 rows of 100 (> 4)
    symbols[:, 3] = rng.rand(200) < 0.5
    weights = np.ones(200)
    assert close_conjunction(symbols, rows, (0,), weights, 0.05, 3) == (0, 1)
    assert close_conjunction(symbols, rows, (0,), weights, 0.06, 3) == (0, 1, 2)
    assert close_conjunction(symbols, rows, (0,), weights, 0.06, 2) == (0, 1)
    assert close_conjunction(symbols, rows, (0,), weights, 0.0, 3) == (0,)
    # weights count as repeated rows: the 3 rows without symbol 1 weigh 3 each (9 of 106)
    heavy = weights.copy()
    heavy[97:100] = 3
    assert close_conjunction(symbols, rows, (0,), heavy, 0.05, 3) == (0,)
    # A closed pick below min_precision is not taken: symbol 0 fires on 5 other rows, which all
    # have symbol 1, so (0, 1) has precision 97/102 < 100/105.
    symbols[100:105, 0] = symbols[100:105, 1] = True
    [(conjunction, fired, precision)] = greedy_cover(symbols, rows, [(0,)], 1, 0.951, 1.0, closure=0.05, max_length=3)
    assert conjunction == (0,) and precision == pytest.approx(100 / 105)
    [(conjunction, fired, precision)] = greedy_cover(symbols, rows, [(0,)], 1, 0.9, 1.0, closure=0.05, max_length=3)
    assert conjunction == (0, 1) and precision == pytest.approx(97 / 102)
    np.testing.assert_array_equal(fired, symbols[:, 0] & symbols[:, 1])


def test_a_later_pick_is_closed_over_the_images_it_was_picked_for():
    """A second pick covers the few images the first left; closing it over all the images of
    its class it fires on would add the first pick's symbol (on for most of them) and move it
    onto images already covered. Every rule must still cover an image no earlier rule does."""
    n = 300
    symbols = np.zeros((n, 4), bool)
    positive = np.zeros(n, bool)
    positive[:100] = True
    symbols[:97, 0] = True                      # fin: 97 of 100 divers
    symbols[:70, 1] = symbols[97:100, 1] = True  # window: 70 with the fin, the 3 without it
    symbols[100:, 2] = True
    y = np.where(positive, 0, 1)
    F = pd.DataFrame(symbols.astype(float), columns=["fin", "window", "other", "spare"])
    rules = GlobalRuleExplainer(binarize="positive", min_coverage=1.0).fit(F, y)
    diver = rules.rules_for(0)
    assert [set(rules.rule_parts(rule)) for rule in diver] == [{"fin"}, {"window"}]
    fired = rules.firing(F, diver)
    assert fired[:, 1][positive & ~fired[:, 0]].any()


def brute_force_statistics(F, y, conditions, target, threshold=0.5):
    scores = F.to_numpy()
    symbols = (scores > 0) & (scores >= threshold * scores.max(axis=1, keepdims=True))
    names = list(F.columns)
    fires = np.array([all(symbols[i, names.index(f)] for f, _, _ in conditions) for i in range(len(y))])
    support = fires.sum()
    precision = (fires & (y == target)).sum() / support
    coverage = (fires & (y == target)).sum() / (y == target).sum()
    return support, precision, coverage


def test_rule_statistics_match_brute_force(ideal):
    data, F = ideal
    y = data.target.copy()
    y[::7] = (y[::7] + 1) % 4  # disagreements make precision < 1 somewhere
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", min_precision=0.5).fit(F, y)
    assert any(rule.precision < 1 for rule in explainer.rules_)
    for rule in explainer.rules_:
        support, precision, coverage = brute_force_statistics(F, y, rule.conditions, rule.target)
        assert rule.support == support
        assert rule.precision == pytest.approx(precision)
        assert rule.coverage == pytest.approx(coverage)


def test_predict_follows_the_most_precise_firing_rule(ideal):
    data, F = ideal
    y = data.target.copy()
    y[::5] = (y[::5] + 2) % 4
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", min_precision=0.6).fit(F, y)
    prediction = explainer.predict(F)
    scores = F.to_numpy()
    symbols = (scores > 0) & (scores >= 0.5 * scores.max(axis=1, keepdims=True))
    names = list(F.columns)
    ordered = sorted(explainer.rules_, key=lambda r: (-r.precision, -r.support))
    for i in range(len(F)):
        expected = explainer.default_class_
        for rule in ordered:
            if all(symbols[i, names.index(f)] for f, _, _ in rule.conditions):
                expected = rule.target
                break
        assert prediction[i] == expected


def test_report_text_markdown_html_and_plot(ideal):
    data, F = ideal
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", target_names=data.target_names).fit(F, data.target)
    text = explainer.report()
    assert "flyer ← wing (precision 1.00 [0.9" in text and "covers 100% [9" in text
    assert "racer:" in text and "Otherwise:" in text
    markdown = explainer.report("markdown")
    assert markdown.startswith("# Global rules") and "## diver" in markdown
    html = explainer._repr_html_()
    assert "<table>" in html and "<td>wing</td>" in html
    import matplotlib

    matplotlib.use("Agg")
    fig = explainer.plot()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "flyer ← wing" in labels
    with pytest.raises(ValueError, match="format"):
        explainer.report("pdf")


def test_html_escapes_part_names():
    F = pd.DataFrame([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.8]], columns=["<b>beak</b>", "wing"])
    explainer = GlobalRuleExplainer(target_names=["<script>x</script>", "b"]).fit(F, [0, 0, 1, 1])
    html = explainer._repr_html_()
    assert "<b>beak</b>" not in html and "&lt;b&gt;beak&lt;/b&gt;" in html
    assert "<script>" not in html


def test_rule_string():
    rule = Rule(target=0, conditions=(("ears", "==", 1), ("whiskers", "==", 1)), support=90, precision=0.97, coverage=0.81, target_name="cat")
    assert str(rule) == "cat ← ears ∧ whiskers (precision 0.97, covers 81%)"
    negated = Rule(target=1, conditions=(("ears", "==", 0), ("size", ">", 2.5)), support=1, precision=1.0, coverage=0.5)
    assert negated.condition_strings() == ["¬ears", "size > 2.5"]


def test_unfitted_and_bad_parameters():
    with pytest.raises(Exception, match="not fitted"):
        GlobalRuleExplainer().predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="max_rules"):
        GlobalRuleExplainer(max_rules=0).fit(np.eye(4), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="rule_model"):
        GlobalRuleExplainer(rule_model="forest").fit(np.eye(4), [0, 0, 1, 1])


@parametrize_with_checks([GlobalRuleExplainer(), GlobalRuleExplainer(candidates="subsets", binarize="absolute"),
                          GlobalRuleExplainer("scorecard", random_state=0)])
def test_sklearn_compatible(estimator, check):
    # Each sklearn check asserts internally and raises on a violation; fitting inside a
    # check must leave the constructor parameters as they were.
    params = repr(estimator.get_params())
    check(estimator)
    assert repr(estimator.get_params()) == params


# -- binarisation, relations, decision lists, reports, scorers --------------------------


@pytest.mark.parametrize(
    "binarize, threshold, expected",
    [
        ("relative", None, [[1, 1, 0, 0], [1, 0, 0, 0]]),  # >= 0.5 x the row's top score
        ("fraction", None, [[1, 1, 0, 0], [1, 1, 1, 0]]),  # top parts holding 80% of the positive total
        ("fraction", 0.5, [[1, 0, 0, 0], [1, 0, 0, 0]]),
        ("absolute", 0.3, [[1, 1, 0, 0], [1, 0, 0, 0]]),
        ("top_k", None, [[1, 1, 0, 0], [1, 1, 0, 0]]),
        ("positive", None, [[1, 1, 1, 0], [1, 1, 1, 0]]),
    ],
)
def test_binarisation_modes(binarize, threshold, expected):
    F = np.array([[0.6, 0.4, 0.05, -0.2], [0.5, 0.2, 0.2, 0.0]])
    explainer = GlobalRuleExplainer(binarize=binarize, threshold=threshold).fit(F, [0, 1])
    np.testing.assert_array_equal(explainer.symbols(F).to_numpy(), np.array(expected, dtype=bool))


def test_relation_columns_become_relational_symbols():
    names = ["background", "body", "wing", "leg", "body below wing", "body adjacent leg"]
    F = pd.DataFrame(
        [
            [0.0, 0.3, 0.6, 0.0, 1, 1],  # wing and body on, body below wing holds
            [0.0, 0.0, 0.9, 0.0, 1, 0],  # body off: the relation symbol stays off
            [0.0, 0.5, 0.0, 0.5, 0, 1],
            [0.0, 0.6, 0.0, 0.6, 0, 1],
        ],
        columns=names,
    )
    explainer = GlobalRuleExplainer(binarize="positive", min_support=1).fit(F, [0, 0, 1, 1])
    assert explainer.part_names_ == ["background", "body", "wing", "leg"]
    symbols = explainer.symbols(F)
    assert symbols.loc[0, "body below wing"] and not symbols.loc[1, "body below wing"]
    assert symbols.loc[2, "body adjacent leg"] and symbols.loc[3, "body adjacent leg"]
    assert "body ∧ leg ∧ body adjacent leg" in explainer.report()


def test_attributor_relations_feed_the_rules(model, full_X, test_slice):
    from skpartx import PartAttributor
    from skpartx._core.relations import relation_names

    X = full_X[np.arange(test_slice.start, test_slice.start + 40)]
    attributor = PartAttributor(model, method="occlusion", relations=True).fit(X)
    frame = attributor.set_output(transform="pandas").transform(X)
    relations = relation_names(X.part_names)
    assert list(frame.columns) == list(X.part_names) + relations
    has_window = (X.masks == X.part_names.index("window")).any(axis=(1, 2))
    assert (frame["body inside window"] == 0).all()
    np.testing.assert_array_equal(frame["window inside body"].to_numpy() == 1, has_window)
    explainer = GlobalRuleExplainer(min_support=1, max_rule_length=5).fit(frame, attributor._targets(X, None))
    assert set(explainer.get_feature_names_out()) == set(frame.columns)


def test_decision_list_predicts_with_the_first_firing_rule(ideal):
    data, F = ideal
    y = data.target.copy()
    y[::9] = (y[::9] + 1) % 4
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", as_decision_list=True, min_precision=0.6, target_names=data.target_names).fit(F, y)
    symbols = explainer.symbols(F).to_numpy()
    names = list(F.columns)
    expected = []
    for row in symbols:
        label = explainer.default_class_
        for rule in explainer.rules_:
            if all(row[names.index(f)] for f in rule.positive_features()):
                label = rule.target
                break
        expected.append(label)
    np.testing.assert_array_equal(explainer.predict(F), expected)
    report = explainer.report()
    assert "Decision: ordered list: the first firing rule decides." in report
    assert report.splitlines()[4].startswith("1. ")
    assert explainer.score(F, y) > 0.85


def test_default_class_is_the_majority_of_uncovered_images():
    F = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 2 + [[0.0, 0.0]] * 3)
    y = np.array([0] * 4 + [1] * 2 + [2] * 3)  # class 2 images have no explanation at all
    explainer = GlobalRuleExplainer().fit(F, y)
    assert explainer.default_class_ == 2
    np.testing.assert_array_equal(explainer.predict(F), y)


def test_json_report_and_explanation_profile(ideal):
    import json

    data, F = ideal
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", target_names=data.target_names).fit(F, data.target)
    report = json.loads(explainer.report("json"))
    assert report["rule_model"] == "set_cover"
    assert len(report["rules"]) == len(explainer.rules_)
    assert report["version"] == 2 and report["decision"] == "most_precise"
    first = report["rules"][0]
    assert first["target"] == "flyer"
    assert {c["feature"] for c in first["conditions"]} == {"wing"}
    assert report["classes"][0] == {"label": 0, "name": "flyer"}
    assert report["explanation_profile"]["flyer"][0]["symbols"] == ["head", "wing"]
    assert report["shortcuts"] == []
    assert "flyer: head ∧ wing (" in explainer.report()


def test_part_importance_and_rule_example_plots(ideal, model, full_X, test_slice):
    import matplotlib

    matplotlib.use("Agg")
    data, F = ideal
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed", target_names=data.target_names).fit(F, data.target)
    fig = explainer.plot_part_importance()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(data.target_names)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(data.part_names)
    # The heatmap's cells are the class means of the scores.
    np.testing.assert_allclose(
        explainer.class_part_scores_[0], F.to_numpy()[data.target == 0].mean(axis=0), atol=1e-12
    )
    from skpartx import PartImages

    X = PartImages(data.images, data.masks, data.part_names)
    fig = explainer.plot_rule_examples(X, F, rule=0, n_images=5)
    assert fig._suptitle.get_text() == str(explainer.rules_[0])
    assert len([a for a in fig.axes if a.images]) == 5


def test_rule_scorers_for_grid_search(ideal):
    from sklearn.model_selection import GridSearchCV

    from skpartx.metrics import coverage_scorer, fidelity_scorer, make_rule_scorer

    data, F = ideal
    explainer = GlobalRuleExplainer(binarize="relative", candidates="observed").fit(F, data.target)
    assert fidelity_scorer(explainer, F, data.target) == explainer.score(F, data.target)
    assert coverage_scorer(explainer, F, data.target) == explainer.coverage(F, data.target)
    penalised = make_rule_scorer(complexity_penalty=0.01)(explainer, F, data.target)
    assert penalised == pytest.approx(explainer.score(F, data.target) - 0.01 * explainer.complexity_["total_length"])
    # A heavy penalty makes the search prefer the smaller rule set.
    search = GridSearchCV(
        GlobalRuleExplainer(), {"max_rules": [1, 5], "min_coverage": [1.0]}, scoring=make_rule_scorer(complexity_penalty=0.05), cv=3
    ).fit(F, data.target)
    assert search.best_params_["max_rules"] == 1
    with pytest.raises(ValueError, match="metric"):
        make_rule_scorer("accuracy")


def test_shortcut_warning_when_one_symbol_explains_every_class():
    F = pd.DataFrame(
        [[0.9, 0.8, 0.0], [0.9, 0.7, 0.0], [0.9, 0.0, 0.8], [0.8, 0.0, 0.9]], columns=["background", "head", "tail"]
    )
    explainer = GlobalRuleExplainer().fit(F, [0, 0, 1, 1])
    assert explainer.shortcuts_ == ["background"]
    assert "Warning: background explains at least half of the images of every class" in explainer.report()
    assert "<b>Warning:</b> background explains at least half" in explainer._repr_html_()


def test_default_binarisation_reads_the_encoding_and_announces_the_change():
    from skpartx._core.part_scores import PartScoreArray

    F = np.array([[0.7, 0.2, 0.1, 0.0], [0.0, 0.1, 0.6, 0.3]])
    with pytest.warns(FutureWarning, match=r"binarize='fraction' \(was 'relative'\) and candidates='subsets'"):
        explainer = GlobalRuleExplainer("set_cover").fit(F, [0, 1])
    assert (explainer.binarize_, explainer.candidates_) == ("fraction", "subsets")
    with pytest.warns(FutureWarning, match=r"changed in skpartx 0.2: candidates='subsets' \(was 'observed'\),"):
        GlobalRuleExplainer("set_cover", binarize="relative").fit(F, [0, 1])  # the former binarisation, the new candidates
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GlobalRuleExplainer("set_cover", binarize="relative", candidates="observed").fit(F, [0, 1])
    np.testing.assert_array_equal(explainer.symbols(F).to_numpy(), [[1, 1, 0, 0], [0, 0, 1, 1]])
    codes = PartScoreArray([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]], ["a", "b", "c", "d"], "msx")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explainer = GlobalRuleExplainer("set_cover", min_support=1).fit(codes, [0, 1])
    assert (explainer.binarize_, explainer.candidates_) == ("msx", "observed")
    assert list(explainer.get_feature_names_out()) == ["{c}", "{d}", "{a, b}"]
    with pytest.raises(ValueError, match="cannot read as part scores"):
        GlobalRuleExplainer(binarize="relative", candidates="observed").fit(codes, [0, 1])


def test_default_rule_model_is_set_cover_and_announces_scorecards():
    F = pd.DataFrame([[0.7, 0.2, 0.1, 0.0], [0.0, 0.1, 0.6, 0.3]] * 3, columns=["a", "b", "c", "d"])
    y = [0, 1] * 3
    settings = dict(binarize="fraction", candidates="subsets")
    with pytest.warns(FutureWarning, match=r"default rule_model is 'set_cover' in skpartx 0.2 and becomes "
                                           r"'scorecard' in 0.3") as caught:
        default = GlobalRuleExplainer(**settings).fit(F, y)
    assert len(caught) == 1 and caught[0].filename == __file__  # at the caller of fit
    assert default.get_params()["rule_model"] == "warn" and default.rule_model_ == "set_cover"
    assert json.loads(default.report("json"))["rule_model"] == "set_cover"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explicit = GlobalRuleExplainer("set_cover", **settings).fit(F, y)
        GlobalRuleExplainer("scorecard", **settings).fit(F, y)
    assert default.report() == explicit.report()
    with pytest.warns(FutureWarning, match="becomes 'scorecard'") as caught:
        GlobalRuleExplainerCV(cv=2, param_grid={"binarize": ["fraction"]}).fit(F, y)
    assert len([w for w in caught if "rule_model" in str(w.message)]) == 1  # once, not per fold
    # an explainer pickled before rule_model_ existed reads as fitted with the learner it was given
    state = explicit.__getstate__()
    del state["rule_model_"]
    old = GlobalRuleExplainer.__new__(GlobalRuleExplainer)
    old.__setstate__(state)
    assert old.rule_model_ == "set_cover" and old.report() == explicit.report()


def test_the_background_is_found_by_its_part_id_not_its_name():
    from skpartx._core.part_scores import PartScoreArray

    # Class 0 is explained by column 0 with its wing, class 1 by its wheel alone. Column 0 is
    # the background (part id 0) whatever it is called, when the scores say which part each
    # column holds.
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    F = rng.rand(40, 3) * 0.05
    F[:20, 0] += 1.0
    F[:20, 1] += 1.0
    F[20:, 2] += 1.0
    names = ["surround", "wing", "wheel"]

    def fit(scores):
        return GlobalRuleExplainer(binarize="fraction", candidates="subsets").fit(scores, y)

    flagged = fit(PartScoreArray(F, names, "scores", part_ids=range(3))).background_shortcuts_
    assert list(flagged) == [0] and flagged[0] == pytest.approx(1.0)
    assert fit(PartScoreArray(F, names)).background_shortcuts_ == {}  # no part ids, no column called "background"
    sliced = PartScoreArray(F, names, "scores", part_ids=range(3))[:, 1:]
    assert fit(sliced).background_shortcuts_ == {}  # the background column was left out
    named = PartScoreArray(F, ["background", "wing", "wheel"])
    assert list(fit(named).background_shortcuts_) == [0]  # plain tables: by name, as before
