"""Shapley values under a budget of evaluations: the approximators on numpy games with known values.

Each game's truth comes from its definition (all coalitions, or a closed form), never from
an approximator. The properties checked are the ones each estimator has: permutation
sampling is unbiased; the regression estimators ("leverage", "adjusted") are consistent,
with a bias far below their spread; all three are efficient, shrink their error as the
budget grows, and report standard errors that cover the truth at about their level.
"""

import numpy as np
import pytest

from skpartx._engine import approximators
from skpartx._engine.games import exact_shapley, subset_matrix
from skpartx.attribution import estimate_shapley

APPROXIMATORS = approximators.APPROXIMATORS


class SaturatingGame:
    """A classifier-like game on ``q`` players: the sigmoid of main effects, pairwise effects
    of neighbours on a ring and one three-way effect; truth from all ``2**q`` coalitions."""

    def __init__(self, q, seed):
        rng = np.random.RandomState(seed)
        self.q = q
        self.main = rng.normal(0.3, 0.8, q)
        self.pair = np.zeros((q, q))
        for i in range(q):
            self.pair[i, (i + 1) % q] = rng.normal(0.0, 0.6)
        self.triple = 1.5
        self.calls = 0
        self.truth = exact_shapley(self(subset_matrix(q)))
        self.calls = 0

    def __call__(self, keep):
        x = np.asarray(keep, dtype=float)
        self.calls += len(x)
        z = -2.0 + x @ self.main + np.einsum("mi,ij,mj->m", x, self.pair, x) + self.triple * x[:, 0] * x[:, 1] * x[:, 2]
        return 1.0 / (1.0 + np.exp(-z))

    @property
    def ring(self):
        return np.array([(i, (i + 1) % self.q) for i in range(self.q)])


@pytest.fixture(scope="module")
def game():
    return SaturatingGame(12, seed=3)


def relative_error(estimate, truth):
    return float(np.sum((estimate - truth) ** 2) / np.sum(truth**2))


def runs(game, approximator, max_evals, seeds, pairs=None):
    results = [estimate_shapley(game, game.q, max_evals=max_evals, approximator=approximator, pairs=pairs,
                                random_state=seed) for seed in seeds]
    return np.array([r.values for r in results]), np.array([r.standard_errors for r in results])


@pytest.mark.parametrize("approximator", APPROXIMATORS)
def test_efficiency_holds_exactly(game, approximator):
    full, empty = game(np.ones((1, game.q), bool))[0], game(np.zeros((1, game.q), bool))[0]
    for seed in range(3):
        result = estimate_shapley(game, game.q, max_evals=200, approximator=approximator, random_state=seed)
        assert result.values.sum() == pytest.approx(full - empty, abs=1e-10)


@pytest.mark.parametrize("approximator", APPROXIMATORS)
def test_budget_is_honoured_and_the_game_sees_each_coalition_once(approximator):
    game = SaturatingGame(14, seed=0)
    seen = []

    def recording(keep):
        seen.append(keep.copy())
        return game(keep)

    result = estimate_shapley(recording, 14, max_evals=300, approximator=approximator, random_state=0)
    asked = np.concatenate(seen)
    assert len(np.unique(asked, axis=0)) == len(asked) == result.n_evaluations <= 300
    if approximator == "permutation":  # a fixed number of orders (unbiased): as many as fit without repeats
        assert result.n_evaluations >= 2 * 13 * ((300 - 2) // 26) * 0.85
    else:  # the regression plans spend the whole budget
        assert result.n_evaluations == 300


@pytest.mark.parametrize("approximator", APPROXIMATORS)
def test_error_shrinks_with_the_budget(game, approximator):
    errors = [np.median([relative_error(v, game.truth) for v in runs(game, approximator, budget, range(12))[0]])
              for budget in (96, 768)]
    assert errors[1] < 0.35 * errors[0]


def test_permutation_sampling_is_unbiased(game):
    values, _ = runs(game, "permutation", 48, range(400))
    mean, spread = values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(len(values))
    # Each player's mean over seeds within 4 standard errors of the truth (12 players).
    assert np.all(np.abs(mean - game.truth) < 4 * spread + 1e-12)


@pytest.mark.parametrize("approximator", ["leverage", "adjusted"])
def test_regression_estimators_bias_is_far_below_their_spread(game, approximator):
    values, _ = runs(game, approximator, 96, range(200), pairs=game.ring)
    bias = relative_error(values.mean(axis=0), game.truth)
    spread = np.mean([relative_error(v, game.truth) for v in values])
    assert bias < 0.1 * spread


@pytest.mark.parametrize("approximator", APPROXIMATORS)
def test_standard_errors_cover_the_truth(game, approximator):
    values, errors = runs(game, approximator, 256, range(60), pairs=game.ring)
    z = np.abs(values - game.truth) / errors
    coverage = np.mean(z < 1.96)
    assert 0.85 <= coverage <= 0.995
    # The errors match the spread over seeds, not just the coverage.
    ratio = np.sqrt(np.mean(errors**2, axis=0) / np.mean((values - game.truth) ** 2, axis=0))
    assert 0.6 < np.median(ratio) < 1.6


@pytest.mark.parametrize("approximator", ["leverage", "adjusted"])
def test_paired_regression_is_exact_on_games_of_pairwise_effects(approximator):
    rng = np.random.RandomState(1)
    q = 16
    main, pair = rng.normal(size=q), np.triu(rng.normal(size=(q, q)), 1)
    game = lambda keep: 2.0 + keep @ main + np.einsum("mi,ij,mj->m", keep.astype(float), pair, keep)  # noqa: E731
    truth = main + 0.5 * (pair.sum(axis=1) + pair.sum(axis=0))  # each pair's effect split evenly
    result = estimate_shapley(game, q, max_evals=2 * q + 2, approximator=approximator, random_state=0)
    np.testing.assert_allclose(result.values, truth, atol=1e-8)


def test_adjusted_beats_permutations_on_a_saturating_game(game):
    """The reason for the default: at equal evaluations its error is several times lower."""
    ours = np.median([relative_error(v, game.truth) for v in runs(game, "adjusted", 128, range(20), game.ring)[0]])
    orders = np.median([relative_error(v, game.truth) for v in runs(game, "permutation", 128, range(20))[0]])
    assert ours < orders / 3


def test_exact_when_all_coalitions_fit_in_the_budget(game):
    result = estimate_shapley(game, game.q, max_evals=2**game.q, random_state=0)
    assert result.approximator == "exact" and result.n_evaluations == 2**game.q
    np.testing.assert_allclose(result.values, game.truth, atol=1e-12)
    np.testing.assert_array_equal(result.standard_errors, 0.0)


def test_proxy_shapley_by_orders_matches_its_table_beyond_the_exact_limit():
    rng = np.random.RandomState(4)
    q = 17
    coalitions = np.vstack([np.zeros((1, q), bool), np.ones((1, q), bool), rng.rand(600, q) < 0.5])
    values = 1.0 / (1.0 + np.exp(-(coalitions @ rng.normal(0, 0.5, q) - 3 + 2.0 * coalitions[:, 0] * coalitions[:, 1])))
    proxy = approximators.fit_proxy(coalitions, values, pairs=np.array([[0, 1]]))
    table = exact_shapley(proxy.predict(subset_matrix(q)))
    estimate, se = approximators.proxy_shapley(proxy, q, np.random.RandomState(0))
    assert np.all(np.abs(estimate - table) < 4 * se + 1e-9)
    assert relative_error(estimate, table) < 1e-4


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_players=0), ValueError, "n_players"),
        (dict(max_evals=1), ValueError, "max_evals"),
        (dict(approximator="kernel"), ValueError, "approximator must be one of"),
        (dict(pairs=[[0, 0]]), ValueError, "pairs"),
        (dict(pairs=[[0, 40]]), ValueError, "pairs"),
        (dict(max_evals=10), ValueError, "too small for 'adjusted'"),
    ],
)
def test_bad_arguments_fail_clearly(game, kwargs, error, match):
    arguments = dict(n_players=game.q, max_evals=200, approximator="adjusted")
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        estimate_shapley(game, **arguments)


def test_a_game_returning_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="one value per row"):
        estimate_shapley(lambda keep: np.zeros(3), 14, max_evals=100)
    with pytest.raises(TypeError, match="callable"):
        estimate_shapley(np.zeros(3), 14)
