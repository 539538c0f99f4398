"""Shapley arithmetic against the definition, on random games."""

import numpy as np
import pytest
from shapley_reference import shapley_from_definition

from skpartx._engine import games as _games


def brute_force_shapley(value, n):
    """Shapley values from the definition, as an array over players 0..n-1."""
    phi = shapley_from_definition(range(n), value)
    return np.array([phi[i] for i in range(n)])


def table_game(n, seed):
    rng = np.random.RandomState(seed)
    table = rng.normal(size=2**n)
    return table, lambda s: table[sum(1 << j for j in s)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_exact_shapley_matches_definition_and_efficiency(n):
    table, value = table_game(n, seed=n)
    phi = _games.exact_shapley(table)
    np.testing.assert_allclose(phi, brute_force_shapley(value, n), atol=1e-12)
    assert phi.sum() == pytest.approx(table[-1] - table[0])


def test_subset_matrix_bit_order():
    subsets = _games.subset_matrix(3)
    assert subsets.shape == (8, 3)
    np.testing.assert_array_equal(subsets[5], [True, False, True])


def test_symmetric_and_null_players():
    # v(S) = 1 if players 0 and 1 are both in S: they share the value; player 2 is null.
    n = 3
    table = np.array([float(s & 0b11 == 0b11) for s in range(2**n)])
    np.testing.assert_allclose(_games.exact_shapley(table), [0.5, 0.5, 0.0], atol=1e-12)


def test_permutation_sampling_error_shrinks_with_budget():
    n = 6
    table, value = table_game(n, seed=11)
    exact = _games.exact_shapley(table)
    codes = 1 << np.arange(n)
    errors = []
    for budget in (8, 64, 1024):
        runs = []
        for seed in range(20):
            orders, coalitions = _games.permutation_coalitions(n, budget, np.random.RandomState(seed))
            values = table[(coalitions * codes).sum(axis=-1)]
            phi, se = _games.permutation_shapley(orders, values)
            runs.append(phi)
            # Every sample path satisfies efficiency exactly.
            assert phi.sum() == pytest.approx(table[-1] - table[0])
        errors.append(np.sqrt(np.mean((np.array(runs) - exact) ** 2)))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.25 * errors[0]


def test_standard_error_covers_the_truth():
    n = 5
    table, _ = table_game(n, seed=3)
    exact = _games.exact_shapley(table)
    orders, coalitions = _games.permutation_coalitions(n, 400, np.random.RandomState(0))
    phi, se = _games.permutation_shapley(orders, table[(coalitions * (1 << np.arange(n))).sum(axis=-1)])
    assert (np.abs(phi - exact) < 4 * se + 1e-12).all()
