"""Part-swap counterfactuals and the misclassification report."""

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.base import clone

from conftest import N_TRAIN
from skpartx.counterfactual import (
    PartCounterfactualExplainer,
    counterfactual_metrics,
    misclassification_report,
    warp_donor,
)
from skpartx.models import predict_logits
from skpartx.report import write_report_folder

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def explainer(model, full_X, data):
    return PartCounterfactualExplainer(model, random_state=0).fit(full_X[:N_TRAIN], data.target[:N_TRAIN])


@pytest.fixture(scope="module")
def held_out(full_X, data, test_slice):
    return full_X[test_slice], data.target[test_slice]


@pytest.fixture(scope="module")
def misclassified(explainer, held_out):
    X, y = held_out
    return explainer.explain_misclassified(X, y)


def test_donors_are_the_correctly_classified_images(explainer, decisions, data):
    correct = np.flatnonzero(decisions[:N_TRAIN] == data.target[:N_TRAIN])
    np.testing.assert_array_equal(explainer.donor_index_, correct)
    np.testing.assert_array_equal(explainer.donor_classes_, data.target[correct])
    np.testing.assert_allclose(np.linalg.norm(explainer.donor_features_, axis=1), 1.0, atol=1e-5)


def test_warping_a_donor_onto_itself_is_the_identity(data):
    image, mask = data.images[0], data.masks[0]
    np.testing.assert_allclose(warp_donor(mask, image, mask), image, atol=1e-6)
    # A donor shifted by a few pixels is shifted back onto the query's parts.
    shifted_image, shifted_mask = np.roll(image, 3, axis=2), np.roll(mask, 3, axis=1)
    warped = warp_donor(mask, shifted_image, shifted_mask)
    inner = mask > 0
    assert np.abs(warped - image)[:, inner].mean() < np.abs(shifted_image - image)[:, inner].mean() / 3


def test_counterfactuals_flip_most_misclassified_images_with_few_swaps(explainer, held_out, misclassified, model):
    X, y = held_out
    wrong, found = misclassified
    assert len(wrong) >= 8  # the classifier errs on a few held-out images
    shapley = counterfactual_metrics(found)
    random = counterfactual_metrics(explainer._explain(X[wrong], y[wrong], "random"))
    assert shapley["flip_rate"] >= 0.9
    assert shapley["mean_swapped"] < random["mean_swapped"]
    assert shapley["insertion_auc"] > random["insertion_auc"]
    assert shapley["deletion_auc"] < random["deletion_auc"]
    table = explainer.evaluate(X, y)
    assert table.loc["shapley", "flip_rate"] == shapley["flip_rate"] == explainer.score(X, y)
    assert table.loc["shapley", "mean_swapped"] == shapley["mean_swapped"]


def test_each_counterfactual_is_what_it_claims(misclassified, model, held_out, explainer, full_X, data):
    X, y = held_out
    wrong, found = misclassified
    images = np.stack([c.image for c in found])
    logits = predict_logits(model, images)
    decided, top_two = logits.argmax(axis=1), np.sort(logits, axis=1)[:, -2:]
    for c, decision, (second, first) in zip(found, decided, top_two):
        assert c.desired_class == y[c.index] and c.original_class != c.desired_class
        if first - second > 1e-4:  # not a tie that another batch's last bits could break
            assert (decision == c.desired_class) == c.flipped
        assert c.path[0] == pytest.approx(
            torch.softmax(torch.as_tensor(predict_logits(model, c.query_image[None])), 1)[0, c.desired_class].item(),
            abs=1e-5,
        )
        assert sorted(c.swapped + c.invariant) == sorted(c.order) and c.order[: c.n_swapped] == c.swapped
        # Invariant parts keep the query's pixels, swapped parts show the warped donor.
        invariant = np.isin(c.query_mask, [data.part_names.index(p) for p in c.invariant])
        np.testing.assert_array_equal(c.image[:, invariant], c.query_image[:, invariant])
        np.testing.assert_array_equal(c.image[:, ~invariant], c.warped_donor[:, ~invariant])
        assert data.target[c.donor_index] == c.desired_class
        np.testing.assert_array_equal(c.donor_image, full_X.images[c.donor_index])
        # The swap game's Shapley values add up to the change from the donor to the query.
        # (The path's ends are evaluated in other batches than the game: a few 1e-7 apart.)
        assert sum(c.part_values.values()) == pytest.approx(c.path[0] - c.path[-1], abs=1e-5)
        assert [c.part_values[p] for p in c.order] == sorted(c.part_values.values())


def test_any_desired_class_and_clear_errors(explainer, held_out, data, full_X):
    X, _ = held_out
    found = explainer.explain(X[:3], desired=2)
    assert [c.desired_class for c in found] == [2, 2, 2] and [c.index for c in found] == [0, 1, 2]
    assert clone(explainer).get_params()["order"] == "shapley"
    with pytest.raises(ValueError, match="no correctly classified image of class"):
        explainer.explain(X[:1], desired=17)
    with pytest.raises(ValueError, match="one class per image"):
        explainer.explain(X[:3], desired=[0, 1])
    unlabelled = X[:2].with_masks(np.full((2, *X.shape[2:]), -1))
    with pytest.raises(ValueError, match="fill the masks first, e.g. with PartLabelTransfer"):
        explainer.explain(unlabelled, desired=0)
    with pytest.raises(ValueError, match="one true class per image"):
        clone(explainer).fit(full_X[:10], data.target[:9])


def test_misclassification_report_and_html(explainer, held_out, misclassified, model, decisions, test_slice, tmp_path,
                                           data):
    from skpartx import GlobalRuleExplainer, PartAttributor

    X, y = held_out
    wrong, _ = misclassified
    scores = PartAttributor(model, method="occlusion", baseline="mean").fit(X).transform(X)
    report = misclassification_report(X, y, decisions[test_slice], scores, explainer, data.target_names, max_examples=2)
    assert report.table["images"].sum() == len(wrong)
    assert list(report.table["images"]) == sorted(report.table["images"], reverse=True)
    first = report.table.iloc[0]
    true_class, predicted = data.target_names.index(first["true class"]), data.target_names.index(first["taken for"])
    members = np.flatnonzero((y == true_class) & (decisions[test_slice] == predicted))
    top = data.part_names[int(np.argmax(scores[members].mean(axis=0)))]
    assert first["driving parts"].split(", ")[0] == top
    assert all(len(v) <= 2 for v in report.examples.values())
    assert "<table>" in report.to_html() and report.plot().axes

    rules = GlobalRuleExplainer(target_names=data.target_names).fit(scores, decisions[test_slice])
    path = write_report_folder(tmp_path, "t", X, scores, decisions[test_slice], rules, {}, misclassifications=report)
    page = open(path, encoding="utf-8").read()
    assert "<h2>Misclassifications</h2>" in page and "confusion_parts.png" in page and "counterfactual_0.png" in page
    assert (tmp_path / "counterfactual_0.png").stat().st_size > 1000
    matplotlib.pyplot.close("all")
