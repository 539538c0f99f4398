"""What changed: comparisons of two models, and of one model on two slices, end to end."""

import json
import re

import numpy as np
import pytest

import torch

from skpartx import PartAttributor, predict_classes
from skpartx.models import predict_logits
from skpartx.compare import DEFAULT_MARGIN, ComparisonReport, compare_models, compare_slices

N_IMAGES = 160  # of the held-out images: enough for every class to be tested (>= 10 each)
# Where the baseline is not what a test is about: the default's kind, at a quarter of its cost.
FEW_REFERENCES = PartAttributor(None, baseline="reference", n_references=2)


@pytest.fixture(scope="module")
def held_out(full_X, test_slice):
    return full_X[test_slice][:N_IMAGES]


@pytest.fixture(scope="module")
def shortcut_comparison(model, shortcut_case):
    """The clean model (A) against the one trained with a background shortcut for flyers (B),
    on images drawn as the shortcut model's were (flyers before backgrounds of their hue)."""
    shortcut_data, shortcut_model, X = shortcut_case
    # The default attributor (reference images) announces the mean colour that replaces it in 0.3.
    with pytest.warns(FutureWarning, match="against the images' mean colour") as caught:
        report = compare_models(model, shortcut_model, X, names=("clean", "shortcut"), n_bootstrap=1000,
                                random_state=0, target_names=shortcut_data.target_names)
    assert [w.filename for w in caught if w.category is FutureWarning] == [__file__]  # once, at the caller
    return report


def test_the_announced_default_finds_the_shortcut_in_its_own_row(model, shortcut_case):
    # Against the mean colour (the default from 0.3) the flyer's own row shows the shortcut, up and
    # clear of the margin: in its background cell, or in its (baseline) cell where the shortcut
    # model calls the blank canvas "flyer" (the report then says that the class is decided on
    # the baseline alone).
    shortcut_data, shortcut_model, X = shortcut_case
    report = compare_models(model, shortcut_model, X, names=("clean", "shortcut"), n_bootstrap=1000,
                            random_state=0, target_names=shortcut_data.target_names,
                            attributor=PartAttributor(None, baseline="mean"))
    own = report.shifts[report.shifts["class"] == "flyer"].set_index("part")
    found = own.loc[["background", "(baseline)"]]
    assert (found["direction"] == "up").any(), report.report()
    assert found.loc[found["direction"] == "up", "low"].max() > 2 * DEFAULT_MARGIN
    hollow = report.baseline.loc["flyer", "shortcut"] >= 0.5
    assert hollow == any("shortcut decides flyer on the baseline alone" in note for note in report.notes)


def test_a_model_against_itself_changes_nothing(model, held_out):
    report = compare_models(model, model, held_out, n_bootstrap=200, random_state=0, attributor=FEW_REFERENCES)
    assert report.agreement == 1.0 and len(report.disagreements) == 0
    np.testing.assert_array_equal(report.shifts["shift"], 0.0)
    assert not report.shifts["flagged"].any()
    assert set(report.rules["change"]) == {"kept"}
    np.testing.assert_allclose(report.rules["precision A"], report.rules["precision B"])
    assert report.fidelity["A"] == report.fidelity["B"]


def test_the_shortcut_shows_as_a_background_shift_with_its_sign(shortcut_comparison, shortcut_case):
    report = shortcut_comparison
    n_images = len(shortcut_case[2])
    assert report.mode == "models" and report.n_images == (n_images, n_images)
    flagged = report.flagged()
    # Against reference images (the comparison's default) the shortcut shows where it is: the
    # flyer's own background weighs more under the shortcut model, clear of the margin. (Against
    # one colour it may instead make "flyer" the model's answer to the blank canvas, and then the
    # other classes' backgrounds rise: see benchmarks/RESULTS.md.)
    cells = report.shifts.set_index(["class", "part"])
    assert cells.loc[("flyer", "background"), "direction"] == "up", report.report()
    assert cells.loc[("flyer", "background"), "low"] > DEFAULT_MARGIN
    # No class is decided on the references, and the report says so only when one is.
    hollow = report.baseline.loc["flyer", "shortcut"] >= 0.5
    assert not hollow and hollow == any("shortcut decides flyer on the baseline alone" in note for note in report.notes)
    # Every flag is beyond the margin with its interval, and its sign matches the interval.
    assert ((flagged["low"] > report.margin) | (flagged["high"] < -report.margin)).all()
    assert ((flagged["direction"] == "up") == (flagged["shift"] > 0)).all()
    # The two models disagree on some images; the agreement is what the decisions say.
    assert 0 < report.agreement < 1
    assert report.disagreements["images"].sum() == round((1 - report.agreement) * n_images)


def test_shapley_columns_add_up_to_each_models_probability(shortcut_comparison, model, shortcut_case):
    # Efficiency: per image, the parts' Shapley values and the all-baseline value add up to
    # the explained probability, so per class the means of the columns do too, for model A
    # (its own class) and model B (explained for A's class).
    _, shortcut_model, X = shortcut_case
    report = shortcut_comparison
    assert report.part_names[-1] == "(baseline)" and report.part_names[:-1] == tuple(X.part_names)
    decisions = predict_classes(model, X)
    names = report.class_names
    for side, net in (("clean", model), ("shortcut", shortcut_model)):
        probability = torch.softmax(torch.from_numpy(predict_logits(net, X)), dim=1).numpy()
        for k, name in enumerate(names):
            members = decisions == k
            expected = probability[members, k].mean()
            total = report.shifts.loc[report.shifts["class"] == name, f"mean {side}"].sum()
            assert total == pytest.approx(expected, abs=1e-4)


def test_rules_are_matched_by_conditions_and_checked_on_both_sides(shortcut_comparison):
    rules = shortcut_comparison.rules
    assert set(rules["change"]) <= {"kept", "lost", "gained"}
    for _, row in rules.iterrows():
        for side in ("clean", "shortcut"):
            assert 0 <= row[f"precision {side}"] <= 1 or np.isnan(row[f"precision {side}"])
        # The interval is about the difference B − A and contains the observed difference.
        difference = row["coverage shortcut"] - row["coverage clean"]
        assert row["coverage low"] - 1e-9 <= difference <= row["coverage high"] + 1e-9
    # A kept rule is one both sides learnt: the same class and conditions appear once.
    assert not rules.duplicated(["class", "rule"]).any()


def test_report_formats_say_the_same_thing(shortcut_comparison, tmp_path):
    report = shortcut_comparison
    data = json.loads(report.report("json"))
    assert data["names"] == ["clean", "shortcut"] and data["mode"] == "models"
    assert len(data["shifts"]) == len(report.class_names) * len(report.part_names)
    assert sum(row["flagged"] for row in data["shifts"]) == int(report.shifts["flagged"].sum())
    text = report.report()
    assert f"beyond ±{DEFAULT_MARGIN:g}" in text and "family-wise error rate 0.05" in text
    for _, row in report.flagged().iterrows():
        assert f"{row['part']}: " in text and f"shift {row['shift']:+.3f}" in text
    assert report.report("markdown").startswith("# Comparison of clean and shortcut")
    with pytest.raises(ValueError, match="format must be"):
        report.report("pdf")


def test_html_report_has_side_by_side_tables_and_the_heat_map(shortcut_comparison, tmp_path):
    report = shortcut_comparison
    path = report.write(tmp_path / "out")
    page = open(path, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>")
    # One rule table per side and class, the summary, the flagged shifts, the disagreements.
    assert page.count("<table class='rules'>") == 2 * len(report.class_names)
    assert page.count("<h3 class='class'>") == len(report.class_names)
    for name in report.class_names:
        assert f"Class {name}</h3>" in page
    assert "decision agreement" in page and "Part shifts beyond the margin" in page
    assert "<img src='shifts.png'" in page and (tmp_path / "out" / "shifts.png").stat().st_size > 5000
    lost = report.rules[report.rules["change"] == "lost"]
    assert page.count("text-decoration:line-through") == len(lost)
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["n_images"] == list(report.n_images)
    # The notebook display is the same page body with the heat map inline.
    fragment = report._repr_html_()
    assert fragment.count("<table class='rules'>") == 2 * len(report.class_names)
    assert "<img src='data:image/png;base64," in fragment
    # The heat map: flagged cells coloured and annotated with their interval, the rest greyed.
    figure = report.plot_shifts()
    ax = figure.axes[0]
    coloured, grey = ax.images
    flagged = report.shift_table("flagged").to_numpy(dtype=bool)
    assert np.array_equal(~np.isnan(np.asarray(coloured.get_array(), dtype=float)), flagged)
    assert (~np.isnan(np.asarray(grey.get_array(), dtype=float)) == (report.shift_table("tested").to_numpy(bool) & ~flagged)).all()
    intervals = [t for t in ax.texts if re.search(r"\[[-+]\d", t.get_text())]
    assert len(intervals) == flagged.sum()


def test_two_random_halves_of_one_model_flag_nothing(model, held_out):
    rng = np.random.default_rng(0)
    order = rng.permutation(N_IMAGES)
    half_a, half_b = held_out[np.sort(order[: N_IMAGES // 2])], held_out[np.sort(order[N_IMAGES // 2 :])]
    report = compare_slices(model, half_a, half_b, n_bootstrap=500, random_state=0, min_images=5,
                            attributor=FEW_REFERENCES)
    assert report.mode == "slices" and report.agreement is None and report.disagreements is None
    assert report.n_images == (N_IMAGES // 2, N_IMAGES // 2)
    assert not report.shifts["flagged"].any(), report.report()
    assert isinstance(report, ComparisonReport)


def test_bad_input_is_refused_clearly(model, held_out):
    with pytest.raises(TypeError, match="attributor must be a PartAttributor"):
        compare_models(model, model, held_out, attributor="shapley")
    with pytest.raises(ValueError, match="names must be two different names"):
        compare_models(model, model, held_out, names=("A", "A"))
    with pytest.raises(ValueError, match="test_size"):
        compare_models(model, model, held_out, test_size=1.0)
    with pytest.raises(ValueError, match="same part names"):
        other = type(held_out)(held_out.images, held_out.masks, [f"p{k}" for k in range(len(held_out.part_names))])
        compare_slices(model, held_out, other)
    # The template attributor's settings are used, its model replaced.
    report = compare_models(model, model, held_out[:40], attributor=PartAttributor(None, method="msx", baseline="mean"),
                            n_bootstrap=200, random_state=0, min_images=2)
    assert report.shifts["mean A"].between(0, 1).all()  # MSX shares


def test_both_models_remove_parts_with_the_same_reference_images(model, shortcut_case, monkeypatch):
    # Each model would draw its references evenly across its own decisions, which differ: the
    # comparison gives B the references A drew, so that removing a part means the same on both sides.
    shortcut_data, shortcut_model, X = shortcut_case
    fitted, fit = [], PartAttributor.fit
    monkeypatch.setattr(PartAttributor, "fit", lambda self, *args: fitted.append(self) or fit(self, *args))
    compare_models(model, shortcut_model, X[:40], attributor=PartAttributor(None, baseline="reference", n_references=4),
                   n_bootstrap=200, random_state=0)
    side_a, side_b = fitted
    assert side_a.references_.shape[0] == 4
    np.testing.assert_array_equal(side_b.baseline.images, side_a.references_)
