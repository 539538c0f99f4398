"""Shapley values of any game on keep-vectors, by the approximators the attributor uses."""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from .._engine import approximators as _approximators
from .._engine import games as _games


@dataclass(frozen=True)
class ShapleyEstimate:
    """Shapley values of a game, estimated or exact.

    Attributes
    ----------
    values : ndarray of shape (n_players,)
    standard_errors : ndarray of shape (n_players,)
        0 where the values are exact.
    n_evaluations : int
        Distinct coalitions the game was asked for (the empty and full ones included).
    approximator : str
        ``"exact"`` when all coalitions fit in the budget, else the approximator used.
    """

    values: np.ndarray
    standard_errors: np.ndarray
    n_evaluations: int
    approximator: str


def _ask(game, coalitions, n_players):
    """Values of ``coalitions`` from ``game``, which sees each distinct coalition once."""
    distinct, back = np.unique(coalitions, axis=0, return_inverse=True)
    values = np.asarray(game(distinct.copy()), dtype=np.float64).reshape(-1)
    if values.shape != (len(distinct),):
        raise ValueError(f"game returned {values.size} values for {len(distinct)} coalitions; it must return one "
                         "value per row of the (m, n_players) keep-vector array it is given.")
    if not np.isfinite(values).all():
        raise ValueError("game returned non-finite values.")
    return values[back.reshape(-1)], len(distinct)


def estimate_shapley(game, n_players, *, max_evals=512, approximator="adjusted", pairs=None, random_state=None):
    """Shapley values of a cooperative game from at most ``max_evals`` evaluations.

    The same approximators as :class:`~skpartx.PartAttributor`'s sampled Shapley values,
    for any value function on keep-vectors (a model on masked inputs, a numpy game):
    exact when all ``2**n_players`` coalitions fit in the budget.

    Parameters
    ----------
    game : callable
        ``game(coalitions) -> values``: ``coalitions`` a bool array ``(m, n_players)``
        (``True``: the player is kept), ``values`` ``(m,)``. Each distinct coalition is
        asked for once.
    n_players : int
    max_evals : int, default=512
        Distinct coalitions to ask for, the empty and full ones included.
    approximator : {"adjusted", "leverage", "permutation"}, default="adjusted"
        See :class:`~skpartx.PartAttributor`.
    pairs : array-like of shape (n_pairs, 2), default=None
        Players likely to interact (for image parts: parts that touch), whose joint
        effects ``"adjusted"``'s proxy fits while the samples are too few for every pair.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    ShapleyEstimate

    Examples
    --------
    >>> import numpy as np
    >>> from skpartx.attribution import estimate_shapley
    >>> weights = np.arange(1.0, 21.0)
    >>> game = lambda keep: keep @ weights + 5.0 * keep[:, 0] * keep[:, 1]
    >>> result = estimate_shapley(game, 20, max_evals=256, random_state=0)
    >>> np.round(result.values[:3], 6), result.n_evaluations
    (array([3.5, 4.5, 3. ]), 256)
    """
    if not callable(game):
        raise TypeError(f"game must be callable on a (m, n_players) bool array, got {type(game).__name__}.")
    if not isinstance(n_players, Integral) or n_players < 1:
        raise ValueError(f"n_players must be a positive integer, got {n_players!r}.")
    if not isinstance(max_evals, Integral) or max_evals < 2:
        raise ValueError(f"max_evals must be an integer of at least 2, got {max_evals!r}.")
    if approximator not in _approximators.APPROXIMATORS:
        raise ValueError(f"approximator must be one of {_approximators.APPROXIMATORS}, got {approximator!r}.")
    n_players = int(n_players)
    if _approximators.exact_fits(n_players, max_evals) or n_players == 1:
        values, asked = _ask(game, _games.subset_matrix(n_players), n_players)
        return ShapleyEstimate(_games.exact_shapley(values), np.zeros(n_players), asked, "exact")
    if pairs is not None:
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if pairs.size and (pairs.min() < 0 or pairs.max() >= n_players or (pairs[:, 0] == pairs[:, 1]).any()):
            raise ValueError(f"pairs must hold two different players in 0..{n_players - 1} per row.")
    plan = _approximators.plan(approximator, n_players, int(max_evals), check_random_state(random_state))
    values, asked = _ask(game, plan.coalitions, n_players)
    phi, se = _approximators.estimate(plan, values, pairs)
    return ShapleyEstimate(phi, se, asked, approximator)
