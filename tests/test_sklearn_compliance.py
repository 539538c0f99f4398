"""scikit-learn conventions for the image estimators, pipelines, caching, routing and persistence.

scikit-learn's own ``parametrize_with_checks`` skips estimators that take non-tabular input
(``PartLabelTransfer``, ``PartAttributor``), so the checks that need no data run here
directly, and the data-dependent ones are restated on images. ``GlobalRuleExplainer``, which
takes tabular part scores, passes the full check suite in ``test_rules.py``.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import estimator_checks as checks

import skpartx
from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer
from skpartx.metrics import make_rule_scorer

# Checks that inspect an estimator without feeding it data; they apply to every estimator.
API_CHECKS = [
    checks.check_parameters_default_constructible,
    checks.check_no_attributes_set_in_init,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_repr,
    checks.check_estimator_cloneable,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_mixin_order,
    checks.check_valid_tag_types,
    checks.check_estimator_tags_renamed,
]
# The data-dependent checks scikit-learn would run, and where each is restated below.
RESTATED = {
    "check_estimators_fit_returns_self": "test_fit_returns_self_and_keeps_parameters",
    "check_dont_overwrite_parameters": "test_fit_returns_self_and_keeps_parameters",
    "check_estimators_unfitted": "test_unfitted_estimators_raise",
    "check_fit_idempotent": "test_fit_is_idempotent",
    "check_estimators_pickle": "test_pickle_and_clone",
    "check_dict_unchanged": "test_transform_does_not_change_state",
    "check_methods_subset_invariance": "test_subset_and_order_invariance",
    "check_methods_sample_order_invariance": "test_subset_and_order_invariance",
    "check_readonly_memmap_input": "test_readonly_inputs",
    "check_set_output_transform_pandas": "test_set_output",
    "check_transformer_get_feature_names_out": "test_set_output",
}


@pytest.mark.parametrize("make", [PartLabelTransfer, PartAttributor, GlobalRuleExplainer], ids=lambda c: c.__name__)
@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_api_checks(make, check):
    # sklearn's check functions assert internally and raise on any violation; whatever a
    # check does with the estimator, its constructor parameters must come out unchanged.
    estimator = make()
    params = repr(estimator.get_params())
    check(make.__name__, estimator)
    assert repr(estimator.get_params()) == params


def test_image_estimators_declare_image_input():
    for estimator in (PartLabelTransfer(), PartAttributor()):
        tags = estimator.__sklearn_tags__()
        assert not tags.input_tags.two_d_array and tags.requires_fit
    assert GlobalRuleExplainer().__sklearn_tags__().input_tags.two_d_array
    assert all(name.startswith("check_") for name in RESTATED)


@pytest.fixture(scope="module")
def images(full_X, partial_X, test_slice, labelled_idx):
    """Labelled images for fitting and a few held-out ones (masks given) to transform."""
    return partial_X[labelled_idx], full_X[np.arange(test_slice.start, test_slice.start + 16)]


def estimators(model):
    return {
        "transfer": PartLabelTransfer(backbone=model, random_state=0),
        "attributor": PartAttributor(model, method="shapley"),
    }


def output(estimator, X):
    if isinstance(estimator, PartLabelTransfer):
        return estimator.predict(X)
    return estimator.transform(X)


@pytest.mark.parametrize("name", ["transfer", "attributor"])
def test_fit_returns_self_and_keeps_parameters(name, model, images):
    estimator = estimators(model)[name]
    before = estimator.get_params()
    fit_on = images[0] if name == "transfer" else images[1]
    assert estimator.fit(fit_on) is estimator
    after = estimator.get_params()
    assert before.keys() == after.keys()
    for key in before:
        assert after[key] is before[key] or after[key] == before[key], key


@pytest.mark.parametrize("name", ["transfer", "attributor"])
def test_unfitted_estimators_raise(name, model, images):
    estimator = estimators(model)[name]
    with pytest.raises(NotFittedError):
        output(estimator, images[1])


@pytest.mark.parametrize("name", ["transfer", "attributor"])
def test_fit_is_idempotent(name, model, images):
    estimator = estimators(model)[name]
    fit_on = images[0] if name == "transfer" else images[1]
    first = output(estimator.fit(fit_on), images[1])
    second = output(estimator.fit(fit_on), images[1])
    np.testing.assert_allclose(first, second, atol=1e-6)


@pytest.mark.parametrize("name", ["transfer", "attributor"])
def test_pickle_and_clone(name, model, images):
    estimator = estimators(model)[name]
    fitted = estimator.fit(images[0] if name == "transfer" else images[1])
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(output(restored, images[1]), output(fitted, images[1]), atol=1e-6)
    fresh = clone(fitted)
    assert not hasattr(fresh, "device_")
    assert fresh.get_params().keys() == fitted.get_params().keys()


@pytest.mark.parametrize("name", ["transfer", "attributor"])
def test_transform_does_not_change_state(name, model, images):
    estimator = estimators(model)[name]
    estimator.fit(images[0] if name == "transfer" else images[1])
    state = {k: v for k, v in estimator.__dict__.items()}
    output(estimator, images[1])
    if name == "transfer":
        estimator.transform(images[1])
        estimator.confidence(images[1])
    else:
        estimator.explain(images[1])
    assert estimator.__dict__.keys() == state.keys()
    assert all(estimator.__dict__[k] is v for k, v in state.items())


@pytest.mark.parametrize("name", ["transfer", "attributor"])
def test_subset_and_order_invariance(name, model, images):
    estimator = estimators(model)[name]
    estimator.fit(images[0] if name == "transfer" else images[1])
    X = images[1]
    full = output(estimator, X)
    np.testing.assert_allclose(output(estimator, X[:5]), full[:5], atol=1e-5)
    order = np.random.RandomState(0).permutation(len(X))
    np.testing.assert_allclose(output(estimator, X[order]), full[order], atol=1e-5)


def test_readonly_inputs(model, images):
    X = images[1]
    readonly_images, readonly_masks = X.images.copy(), X.masks.copy()
    readonly_images.setflags(write=False)
    readonly_masks.setflags(write=False)
    R = PartImages(readonly_images, readonly_masks, X.part_names)
    attributor = PartAttributor(model, method="occlusion").fit(R)
    np.testing.assert_allclose(attributor.transform(R), attributor.transform(X))
    transfer = PartLabelTransfer(backbone=model, random_state=0).fit(R)
    assert transfer.transform(R).fully_labelled


def test_set_output(model, images):
    X = images[1]
    attributor = PartAttributor(model, method="occlusion").fit(X)
    frame = attributor.set_output(transform="pandas").transform(X)
    assert list(frame.columns) == list(attributor.get_feature_names_out()) == list(X.part_names)
    with config_context(transform_output="pandas"):
        assert list(PartAttributor(model, method="occlusion").fit(X).transform(X).columns) == list(X.part_names)
    transfer = PartLabelTransfer(backbone=model, random_state=0).fit(images[0])
    assert transfer.set_output(transform="pandas") is transfer
    assert isinstance(transfer.transform(X), PartImages)  # transfer always returns images


def small_pipeline(model, **rules):
    return make_pipeline(
        PartLabelTransfer(backbone=model, random_state=0),
        PartAttributor(model, method="occlusion"),
        GlobalRuleExplainer(**rules),
    )


@pytest.fixture(scope="module")
def small_set(partial_X, decisions, labelled_idx):
    rng = np.random.RandomState(3)
    idx = rng.permutation(np.concatenate([labelled_idx, rng.permutation(np.arange(40, 3000))[:80]]))
    return partial_X[idx], decisions[idx]


@pytest.mark.trains_in_run
def test_grid_search_in_parallel_matches_serial(model, small_set):
    """Loky workers run torch with ``cpu_count // n_jobs`` threads, the serial search with all
    of them; the transfer's probe trains the same way under both, so the searches agree on
    every split (the user's model's forward passes are not retrained, only rerun)."""
    X, y = small_set
    grid = {"globalruleexplainer__max_rules": [1, 4]}
    serial = GridSearchCV(small_pipeline(model), grid, cv=2, n_jobs=1).fit(X, y)
    parallel = GridSearchCV(small_pipeline(model), grid, cv=2, n_jobs=2).fit(X, y)
    assert parallel.best_params_ == serial.best_params_
    for split in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(parallel.cv_results_[split], serial.cv_results_[split])


@pytest.mark.trains_in_run
def test_randomized_search_over_all_three_steps_with_rule_scorers(model, small_set):
    X, y = small_set
    distributions = {
        "partlabeltransfer__refine": [None, "guided"],
        "partattributor__method": ["occlusion", "keep_one"],
        "globalruleexplainer__max_rules": [1, 2, 3, 4],
    }
    scoring = {"fidelity": make_rule_scorer("fidelity"), "penalised": make_rule_scorer(complexity_penalty=0.01)}
    search = RandomizedSearchCV(
        small_pipeline(model), distributions, n_iter=3, cv=3, scoring=scoring, refit="penalised", random_state=0
    ).fit(X, y)
    fidelity, penalised = search.cv_results_["mean_test_fidelity"], search.cv_results_["mean_test_penalised"]
    assert len(penalised) == 3 and np.isfinite(penalised).all()
    assert (penalised < fidelity).all()  # every rule set has some length to pay for
    assert search.best_score_ == penalised.max() and search.best_estimator_.score(X, y) > 0.7


COUNT = {"forward": 0}


class CountingModel(torch.nn.Module):
    """Counts forward passes in a module-level counter (not in its own state, which caching hashes)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        COUNT["forward"] += 1
        return self.model(x)


@pytest.mark.trains_in_run
def test_memory_spares_transfer_and_attribution_in_a_rule_grid(model, small_set, tmp_path):
    X, y = small_set
    counting = CountingModel(model).eval()
    grid = {"globalruleexplainer__max_rules": [1, 2, 3, 4]}

    def forwards(memory):
        COUNT["forward"] = 0
        pipe = make_pipeline(
            PartLabelTransfer(backbone=counting, random_state=0, memory=memory),
            PartAttributor(counting, method="occlusion", memory=memory),
            GlobalRuleExplainer(),
        )
        search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
        return COUNT["forward"], search.cv_results_["mean_test_score"]

    uncached, scores = forwards(None)
    cached, cached_scores = forwards(str(tmp_path / "cache"))
    np.testing.assert_allclose(cached_scores, scores)
    # Each fold's transfer and attribution run once instead of once per candidate.
    assert cached < 0.4 * uncached
    again, _ = forwards(str(tmp_path / "cache"))
    assert again < 0.1 * uncached  # a second search finds everything in the cache


def test_pipeline_memory_cannot_hash_torch_steps():
    """Why the estimators have their own ``memory``: cloned models pickle differently."""
    import joblib

    from skpartx.models import SmallCNN

    transfer = PartLabelTransfer(backbone=SmallCNN(4).eval())
    assert joblib.hash(clone(transfer)) != joblib.hash(clone(transfer))
    from skpartx._core.cache import estimator_fingerprint

    assert estimator_fingerprint(clone(transfer)) == estimator_fingerprint(clone(transfer))


@pytest.mark.trains_in_run
def test_sample_weight_is_routed_to_the_rules(model, small_set):
    X, y = small_set
    weights = np.where(y == y[0], 0.0, 1.0)  # ignore one class entirely
    with config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            PartLabelTransfer(backbone=model, random_state=0),
            PartAttributor(model, method="occlusion"),
            GlobalRuleExplainer().set_fit_request(sample_weight=True),
        )
        pipe.fit(X, y, sample_weight=weights)
    rules = pipe[-1]
    assert not rules.rules_for(y[0])  # the weightless class gets no rule
    direct = GlobalRuleExplainer().fit(pipe[:-1].transform(X), y, sample_weight=weights)
    assert [str(r) for r in direct.rules_] == [str(r) for r in rules.rules_]


@pytest.mark.trains_in_run
def test_save_and_load_helpers(model, small_set, tmp_path):
    X, y = small_set
    pipe = small_pipeline(model).fit(X, y)
    path = tmp_path / "pipe.joblib"
    skpartx.save(pipe, path)
    restored = skpartx.load(path)
    np.testing.assert_array_equal(restored.predict(X), pipe.predict(X))
    moved = skpartx.load(path, device="cpu")
    assert moved[1].device_.type == "cpu" and moved[1].device == "cpu"


def test_estimator_fitted_on_an_unavailable_device_loads_on_the_cpu(model, images, caplog):
    """What a CUDA-fitted estimator looks like when unpickled on a machine without CUDA."""
    X = images[1]
    attributor = PartAttributor(model, method="occlusion").fit(X)
    expected = attributor.transform(X)
    attributor.device = "cuda:3"
    attributor.device_ = torch.device("cuda:3")
    with caplog.at_level("WARNING", logger="skpartx"):
        restored = pickle.loads(pickle.dumps(attributor))
    assert "not available" in caplog.text
    assert restored.device_.type == "cpu"
    assert next(restored.model_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(restored.transform(X), expected, atol=1e-6)
