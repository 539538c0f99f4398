"""The pipeline on the shared-part family: classes share parts and some are disjunctions.

A model of its own is trained here (the suite's other model sees the disjoint family).
Bounds were checked against models trained with seeds 0, 1 and 2 on one machine and hold
with a margin on each (see the figures in the tests); the full comparison of methods,
baselines and rule models is ``benchmarks/rules.py``.
"""

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from conftest import IMAGE_SIZE, LABELLED_PER_CLASS, MODEL_SEED, N_TEST, N_TRAIN
from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.models import train_classifier

EVERYWHERE = {"body", "background"}


@pytest.fixture(scope="module")
def shared():
    data = make_part_shapes(N_TRAIN + N_TEST, image_size=IMAGE_SIZE, family="shared", random_state=0)
    torch.manual_seed(MODEL_SEED)
    model = train_classifier(data.images[:N_TRAIN], data.target[:N_TRAIN], epochs=12, random_state=MODEL_SEED)
    decisions = predict_classes(model, data.images)
    rng = np.random.RandomState(0)
    labelled = np.concatenate(
        [rng.permutation(np.flatnonzero(data.target[:N_TRAIN] == c))[:LABELLED_PER_CLASS] for c in data.dnf]
    )
    others = np.setdiff1d(np.random.RandomState(1).permutation(N_TRAIN), labelled)[: 500 - len(labelled)]
    masks = np.full_like(data.masks, -1)
    masks[labelled] = data.masks[labelled]
    X = PartImages(data.images, masks, data.part_names)
    explain, test = np.concatenate([labelled, others]), np.arange(N_TRAIN, N_TRAIN + N_TEST)
    return data, model, decisions, X, explain, test


@pytest.fixture(scope="module", params=["shapley", "msx"])
def explained(request, shared):
    data, model, decisions, X, explain, test = shared
    steps = make_pipeline(
        PartLabelTransfer(backbone=model, random_state=0),
        PartAttributor(model=model, method=request.param, baseline="mean"),
    )
    F_train = steps.fit_transform(X[explain])
    return request.param, F_train, steps.transform(X[test])


def planted(data, rules, target):
    """Whether one of the class's rules names exactly one of its planted conjunctions."""
    return any(
        set(rules.rule_parts(rule)) - EVERYWHERE in [set(term) for term in data.dnf[target]]
        for rule in rules.rules_for(target)
    )


def test_the_model_learns_the_shared_family(shared):
    data, _, decisions, _, _, test = shared
    assert (decisions[test] == data.target[test]).mean() > 0.9  # 0.948-0.955 over seeds 0-2


@pytest.mark.parametrize("rule_model", ["set_cover", "figs"])
def test_rules_are_faithful_and_name_only_their_class_parts(rule_model, shared, explained):
    """Held-out fidelity over seeds 0-2: set cover 0.945-0.975 (Shapley), 0.953-0.963 (MSX);
    FIGS 0.95-0.98. Coverage of set cover 0.92-0.95."""
    data, _, decisions, _, explain, test = shared
    method, F_train, F_test = explained
    binarize, candidates = ("msx", "observed") if method == "msx" else ("fraction", "subsets")
    rules = GlobalRuleExplainer(
        rule_model, binarize=binarize, candidates=candidates, target_names=data.target_names, random_state=0
    )
    rules.fit(F_train, decisions[explain])
    assert rules.score(F_test, decisions[test]) >= 0.88
    if rule_model == "set_cover":
        assert rules.coverage(F_test, decisions[test]) >= 0.85
        assert all(rule.precision >= 0.9 for rule in rules.rules_)

        def own_parts(rule):
            return set(rules.rule_parts(rule)) <= set().union(*map(set, data.dnf[rule.target])) | EVERYWHERE

        # Each class's main rule names its own parts. A distractor the model does use may
        # appear in a minor rule: windows are drawn on gliders but never beside a fin (that
        # would make a boat), and a model can learn the correlation; measured: one such rule
        # ("glider ← head ∧ window", 1-14% of gliders) in 13-14 rules over seeds 0-2.
        for c in data.dnf:
            assert own_parts(max(rules.rules_for(c), key=lambda r: r.coverage)), rules.report()
        assert np.mean([own_parts(rule) for rule in rules.rules_]) >= 0.8
    if method == "msx" and rule_model == "set_cover":  # GEPC's path recovers the planted conjunctions
        assert all(planted(data, rules, c) for c in data.dnf), rules.report()
