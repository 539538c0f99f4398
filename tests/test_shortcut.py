"""Explaining the explanation: a model trained on a planted shortcut gets rules that show it."""

import json

import torch

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.models import train_classifier


def rules_of(model, X, target_names):
    decisions = predict_classes(model, X)
    scores = PartAttributor(model, baseline="mean").fit(X).set_output(transform="pandas").transform(X)
    return GlobalRuleExplainer(target_names=target_names, binarize="fraction", candidates="subsets").fit(scores, decisions)


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
    data = make_part_shapes(1000, image_size=40, spurious=1.0, random_state=1)
    torch.manual_seed(0)
    model = train_classifier(data.images[:800], data.target[:800], epochs=3, random_state=0)
    X = PartImages(data.images[800:], data.masks[800:], data.part_names)
    explainer = rules_of(model, X, data.target_names)
    assert "background" in explainer.shortcuts_
    assert "likely shortcut" in explainer.report()
