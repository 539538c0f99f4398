"""Shapley values of each image's parts, asked of the coalition engine: exact over all
coalitions up to a number of parts, permutation-sampled beyond. Shared by the attribution,
interaction and counterfactual explanations; :mod:`skpartx._engine.games` does the arithmetic."""

import numpy as np

from . import approximators as _approximators
from . import games as _games


def coalitions_over(present_ids, subsets, n_parts):
    """Global keep-vectors (n_images, n_coalitions, n_parts) from coalitions over each image's parts."""
    n, q = present_ids.shape
    keep = np.zeros((n, len(subsets), n_parts), dtype=bool)
    rows = np.arange(n)[:, None, None]
    cols = np.arange(len(subsets))[None, :, None]
    keep[rows, cols, present_ids[:, None, :]] = subsets[None, :, :]
    return keep


def groups_by_part_count(present):
    """Yield ``(q, images, part ids (n_images, q))`` for the images showing each number ``q`` of parts."""
    sizes = present.sum(axis=1)
    for q in np.unique(sizes):
        group = np.flatnonzero(sizes == q)
        yield int(q), group, np.stack([np.flatnonzero(present[i]) for i in group])


# Rows of keep-vectors per engine request on the exact path: bounds its memory (images x 2**P x parts).
EXACT_ROWS = 2**18


def image_blocks(group, q):
    """Positions in ``group`` in blocks whose ``2**q`` coalitions each fit in :data:`EXACT_ROWS` rows."""
    per_block = max(1, EXACT_ROWS // 2**q)
    return [np.arange(start, min(start + per_block, len(group))) for start in range(0, len(group), per_block)]


def all_coalition_values(engine, group, ids):
    """Values ``(n_images, 2**q)`` of every coalition of each image's ``q`` parts, in
    :func:`~skpartx._engine.games.subset_matrix` order (evaluated block by block, each
    coalition once, outside the memo)."""
    q = ids.shape[1]
    subsets = _games.subset_matrix(q)
    values = np.empty((len(group), 2**q))
    for block in image_blocks(group, q):
        keep = coalitions_over(ids[block], subsets, engine.n_parts).reshape(-1, engine.n_parts)
        values[block] = engine.evaluate(np.repeat(group[block], 2**q), keep, memoise=False).reshape(len(block), -1)
    return values


def exact_group_shapley(engine, group, ids):
    """Exact Shapley values ``(n_images, q)`` of each image's parts, block by block (no
    table of all images' coalitions is held at once)."""
    phi = np.empty(ids.shape)
    for block in image_blocks(group, ids.shape[1]):
        phi[block] = _games.exact_shapley(all_coalition_values(engine, group[block], ids[block]))
    return phi


def local_pairs(touching, ids):
    """Pairs ``(k, 2)`` of positions in ``ids`` whose parts touch, from a part adjacency matrix."""
    local = touching[np.ix_(ids, ids)]
    return np.argwhere(np.triu(local, 1))


def budget_shapley(engine, group, ids, max_evals, approximator, rng):
    """Shapley values and standard errors ``(n_images, q)`` of each image's parts from at most
    ``max_evals`` coalitions each, by ``approximator`` (see :mod:`~skpartx._engine.approximators`).

    The plans of all images are evaluated in one request, so the engine batches them."""
    q = ids.shape[1]
    plans = [_approximators.plan(approximator, q, max_evals, rng) for _ in group]
    keep = np.concatenate([coalitions_over(ids[k : k + 1], p.coalitions, engine.n_parts)[0] for k, p in enumerate(plans)])
    values = engine.evaluate(np.repeat(group, [len(p.coalitions) for p in plans]), keep)
    touching = engine.touching_parts(group) if approximator == "adjusted" else None
    phi, se = np.empty((len(group), q)), np.empty((len(group), q))
    start = 0
    for k, plan in enumerate(plans):
        stop = start + len(plan.coalitions)
        pairs = local_pairs(touching[k], ids[k]) if touching is not None else None
        phi[k], se[k] = _approximators.estimate(plan, values[start:stop], pairs)
        start = stop
    return phi, se


def exact_pays(q, max_exact_parts, max_evals, n_samples=None):
    """Whether ``q`` parts get exact values: up to ``max_exact_parts``, or while all ``2**q``
    coalitions fit in ``max_evals`` (not for 0.2's ``n_samples`` permutations); ``max_exact_parts``
    as :func:`~skpartx._engine.approximators.exact_limit` reads it."""
    by_budget = n_samples is None and max_evals is not None and _approximators.exact_fits(q, max_evals)
    return q <= _approximators.exact_limit(max_exact_parts) or by_budget


def estimated_shapley(engine, group, ids, rng, *, max_evals, approximator="adjusted", n_samples=None):
    """Sampled Shapley values and standard errors ``(n_images, q)``: from ``n_samples``
    permutations when given (0.2's estimate: the permutation plan of the budget their
    antithetic pairs cost), else from ``max_evals`` coalitions by ``approximator``."""
    if n_samples is not None:
        q = ids.shape[1]
        max_evals, approximator = 2 * ((int(n_samples) + 1) // 2) * (q - 1) + 2, "permutation"
    return budget_shapley(engine, group, ids, max_evals, approximator, rng)


def shapley(engine, present, max_exact_parts, rng, *, max_evals, approximator="adjusted", n_samples=None):
    """Shapley values and standard errors ``(n_images, n_parts)`` of each image's present parts
    (zero elsewhere): exact where :func:`exact_pays`, estimated beyond (:func:`estimated_shapley`)."""
    scores = np.zeros(present.shape)
    errors = np.zeros(present.shape)
    for q, group, ids in groups_by_part_count(present):
        if exact_pays(q, max_exact_parts, max_evals, n_samples):
            phi = exact_group_shapley(engine, group, ids)
            se = np.zeros_like(phi)
        else:
            phi, se = estimated_shapley(engine, group, ids, rng, max_evals=max_evals, approximator=approximator,
                                        n_samples=n_samples)
        rows = group[:, None]
        scores[rows, ids] = phi
        errors[rows, ids] = se
    return scores, errors
