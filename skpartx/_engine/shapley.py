"""Shapley values of each image's parts, asked of the coalition engine: exact over all
coalitions up to a number of parts, permutation-sampled beyond. Shared by the attribution,
interaction and counterfactual explanations; :mod:`skpartx._engine.games` does the arithmetic."""

import numpy as np

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


def all_coalition_values(engine, group, ids):
    """Values ``(n_images, 2**q)`` of every coalition of each image's ``q`` parts, in
    :func:`~skpartx._engine.games.subset_matrix` order."""
    keep = coalitions_over(ids, _games.subset_matrix(ids.shape[1]), engine.n_parts)
    return engine.evaluate(np.repeat(group, keep.shape[1]), keep.reshape(-1, engine.n_parts)).reshape(len(group), -1)


def sampled_shapley(engine, group, ids, n_samples, rng):
    """Permutation-sampled Shapley values and standard errors ``(n_images, q)`` of each image's parts."""
    q = ids.shape[1]
    phi, se = np.empty((len(group), q)), np.empty((len(group), q))
    plans = [_games.permutation_coalitions(q, n_samples, rng) for _ in group]
    keep = np.concatenate(
        [coalitions_over(ids[k : k + 1], c.reshape(-1, q), engine.n_parts) for k, (_, c) in enumerate(plans)]
    )
    values = engine.evaluate(np.repeat(group, keep.shape[1]), keep.reshape(-1, engine.n_parts))
    values = values.reshape(len(group), -1, q + 1)
    for k, (orders, _) in enumerate(plans):
        phi[k], se[k] = _games.permutation_shapley(orders, values[k])
    return phi, se


def shapley(engine, present, max_exact_parts, n_samples, rng):
    """Shapley values and standard errors ``(n_images, n_parts)`` of each image's present parts:
    exact up to ``max_exact_parts`` parts, ``n_samples`` permutations beyond (zero elsewhere)."""
    scores = np.zeros(present.shape)
    errors = np.zeros(present.shape)
    for q, group, ids in groups_by_part_count(present):
        if q <= max_exact_parts:
            phi = _games.exact_shapley(all_coalition_values(engine, group, ids))
            se = np.zeros_like(phi)
        else:
            phi, se = sampled_shapley(engine, group, ids, n_samples, rng)
        rows = group[:, None]
        scores[rows, ids] = phi
        errors[rows, ids] = se
    return scores, errors
