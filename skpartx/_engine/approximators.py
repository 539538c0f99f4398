"""Shapley values of games too large to evaluate in full, under a budget of evaluations.

Every approximator works in two steps, so that the engine can ask for the coalitions of
many images in one batch: :func:`plan` says which coalitions to evaluate (at most
``max_evals`` distinct ones, the empty and the full coalition first), and
:func:`estimate` turns their values into Shapley values and standard errors. Pure numpy.

``"permutation"``
    Antithetic permutation sampling (orders and their reverses, shap's
    ``PermutationExplainer`` scheme): unbiased, efficient by construction.
``"leverage"``
    Paired regression (KernelSHAP's weighted least squares with the efficiency
    constraint, Lundberg & Lee 2017) on coalitions drawn as Leverage SHAP draws them
    (Musco & Witter 2025): coalition sizes in equal shares — the leverage scores of the
    Shapley kernel — each coalition with its complement (Covert & Lee 2021), without
    replacement within a size, so that small and large sizes are enumerated once the
    budget covers them. Consistent, efficient exactly.
``"adjusted"``
    Regression adjustment (Witter et al. 2025): a cheap proxy ``g`` of the game is fitted
    to the same sampled values — a logistic model of the value with each part's effect and
    the pairwise effects of parts that touch (all pairs once the samples allow) — its
    Shapley values are computed exactly (or from many permutations of the cheap proxy),
    and the regression above, run on the residual ``v - g``, corrects them. Where the
    proxy is good the residual is small and so is the error; where it is poor the
    correction still leads to the Shapley values of ``v``. Consistent, efficient exactly.
"""

import warnings
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from . import games as _games

APPROXIMATORS = ("adjusted", "leverage", "permutation")

# Empty and full coalitions enter the proxy's fit with this weight: the efficiency
# constraint pins them, so the proxy should match them closely.
ANCHOR_WEIGHT = 50.0
# Ridge penalty of the proxy's coefficients (on 0/1 features), chosen on development games.
PROXY_RIDGE = 0.1
# Rows per proxy coefficient needed before every pair of parts gets its own effect.
ROWS_PER_PAIR_FEATURE = 1.5
# Players up to which the proxy's Shapley values come from its table of all coalitions;
# beyond, from this many antithetic orders of the proxy (cheap: no model involved).
PROXY_EXACT_PLAYERS = 16
PROXY_ORDERS = 8192
# Values in [0, 1] (probabilities) are fitted on the logit scale, clipped at this distance.
LOGIT_CLIP = 1e-6


@dataclass(frozen=True)
class Plan:
    """Coalitions an approximator asks for, and how its estimate weighs them.

    Attributes
    ----------
    approximator : str
    coalitions : ndarray of shape (m, q), bool
        Rows 0 and 1 are the empty and the full coalition (for ``"permutation"``: the
        prefixes of each order, ``q + 1`` per order).
    weights : ndarray of shape (m,)
        Regression weight of each row (Shapley kernel over sampling share); unused by
        ``"permutation"``.
    units : ndarray of shape (m,), int
        Sampling unit of each row (a coalition and its complement, or an order); -1 for
        the empty and full rows.
    strata : ndarray of shape (n_units,), int
        Stratum (coalition size) each unit was drawn in.
    sampled_share : ndarray of shape (n_strata,)
        Share of its stratum's population that was drawn (finite-population correction).
    orders : ndarray of shape (n_orders, q) or None
        The player orders of ``"permutation"``.
    """

    approximator: str
    coalitions: np.ndarray
    weights: np.ndarray
    units: np.ndarray
    strata: np.ndarray
    sampled_share: np.ndarray
    orders: np.ndarray | None = None


def warn_if_n_samples(owner, n_samples, stacklevel):
    """Warn, where ``n_samples`` (0.2's count of permutations) is given, that budgets replace it.

    ``owner`` names the estimator; ``stacklevel`` counts from the caller (1) to the user's call."""
    if isinstance(n_samples, str) and n_samples == "deprecated":
        return
    warnings.warn(
        f"{owner}'s n_samples is deprecated in skpartx 0.2 and will be removed in 0.3: sampled Shapley values "
        "now take a budget of model evaluations per image, max_evals, and an approximator (default 'adjusted', "
        "which reached a given error with 1/4 to 1/7 of the evaluations of permutations on 16- to 32-part games). "
        f"n_samples={n_samples} still gives 0.2's {n_samples} permutations; max_evals={n_samples} * (P - 1) + 2 "
        "with approximator='permutation' gives the same values at P parts.",
        FutureWarning,
        stacklevel=stacklevel + 1,
    )


# max_exact_parts="warn" (0.2's default) forces exact values up to this many parts; in 0.3 the
# default becomes None: exact only where all 2**P coalitions fit in the budget.
ANNOUNCED_EXACT_PARTS = 12


def exact_limit(max_exact_parts):
    """Parts up to which exact values are forced: ``"warn"`` is 0.2's 12, ``None`` none."""
    if isinstance(max_exact_parts, str):
        return ANNOUNCED_EXACT_PARTS
    return 0 if max_exact_parts is None else int(max_exact_parts)


def exact_fits(q, max_evals):
    """True when all ``2**q`` coalitions fit in the budget: exact values cost no more."""
    return 2.0**q <= max_evals


def check_budget(q, max_evals, approximator):
    """Raise a clear error unless ``max_evals`` buys at least one sample of ``approximator`` at ``q`` players."""
    least = minimum_evals(q, approximator)
    if max_evals < least:
        raise ValueError(
            f"max_evals={max_evals} is too small for {approximator!r} Shapley values of {q} parts: it needs at "
            f"least {least} evaluations ({'two orders' if approximator == 'permutation' else 'the empty and full coalitions and one coalition with its complement per size'})."
        )


def minimum_evals(q, approximator):
    """Fewest evaluations ``approximator`` can work with at ``q`` players."""
    if approximator == "permutation":
        return 2 * (q - 1) + 2
    return 2 + 2 * (q // 2)


def plan(approximator, q, max_evals, rng):
    """Coalitions to evaluate for an estimate of ``q`` players' Shapley values, at most ``max_evals`` distinct.

    Parameters
    ----------
    approximator : {"adjusted", "leverage", "permutation"}
    q : int
        Number of players (at least 2).
    max_evals : int
        Budget of distinct coalitions, the empty and full ones included.
    rng : numpy.random.RandomState

    Returns
    -------
    Plan
    """
    if approximator not in APPROXIMATORS:
        raise ValueError(f"approximator must be one of {APPROXIMATORS}, got {approximator!r}.")
    check_budget(q, max_evals, approximator)
    if approximator == "permutation":
        # Orders fixed in advance (q - 1 coalitions each besides the shared empty and full
        # ones), so that the mean stays unbiased; repeated short prefixes leave some budget.
        orders, coalitions = _games.permutation_coalitions(q, 2 * ((max_evals - 2) // (2 * (q - 1))), rng)
        n = len(orders)
        units = np.repeat(np.arange(n) % (n // 2), q + 1)  # an order and its reverse: one unit
        return Plan(approximator, coalitions.reshape(-1, q), np.ones(n * (q + 1)), units,
                    np.zeros(n // 2, dtype=np.int64), np.zeros(1), orders)
    return _paired_plan(approximator, q, max_evals, rng)


def _pair_strata(q):
    """Sizes ``s <= q / 2`` of a coalition whose complement has ``q - s`` players, the number
    of distinct (coalition, complement) pairs of each, and the share of sampling each gets
    (the leverage scores give every size the same share; a pair covers two sizes but one
    when ``s = q / 2``)."""
    sizes = np.arange(1, q // 2 + 1)
    population = np.array([comb(q, int(s)) if 2 * s < q else comb(q, int(s)) // 2 for s in sizes], dtype=float)
    share = np.where(2 * sizes < q, 2.0, 1.0)
    return sizes, population, share / share.sum()


def _allocate(n_pairs, population, share):
    """Pairs per stratum: ``n_pairs`` split by ``share``, none above its population (the
    excess goes to the others), at least one where the population allows."""
    counts = np.zeros(len(population), dtype=np.int64)
    open_ = np.ones(len(population), dtype=bool)
    left = n_pairs
    while left > 0 and open_.any():
        target = left * share * open_ / (share * open_).sum()
        add = np.minimum(np.floor(target).astype(np.int64), (population - counts).astype(np.int64))
        if add.sum() == 0:  # hand out the remainder one by one, largest fractional part first
            order = np.argsort(-(target - np.floor(target)) + ~open_ * 10)
            for k in order[:left]:
                if open_[k] and counts[k] < population[k]:
                    counts[k] += 1
                    left -= 1
            break
        counts += add
        left -= int(add.sum())
        open_ &= counts < population
    return counts


@lru_cache(maxsize=64)
def _all_subsets(q, size, half):
    """Every coalition of ``size`` of ``q`` players as rows of player ids (``half``: those holding player 0)."""
    pool = np.array([c for c in combinations(range(q), size) if not half or c[0] == 0], dtype=np.int64)
    pool.setflags(write=False)
    return pool


def _draw_subsets(q, size, k, population, rng, half):
    """``k`` distinct coalitions of ``size`` players, as bool rows. ``half``: only those
    holding player 0 (the pairs of ``size = q / 2``, each counted once)."""
    rows = np.zeros((k, q), dtype=bool)
    if 4 * k >= population:  # a large share of a small population: draw from all of it
        pool = _all_subsets(q, size, half)
        np.put_along_axis(rows, pool[rng.choice(len(pool), size=k, replace=False)], True, axis=1)
        return rows
    seen, filled = set(), 0
    weights = 1 << np.arange(q, dtype=np.int64)
    while filled < k:
        draws = np.argsort(rng.random_sample((2 * (k - filled) + 4, q)), axis=1)[:, :size]
        batch = np.zeros((len(draws), q), dtype=bool)
        np.put_along_axis(batch, draws, True, axis=1)
        if half:
            batch[~batch[:, 0]] = ~batch[~batch[:, 0]]
        for row, code in zip(batch, (batch @ weights).tolist()):
            if code not in seen and filled < k:
                seen.add(code)
                rows[filled] = row
                filled += 1
    return rows


def _paired_plan(approximator, q, max_evals, rng):
    sizes, population, share = _pair_strata(q)
    counts = _allocate((int(max_evals) - 2) // 2, population, share)
    rows = [np.zeros((1, q), dtype=bool), np.ones((1, q), dtype=bool)]
    units = [np.array([-1, -1])]
    strata = []
    n_units = 0
    for stratum, (size, k, pop) in enumerate(zip(sizes, counts, population)):
        if k == 0:
            continue
        drawn = _draw_subsets(q, int(size), int(k), int(pop), rng, half=2 * size == q)
        paired = np.empty((2 * k, q), dtype=bool)
        paired[0::2], paired[1::2] = drawn, ~drawn
        rows.append(paired)
        units.append(n_units + np.repeat(np.arange(k), 2))
        strata.append(np.full(k, stratum))
        n_units += k
    coalitions = np.concatenate(rows)
    row_sizes = coalitions.sum(axis=1)
    # Rows of each size, sampled: with the kernel mu(s) = (q-1) / (C(q,s) s (q-s)), a row
    # stands for C(q,s) / rows_s coalitions, so its weight is (q-1) / (s (q-s) rows_s).
    rows_of_size = np.bincount(row_sizes, minlength=q + 1)
    inner = (row_sizes > 0) & (row_sizes < q)
    weights = np.zeros(len(coalitions))
    s = row_sizes[inner]
    weights[inner] = (q - 1) / (s * (q - s) * rows_of_size[s])
    return Plan(approximator, coalitions, weights, np.concatenate(units), np.concatenate(strata),
                counts / population)


def estimate(plan_, values, pairs=None):
    """Shapley values and standard errors ``(q,)`` from the values of ``plan_.coalitions``.

    Parameters
    ----------
    plan_ : Plan
    values : ndarray of shape (m,)
    pairs : ndarray of shape (k, 2), default=None
        Pairs of players whose joint effect the ``"adjusted"`` proxy fits while the samples
        are too few for every pair (parts that touch); ``None``: none.

    Returns
    -------
    phi, se : ndarray of shape (q,)
    """
    values = np.asarray(values, dtype=np.float64)
    if plan_.approximator == "permutation":
        q = plan_.orders.shape[1]
        return _games.permutation_shapley(plan_.orders, values.reshape(-1, q + 1))
    empty, full = values[0], values[1]
    if plan_.approximator == "leverage":
        return regression_shapley(plan_, values, empty, full, n_fitted=0)
    proxy = fit_proxy(plan_.coalitions, values, pairs)
    proxy_phi, proxy_se = proxy_shapley(proxy, plan_.coalitions.shape[1], np.random.RandomState(0))
    corner = proxy.predict(plan_.coalitions[:2])
    residual = values - proxy.predict(plan_.coalitions)
    phi, se = regression_shapley(plan_, residual, empty - corner[0], full - corner[1], n_fitted=proxy.n_features)
    return proxy_phi + phi, np.sqrt(se**2 + proxy_se**2)


def regression_shapley(plan_, values, empty, full, n_fitted):
    """Efficiency-constrained weighted least squares of ``values`` on the plan's coalitions,
    with design-based (stratified, finite-population) sandwich standard errors.

    Minimises ``sum w (empty + X phi - v)^2`` subject to ``sum phi = full - empty``; the last
    player's value is eliminated through the constraint. ``n_fitted`` coefficients fitted to
    the same rows before (a proxy) widen the errors by the degrees of freedom they used.
    """
    x = plan_.coalitions[2:].astype(np.float64)
    y = values[2:] - empty
    w = plan_.weights[2:]
    total = full - empty
    reduced = x[:, :-1] - x[:, -1:]
    target = y - x[:, -1] * total
    gram = (reduced * w[:, None]).T @ reduced
    solution = np.linalg.lstsq(gram, (reduced * w[:, None]).T @ target, rcond=None)[0]
    phi = np.append(solution, total - solution.sum())
    scores = reduced * (w * (target - reduced @ solution))[:, None]
    units = plan_.units[2:]
    per_unit = np.zeros((units.max() + 1, scores.shape[1]))
    np.add.at(per_unit, units, scores)
    covariance = _stratified_covariance(per_unit, plan_.strata, plan_.sampled_share)
    n_rows, used = len(x), (x.shape[1] - 1) + n_fitted
    covariance *= n_rows / max(n_rows - used, 1.0)
    inverse = np.linalg.pinv(gram)
    reduced_cov = inverse @ covariance @ inverse
    # phi = T solution + (0, ..., total): T stacks the identity and a row of -1.
    transform = np.vstack([np.eye(len(solution)), -np.ones(len(solution))])
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", transform, reduced_cov, transform), 0.0, None))
    return phi, se


def _stratified_covariance(per_unit, strata, sampled_share):
    """Covariance of a stratified total of per-unit scores, drawn without replacement.

    Strata with a single unit (no spread to measure) are pooled with each other.
    """
    strata = strata.copy()
    counts = np.bincount(strata, minlength=len(sampled_share))
    lonely = counts[strata] < 2
    if lonely.any():
        strata[lonely] = len(sampled_share)
        sampled_share = np.append(sampled_share, 0.0)
    covariance = np.zeros((per_unit.shape[1],) * 2)
    for stratum in np.unique(strata):
        z = per_unit[strata == stratum]
        if len(z) < 2:
            continue
        centred = z - z.mean(axis=0)
        covariance += (1.0 - sampled_share[stratum]) * len(z) / (len(z) - 1) * centred.T @ centred
    return covariance


@dataclass(frozen=True)
class Proxy:
    """A fitted proxy game: ``link^-1(intercept + sum_i main_i x_i + sum_{i<j} pair_ij x_i x_j)``."""

    intercept: float
    main: np.ndarray
    pair_effects: np.ndarray  # (q, q), symmetric, zero diagonal
    logistic: bool
    n_features: int

    def logits(self, coalitions):
        x = np.asarray(coalitions, dtype=np.float64)
        return self.intercept + x @ self.main + 0.5 * ((x @ self.pair_effects) * x).sum(axis=1)

    def predict(self, coalitions):
        z = self.logits(coalitions)
        return 1.0 / (1.0 + np.exp(-z)) if self.logistic else z


def _link(values, logistic):
    if not logistic:
        return values
    p = np.clip(values, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(p / (1.0 - p))


def fit_proxy(coalitions, values, pairs=None):
    """Ridge fit of a proxy game to sampled values (rows 0 and 1: the empty and full coalitions).

    On the logit scale when every value lies in [0, 1] (probabilities saturate, their
    logits add up), on the values' own scale otherwise. Every pair of players gets an
    effect when there are :data:`ROWS_PER_PAIR_FEATURE` rows per coefficient, else only
    ``pairs``.
    """
    x = np.asarray(coalitions, dtype=np.float64)
    m, q = x.shape
    all_pairs = np.array(list(combinations(range(q), 2)), dtype=np.int64).reshape(-1, 2)
    if m >= ROWS_PER_PAIR_FEATURE * (1 + q + len(all_pairs)):
        chosen = all_pairs
    else:
        chosen = np.empty((0, 2), dtype=np.int64) if pairs is None else np.unique(np.sort(np.asarray(pairs), axis=1), axis=0)
    logistic = bool(values.min() >= 0.0 and values.max() <= 1.0)
    features = np.column_stack([np.ones(m), x, x[:, chosen[:, 0]] * x[:, chosen[:, 1]]])
    row_weight = np.ones(m)
    row_weight[:2] = ANCHOR_WEIGHT
    penalty = np.full(features.shape[1], PROXY_RIDGE)
    penalty[0] = 0.0
    weighted = features * row_weight[:, None]
    coef = np.linalg.solve(weighted.T @ features + np.diag(penalty), weighted.T @ _link(values, logistic))
    effects = np.zeros((q, q))
    effects[chosen[:, 0], chosen[:, 1]] = effects[chosen[:, 1], chosen[:, 0]] = coef[1 + q :]
    return Proxy(float(coef[0]), coef[1 : 1 + q], effects, logistic, features.shape[1])


@lru_cache(maxsize=4)
def _coalition_table(q):
    """:func:`~skpartx._engine.games.subset_matrix` as floats, kept: every proxy of ``q`` players reads it."""
    table = _games.subset_matrix(q).astype(np.float64)
    table.setflags(write=False)
    return table


def proxy_shapley(proxy, q, rng):
    """Shapley values ``(q,)`` of a proxy and their Monte Carlo standard errors (0 when exact)."""
    if not proxy.logistic:
        # A pairwise polynomial splits each pair's effect evenly between its players.
        return proxy.main + 0.5 * proxy.pair_effects.sum(axis=1), np.zeros(q)
    if q <= PROXY_EXACT_PLAYERS:
        return _games.exact_shapley(proxy.predict(_coalition_table(q))), np.zeros(q)
    half_orders = np.argsort(rng.random_sample((PROXY_ORDERS // 2, q)), axis=1)
    orders = np.concatenate([half_orders, half_orders[:, ::-1]])  # antithetic: each order and its reverse
    marginal = np.empty(orders.shape)
    for start in range(0, len(orders), 1024):
        block = orders[start : start + 1024]
        effects = proxy.pair_effects[block[:, :, None], block[:, None, :]]
        steps = proxy.main[block] + np.tril(effects, -1).sum(axis=2)
        prefix = proxy.intercept + np.concatenate([np.zeros((len(block), 1)), np.cumsum(steps, axis=1)], axis=1)
        curve = 1.0 / (1.0 + np.exp(-prefix))
        np.put_along_axis(marginal[start : start + 1024], block, np.diff(curve, axis=1), axis=1)
    half = len(orders) // 2
    pairs = 0.5 * (marginal[:half] + marginal[half:])
    return pairs.mean(axis=0), pairs.std(axis=0, ddof=1) / np.sqrt(half)
