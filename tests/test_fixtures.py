"""The shipped models and masks of the suite (fixture_models.py) are what their manifest says.

Each model reaches the held-out accuracy recorded when it was trained, on the same check
images; each mask set its recorded mIoU; and each data set generated here is the one the
masks were made for. Forward passes differ by about 1e-6 between CPUs, which can move a
decision only where two classes tie that closely: the accuracy may differ by a handful of
images of 1,000, no more.
"""

import json

import numpy as np
import pytest

import fixture_models

MANIFEST = fixture_models.manifest()

pytestmark = pytest.mark.cpu_kernels


def test_every_fixture_is_recorded_with_the_settings_the_tests_state():
    assert set(MANIFEST["models"]) == set(fixture_models.MODELS)
    assert set(MANIFEST["masks"]) == set(fixture_models.MASKS)
    for name, entry in MANIFEST["models"].items():
        assert entry["settings"] == fixture_models.settings(name)
    for name, entry in MANIFEST["masks"].items():
        assert entry["settings"] == json.loads(json.dumps(fixture_models.MASKS[name]))


@pytest.mark.parametrize("name", sorted(fixture_models.MODELS))
def test_shipped_model_reaches_its_recorded_held_out_accuracy(name):
    entry = MANIFEST["models"][name]
    accuracy = fixture_models.held_out_accuracy(name, fixture_models.shipped_model(name))
    assert abs(accuracy - entry["held_out_accuracy"]) <= 0.005


@pytest.mark.parametrize("name", sorted(fixture_models.MODELS))
def test_data_generated_here_are_the_data_the_fixtures_were_made_from(name):
    assert fixture_models.data_digest(name) == MANIFEST["models"][name]["data_sha256"]


@pytest.mark.parametrize("name", sorted(fixture_models.MASKS))
def test_shipped_masks_keep_the_labels_and_reach_their_recorded_miou(name):
    owner = fixture_models.MASKS[name]["model"]
    data, masks = fixture_models.dataset(owner), fixture_models.shipped_masks(name)
    labelled = fixture_models.labelled_idx(owner)
    np.testing.assert_array_equal(masks[labelled], data.masks[labelled])
    assert masks.min() >= 0 and masks.max() < len(data.part_names)  # every pixel filled
    unlabelled = np.ones(len(masks), bool)
    unlabelled[labelled] = False
    miou = fixture_models.mean_iou(masks, data.masks, len(data.part_names), unlabelled)
    assert miou == pytest.approx(MANIFEST["masks"][name]["miou_unlabelled"], abs=1e-4)


def test_a_changed_file_is_refused(tmp_path, monkeypatch):
    entry = MANIFEST["models"]["faults"]
    (tmp_path / entry["file"]).write_bytes(b"not the weights")
    monkeypatch.setattr(fixture_models, "FIXTURES_DIR", tmp_path)
    with pytest.raises(ValueError, match="does not match its SHA-256"):
        fixture_models.shipped_model("faults")
