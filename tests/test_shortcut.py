"""Explaining the explanation: a model trained on a planted shortcut gets rules that show it."""

import json

import pytest

import fixture_models
from margins import stable_fit
from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, predict_classes

pytestmark = pytest.mark.cpu_kernels


def rules_of(model, X, target_names):
    decisions = predict_classes(model, X)
    scores = PartAttributor(model, baseline="mean").fit(X).set_output(transform="pandas").transform(X)
    explainer = GlobalRuleExplainer(target_names=target_names, binarize="fraction", candidates="subsets")
    return stable_fit(explainer, scores, decisions)


def test_shortcut_model_rules_name_the_background(shortcut_case, model, full_X, test_slice, data):
    shortcut_data, shortcut_model, X = shortcut_case
    shortcut = rules_of(shortcut_model, X, shortcut_data.target_names)
    plain = rules_of(model, full_X[test_slice], data.target_names)
    # The shortcut shows in the rules (which class carries it depends on training: the
    # flyer's own background, or a non-flyer background as evidence against "flyer"): a rule
    # naming the background covers a good part of its class (0.40 measured). A model without
    # the shortcut credits the background little: no rule of it names the background (0.0).
    def background_coverage(explainer):
        return max([r.coverage for r in explainer.rules_ if "background" in explainer.rule_parts(r)], default=0.0)

    assert background_coverage(shortcut) >= 0.25
    assert background_coverage(plain) <= 0.1
    assert plain.shortcuts_ == [] and plain.background_shortcuts_ == {}
    # A class decided by the background is flagged on its own (here too, the flyer's or another's).
    assert shortcut.background_shortcuts_ and min(shortcut.background_shortcuts_.values()) >= 0.5
    flagged = [shortcut_data.target_names[c] for c in shortcut.background_shortcuts_]
    assert f"the model decides {flagged[0]} by what surrounds the object" in shortcut.report()
    assert "<b>Warning:</b> the background is in the explanations" in shortcut._repr_html_()
    assert list(json.loads(shortcut.report("json"))["background_shortcuts"]) == flagged
    # ... and in the part importance: background matters far more to the shortcut model.
    background = shortcut.part_names_.index("background")
    assert shortcut.class_part_scores_[:, background].mean() > 3 * abs(plain.class_part_scores_[:, background].mean())


def test_model_trained_on_shortcuts_for_every_class_gets_a_warning():
    data, model = fixture_models.dataset("every_class_shortcut"), fixture_models.model("every_class_shortcut")
    n_train = fixture_models.MODELS["every_class_shortcut"]["n_train"]
    X = PartImages(data.images[n_train:], data.masks[n_train:], data.part_names)
    explainer = rules_of(model, X, data.target_names)
    assert "background" in explainer.shortcuts_
    assert "likely shortcut" in explainer.report()
