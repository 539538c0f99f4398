"""Cooperative-game arithmetic on coalition values: which coalitions to ask for, and how
to combine their values into Shapley values. Pure numpy; the engine does the asking."""

from functools import lru_cache
from math import factorial

import numpy as np


def subset_matrix(q):
    """All ``2**q`` coalitions of ``q`` players as a bool array; row ``s`` has bit ``j`` of ``s``."""
    codes = np.arange(2**q, dtype=np.int64)
    return ((codes[:, None] >> np.arange(q)) & 1).astype(bool)


@lru_cache(maxsize=32)
def shapley_weights(q):
    """Matrix ``W`` of shape ``(q, 2**q)`` with ``phi = W @ v`` for values ``v`` of :func:`subset_matrix`.

    ``W[i, S] = |S|-1)! (q-|S|)! / q!`` if ``i`` is in ``S`` and ``-|S|! (q-|S|-1)! / q!``
    otherwise: each value enters the marginal contributions of every player.
    """
    subsets = subset_matrix(q)
    sizes = subsets.sum(axis=1)
    weight = np.array([factorial(s) * factorial(q - s - 1) / factorial(q) for s in range(q)] + [0.0])
    w_in = weight[np.maximum(sizes - 1, 0)]  # weight of S \ {i} when i in S
    w_out = weight[sizes]  # weight of S when i not in S
    matrix = np.where(subsets.T, w_in[None, :], -w_out[None, :])
    matrix.setflags(write=False)
    return matrix


def exact_shapley(values):
    """Shapley values from the values of all ``2**q`` coalitions in :func:`subset_matrix` order."""
    values = np.asarray(values, dtype=np.float64)
    q = int(np.log2(values.shape[-1]))
    if 2**q != values.shape[-1]:
        raise ValueError("need the values of all 2**q coalitions")
    return values @ shapley_weights(q).T


def permutation_coalitions(q, n_permutations, rng):
    """Prefix coalitions of random player orders, with antithetic (reversed) pairs.

    Returns ``orders`` ``(n, q)`` and ``coalitions`` ``(n, q + 1, q)``, where coalition
    ``k`` of an order holds its first ``k`` players.
    """
    n_pairs = max(1, (int(n_permutations) + 1) // 2)
    orders = np.array([rng.permutation(q) for _ in range(n_pairs)], dtype=np.int64)
    orders = np.concatenate([orders, orders[:, ::-1]])
    rank = np.argsort(orders, axis=1)  # position of each player in each order
    coalitions = rank[:, None, :] < np.arange(q + 1)[None, :, None]
    return orders, coalitions


def permutation_shapley(orders, values):
    """Shapley estimates and standard errors from the prefix values of antithetic orders.

    ``values`` has shape ``(n, q + 1)``, ``orders`` ``(n, q)`` as returned by
    :func:`permutation_coalitions` (first half the orders, second half their reverses).
    A pair of an order and its reverse counts as one sample for the standard error.
    """
    n, q = orders.shape
    marginal = np.empty((n, q))
    np.put_along_axis(marginal, orders, np.diff(values, axis=1), axis=1)
    pairs = 0.5 * (marginal[: n // 2] + marginal[n // 2 :])
    phi = pairs.mean(axis=0)
    se = pairs.std(axis=0, ddof=1) / np.sqrt(len(pairs)) if len(pairs) > 1 else np.full(q, np.nan)
    return phi, se


def expected_gradient_magnitude(curves, strengths):
    """EPGM: mean absolute finite-difference gradient of value curves along an intervention.

    ``curves`` ``(..., n_steps)`` are model values at intervention ``strengths``
    ``(n_steps,)`` (increasing).
    """
    return np.abs(np.diff(curves, axis=-1) / np.diff(strengths)).mean(axis=-1)


# Shuffles and curves handled per step of the permutation test: its temporaries are bounded
# by these blocks (times the curve length), not by n_curves × n_permutations × n_steps.
PERMUTATION_BLOCK = 64
CURVE_BLOCK = 256


def _shuffled_epgm(curves, strengths, n_permutations, rng):
    """EPGM ``(n_curves, n_permutations)`` of every curve under each of ``n_permutations`` shuffles.

    The shuffles are drawn block by block from ``rng``, which gives the same orders as
    drawing all of them at once.
    """
    shuffled = np.empty((len(curves), n_permutations))
    for start in range(0, n_permutations, PERMUTATION_BLOCK):
        stop = min(start + PERMUTATION_BLOCK, n_permutations)
        orders = np.argsort(rng.random((stop - start, curves.shape[-1])), axis=1)
        for first in range(0, len(curves), CURVE_BLOCK):
            block = curves[first : first + CURVE_BLOCK]
            shuffled[first : first + CURVE_BLOCK, start:stop] = expected_gradient_magnitude(block[:, orders], strengths)
    return shuffled


def permutation_test(curves, strengths, n_permutations, rng):
    """Two-sided permutation p-values and effect sizes of the EPGM of each curve (Penzel & Denzler).

    The order of a curve's values is shuffled ``n_permutations`` times (the same shuffles
    for every curve). The p-value is the share of shuffles whose EPGM lies at least as far
    from the shuffles' mean as the observed EPGM does (counting the observation itself):
    a smooth monotone response gets a small p-value, a constant one gets 1. The effect
    size is the observed EPGM minus the shuffles' mean, in units of their standard
    deviation (population, ``ddof=0``), and 0 when the shuffles all have the same EPGM.

    Parameters
    ----------
    curves : array-like of shape (n_curves, n_steps) or (n_steps,)
    strengths : ndarray of shape (n_steps,)
        Increasing intervention strengths.
    n_permutations : int
    rng : numpy.random.RandomState

    Returns
    -------
    p_values, effect_sizes : ndarray of shape (n_curves,)
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=np.float64))
    observed = expected_gradient_magnitude(curves, strengths)
    shuffled = _shuffled_epgm(curves, strengths, int(n_permutations), rng)
    centre = shuffled.mean(axis=1)
    spread = shuffled.std(axis=1)
    # A tolerance keeps ties (e.g. constant curves) from depending on rounding.
    extreme = np.abs(shuffled - centre[:, None]) >= np.abs(observed - centre)[:, None] - 1e-12
    p_values = (1 + extreme.sum(axis=1)) / (1 + n_permutations)
    effect_sizes = np.divide(observed - centre, spread, out=np.zeros_like(observed), where=spread > 0)
    return p_values, effect_sizes


@lru_cache(maxsize=32)
def interaction_weights(q):
    """Tensor ``W`` of shape ``(q, q, 2**q)`` with ``I = W @ v``: pairwise Shapley interaction indices
    from the values ``v`` of all :func:`subset_matrix` coalitions.

    ``I[i, j] = sum over S ⊆ N \\ {i, j} of |S|! (q-|S|-2)! / (q-1)! * (v(S+ij) - v(S+i) - v(S+j) + v(S))``
    (Grabisch & Roubens). A coalition ``T`` enters pair ``(i, j)`` through ``S = T \\ {i, j}``,
    with sign ``+`` when it holds both or neither of ``i`` and ``j`` and ``-`` otherwise.
    The diagonal is zero.
    """
    subsets = subset_matrix(q)
    sizes = subsets.sum(axis=1)
    weight = np.array([factorial(s) * factorial(q - s - 2) / factorial(q - 1) for s in range(max(q - 1, 0))] + [0.0])
    matrix = np.zeros((q, q, 2**q))
    for i in range(q):
        for j in range(i + 1, q):
            sign = np.where(subsets[:, i] == subsets[:, j], 1.0, -1.0)
            matrix[i, j] = matrix[j, i] = sign * weight[sizes - subsets[:, i] - subsets[:, j]]
    matrix.setflags(write=False)
    return matrix


def exact_interactions(values):
    """Pairwise Shapley interaction indices ``(..., q, q)`` from the values of all ``2**q`` coalitions."""
    values = np.asarray(values, dtype=np.float64)
    q = int(np.log2(values.shape[-1]))
    if 2**q != values.shape[-1]:
        raise ValueError("need the values of all 2**q coalitions")
    return np.einsum("ijt,...t->...ij", interaction_weights(q), values)


def interaction_samples(q, n_samples, rng):
    """Coalitions for sampled interaction indices of every pair of ``q`` players.

    For each pair and sample, ``S`` has a size drawn uniformly from ``0..q-2`` and is then
    drawn uniformly among the subsets of that size of the other players, which is exactly
    the distribution the interaction index weights ``S`` by. Returns ``pairs`` ``(n_pairs, 2)``
    and ``coalitions`` ``(n_pairs, n_samples, 4, q)`` holding ``S``, ``S+i``, ``S+j``, ``S+ij``.
    """
    pairs = np.array([(i, j) for i in range(q) for j in range(i + 1, q)], dtype=np.int64).reshape(-1, 2)
    coalitions = np.zeros((len(pairs), n_samples, 4, q), dtype=bool)
    for p, (i, j) in enumerate(pairs):
        others = np.array([k for k in range(q) if k not in (i, j)], dtype=np.int64)
        for s in range(n_samples):
            size = rng.randint(q - 1)
            chosen = rng.choice(others, size=size, replace=False) if size else others[:0]
            coalitions[p, s, :, chosen] = True
            coalitions[p, s, 1, i] = coalitions[p, s, 3, i] = True
            coalitions[p, s, 2, j] = coalitions[p, s, 3, j] = True
    return pairs, coalitions


def sampled_interactions(pairs, values, q):
    """Interaction estimates ``(q, q)`` from the values ``(n_pairs, n_samples, 4)`` of
    :func:`interaction_samples`' coalitions: the mean discrete second derivative."""
    estimate = (values[..., 3] - values[..., 1] - values[..., 2] + values[..., 0]).mean(axis=1)
    matrix = np.zeros((q, q))
    matrix[pairs[:, 0], pairs[:, 1]] = matrix[pairs[:, 1], pairs[:, 0]] = estimate
    return matrix
