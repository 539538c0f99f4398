"""Global rules: planted rules recovered from ideal explanations, exact rule statistics, sklearn checks."""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skpartx import GlobalRuleExplainer, Rule
from skpartx.datasets import make_part_shapes


@pytest.fixture(scope="module")
def ideal():
    """Part scores as a perfect explainer of the planted rules would give them, plus noise."""
    data = make_part_shapes(800, image_size=32, random_state=1)
    rng = np.random.RandomState(0)
    names = list(data.part_names)
    scores = rng.uniform(0, 0.05, (len(data.target), len(names))) * data.present
    for i, c in enumerate(data.target):
        for part in data.rules[c]:
            scores[i, names.index(part)] = rng.uniform(0.3, 0.5)
    # A few images explained by one defining part only.
    lone = rng.rand(len(scores)) < 0.1
    for i in np.flatnonzero(lone):
        scores[i, names.index(data.rules[data.target[i]][0])] = 0.0
    return data, pd.DataFrame(scores, columns=names)


def test_set_cover_recovers_planted_conjunctions(ideal):
    data, F = ideal
    explainer = GlobalRuleExplainer(target_names=data.target_names).fit(F, data.target)
    for c, parts in data.rules.items():
        rules = explainer.rules_for(c)
        first = {feature for feature, _, _ in rules[0].conditions}
        assert first == set(parts), f"class {c}: first rule {rules[0]} should be {parts}"
        for rule in rules:
            assert {feature for feature, _, _ in rule.conditions} <= set(parts)
    assert explainer.score(F, data.target) == 1.0
    assert explainer.coverage(F, data.target) == 1.0


def test_subset_candidates_give_shortest_separating_rules(ideal):
    data, F = ideal
    explainer = GlobalRuleExplainer(candidates="subsets").fit(F, data.target)
    for c, parts in data.rules.items():
        assert all(len(rule) == 1 for rule in explainer.rules_for(c))
        assert all(rule.conditions[0][0] in parts for rule in explainer.rules_for(c))


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
    explainer = GlobalRuleExplainer(min_precision=0.5).fit(F, y)
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
    explainer = GlobalRuleExplainer(min_precision=0.6).fit(F, y)
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
    explainer = GlobalRuleExplainer(target_names=data.target_names).fit(F, data.target)
    text = explainer.report()
    assert "flyer ← head ∧ wing (precision 1.00, covers" in text
    assert "racer:" in text and "Otherwise:" in text
    markdown = explainer.report("markdown")
    assert markdown.startswith("# Global rules") and "## diver" in markdown
    html = explainer._repr_html_()
    assert "<table>" in html and "head ∧ wing" in html
    import matplotlib

    matplotlib.use("Agg")
    fig = explainer.plot()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "flyer ← head ∧ wing" in labels
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


@parametrize_with_checks([GlobalRuleExplainer(), GlobalRuleExplainer(candidates="subsets", binarize="absolute")])
def test_sklearn_compatible(estimator, check):
    check(estimator)
