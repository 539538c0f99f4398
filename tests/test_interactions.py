"""Pairwise Shapley interaction indices and the part interaction graph."""

import itertools
from math import factorial

import matplotlib
import numpy as np
import pytest

from conftest import N_TRAIN
from skpartx import PartAttributor, PartImages
from skpartx._engine.games import exact_interactions, interaction_samples, sampled_interactions, subset_matrix
from skpartx.interactions import interaction_graph, part_interactions

matplotlib.use("Agg")


def brute_force_interaction(value, players, i, j):
    """The interaction index of ``i`` and ``j`` from its definition, over explicit subsets."""
    rest = [k for k in players if k not in (i, j)]
    q, total = len(players), 0.0
    for size in range(len(rest) + 1):
        for S in itertools.combinations(rest, size):
            weight = factorial(size) * factorial(q - size - 2) / factorial(q - 1)
            total += weight * (value(S + (i, j)) - value(S + (i,)) - value(S + (j,)) + value(S))
    return total


@pytest.mark.parametrize("q", [2, 3, 5])
def test_exact_interactions_match_the_definition_on_random_games(q):
    rng = np.random.RandomState(q)
    values = rng.rand(2**q)
    index = exact_interactions(values)
    value = lambda S: values[sum(1 << k for k in S)]  # noqa: E731
    for i, j in itertools.combinations(range(q), 2):
        assert index[i, j] == pytest.approx(brute_force_interaction(value, range(q), i, j), abs=1e-12)
    np.testing.assert_array_equal(index, index.T)
    np.testing.assert_array_equal(np.diag(index), 0)


def test_interactions_of_simple_games():
    q = 4
    subsets = subset_matrix(q)
    additive = subsets @ np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(exact_interactions(additive), 0, atol=1e-12)
    both = (subsets[:, 0] & subsets[:, 1]).astype(float)  # worth 1 only with players 0 and 1 together
    expected = np.zeros((q, q))
    expected[0, 1] = expected[1, 0] = 1.0
    np.testing.assert_allclose(exact_interactions(both), expected, atol=1e-12)
    either = (subsets[:, 2] | subsets[:, 3]).astype(float)  # either player is enough: redundancy
    assert exact_interactions(either)[2, 3] == pytest.approx(-1.0)


def test_sampled_interactions_are_unbiased():
    rng = np.random.RandomState(0)
    q = 5
    values = rng.rand(2**q)
    pairs, coalitions = interaction_samples(q, 6000, rng)
    codes = (coalitions * (1 << np.arange(q))).sum(axis=-1)
    estimate = sampled_interactions(pairs, values[codes], q)
    np.testing.assert_allclose(estimate, exact_interactions(values), atol=0.03)


@pytest.fixture(scope="module")
def attributor(model, full_X):
    return PartAttributor(model, baseline="mean").fit(full_X[:N_TRAIN])


def test_image_interactions_match_brute_force_on_the_model(attributor, full_X, data):
    X = full_X[N_TRAIN : N_TRAIN + 3]
    shapley, interactions, targets = part_interactions(attributor, X)
    np.testing.assert_allclose(shapley, attributor.transform(X), atol=1e-5)  # other batches: a few 1e-7 apart
    for k in range(len(X)):
        engine = attributor.coalition_engine(X[k : k + 1], targets[k : k + 1])
        players = list(np.flatnonzero(engine.present[0]))

        def value(S):
            keep = np.zeros((1, len(data.part_names)), dtype=bool)
            keep[0, list(S)] = True
            return engine.evaluate([0], keep)[0]

        for i, j in itertools.combinations(players, 2):
            assert interactions[k, i, j] == pytest.approx(brute_force_interaction(value, players, i, j), abs=1e-5)
        absent = np.setdiff1d(np.arange(len(data.part_names)), players)
        assert not interactions[k][absent].any() and not interactions[k][:, absent].any()


def test_sampled_path_approximates_exact_on_the_model(model, full_X):
    X = full_X[N_TRAIN : N_TRAIN + 4]
    exact = PartAttributor(model, baseline="mean").fit(X)
    # Within 40 evaluations per image, images of 6 or more parts are sampled (2**6 > 40).
    sampled = PartAttributor(model, baseline="mean", max_exact_parts=2, max_evals=40).fit(X)
    assert max(np.unique(m[m >= 0]).size for m in np.asarray(X.masks)) >= 6
    phi_exact, reference, _ = part_interactions(exact, X)
    phi, estimate, _ = part_interactions(sampled, X, n_samples=400, random_state=0)
    assert np.abs(estimate - reference).max() < 0.08
    assert np.corrcoef(estimate.ravel(), reference.ravel())[0, 1] > 0.95
    # The Shapley values are the attributor's estimates: close to exact, efficient.
    assert np.abs(phi - phi_exact).max() < 0.05
    np.testing.assert_allclose(phi.sum(axis=1), phi_exact.sum(axis=1), atol=1e-6)


def test_graph_per_class_and_its_figure(attributor, full_X, data, decisions):
    X = full_X[N_TRAIN : N_TRAIN + 80]
    graph = interaction_graph(attributor, X, target_names=data.target_names, random_state=0)
    classes = np.unique(decisions[N_TRAIN : N_TRAIN + 80])
    np.testing.assert_array_equal(graph.classes, classes)
    assert graph.counts.sum() == 80 and graph.interactions.shape == (len(classes), 10, 10)
    assert graph.class_labels == [data.target_names[c] for c in classes]
    # The planted parts of a class are its most important ones, and they interact.
    for c in classes:
        planted = [data.part_names.index(p) for p in data.rules[c]]
        top = np.argsort(-graph.importance[list(classes).index(c)])[:3]
        assert set(planted) & set(top)
    edges = graph.edges(classes[0])
    strengths = [abs(v) for _, _, v in edges]
    assert strengths == sorted(strengths, reverse=True)
    fig = graph.plot(classes[0], min_strength=0.0)
    assert len(fig.axes[0].lines) == len(edges) and fig.axes[0].get_title().startswith("Part interactions")
    with pytest.raises(ValueError, match="not in the graph"):
        graph.edges(99)
    with pytest.raises(TypeError, match="fitted PartAttributor"):
        part_interactions(object(), X)
    matplotlib.pyplot.close("all")
