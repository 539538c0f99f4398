"""Interventional truth: what a model does when parts are truly absent from a scene.

A world of part-composed objects (:func:`skpartx.datasets.sample_world`) draws its scenes again
without any parts, so the model's value v*(S) of a coalition S is known: the scene drawn with
only S, not an image with the rest painted over. With it come the true part Shapley values
and the true minimal sufficient sets, against which every baseline's values are measured. The
composites go through the coalition engine, with its batching and memoisation.
"""


import numpy as np

from .._core.torch_utils import predict_logits, prepare_module, resolve_device
from . import games as _games
from .coalitions import CoalitionEngine
from .shapley import all_coalition_values, coalitions_over, groups_by_part_count, shapley


def interventional_engine(model, world, scenes, target=None, *, output="probability", device="auto",
                          batch_size=None):
    """A coalition engine whose composites are ``world``'s scenes drawn without the removed parts.

    Parameters
    ----------
    model : torch.nn.Module
    world : PartWorld
        Anything with ``render(scenes, keep) -> (images, masks)`` and ``part_names``.
    scenes : Scenes
    target : int or array-like of shape (n_images,), default=None
        Class whose value is measured per image; default: the model's class on the scene.
    output : {"probability", "logit"}, default="probability"
    device : str or torch.device, default="auto"
    batch_size : int, default=None

    Returns
    -------
    engine : CoalitionEngine
        ``engine.evaluate(image_idx, keep)`` gives v*(S); ``engine.present`` holds the parts
        each drawn image shows.
    """
    device = resolve_device(device)
    images, masks = world.render(scenes)
    logits = predict_logits(model, images, batch_size=batch_size, device=device)
    targets = logits.argmax(axis=1) if target is None else np.array(
        np.broadcast_to(np.asarray(target, dtype=np.int64), (len(images),)))
    engine = CoalitionEngine(
        prepare_module(model, device), images, masks, targets, len(world.part_names), device=device,
        batch_size=batch_size, output=output, draw=lambda idx, keep: world.render(scenes[idx], keep)[0],
    )
    engine.memoise_full(logits)
    return engine


def interventional_values(model, world, scenes, keep, target=None, *, output="probability", device="auto",
                          batch_size=None):
    """The model's value v*(S) of each scene drawn with only the parts ``keep`` holds.

    Parameters
    ----------
    model, world, scenes, target, output, device, batch_size
        As in :func:`interventional_engine`.
    keep : array-like of bool, shape (n_images, n_parts)

    Returns
    -------
    values : ndarray of shape (n_images,)
    """
    engine = interventional_engine(model, world, scenes, target, output=output, device=device, batch_size=batch_size)
    return engine.evaluate(np.arange(len(engine)), np.asarray(keep, dtype=bool))


def interventional_shapley(model, world, scenes, target=None, *, output="probability", max_exact_parts=12,
                           n_samples=256, random_state=None, device="auto", batch_size=None):
    """True part Shapley values: the Shapley values of the game v*(S) of each scene.

    Exact over all coalitions of an image's parts up to ``max_exact_parts`` parts (each
    coalition one drawing of the scene), ``n_samples`` antithetic permutations beyond.

    Returns
    -------
    values : ndarray of shape (n_images, n_parts)
        Zero for parts an image does not show; per image they add up to v*(all) − v*(none).
    """
    engine = interventional_engine(model, world, scenes, target, output=output, device=device, batch_size=batch_size)
    # Antithetic permutations: unbiased, so a large n_samples makes a truth with no bias of its own.
    values, _ = shapley(engine, engine.present, max_exact_parts, np.random.RandomState(random_state), max_evals=None,
                        n_samples=n_samples)
    return values


def interventional_msx(model, world, scenes, target=None, *, tau=0.9, max_parts=12, device="auto",
                       batch_size=None):
    """True minimal sufficient sets of parts, from every coalition's value v*(S).

    A set S of an image's parts is sufficient when the model's probability of the class,
    with only S drawn, reaches ``tau`` × its probability on the whole scene; it is minimal
    when no proper subset is sufficient (checked against every subset, not only those one
    part smaller).

    Returns
    -------
    msx : list of list of tuple of int
        Per image its minimal sufficient sets of part ids, smallest first; ``[()]`` when the
        scene without any part is sufficient.
    """
    engine = interventional_engine(model, world, scenes, target, output="probability", device=device,
                                   batch_size=batch_size)
    found = [[] for _ in range(len(engine))]
    for q, group, ids in groups_by_part_count(engine.present):
        if q > max_parts:
            raise ValueError(f"an image shows {q} parts; the true MSXs of more than max_parts={max_parts} parts "
                             "would draw it 2**q times.")
        values = all_coalition_values(engine, group, ids)
        subsets = _games.subset_matrix(q).astype(bool)
        for row, image in enumerate(group):
            sufficient = values[row] >= tau * values[row, -1]
            found[image] = _minimal_sets(subsets, sufficient, ids[row])
    return found


def _minimal_sets(subsets, sufficient, ids):
    """Sufficient subsets none of whose proper subsets is sufficient, as tuples of part ids."""
    members = [frozenset(np.flatnonzero(row).tolist()) for row in subsets]
    chosen = [m for m, ok in zip(members, sufficient) if ok]
    minimal = [m for m in chosen if not any(other < m for other in chosen)]
    return sorted((tuple(sorted(int(ids[k]) for k in m)) for m in minimal), key=lambda t: (len(t), t))


def agreement_with_truth(engine, truth, *, max_parts=12, min_parts=3):
    """How well an engine's values of coalitions agree with the interventional ones, per image.

    Both engines must value the same images, parts and classes (e.g. an attributor's
    ``coalition_engine(X, target)`` on a world's images and :func:`interventional_engine` on
    its scenes). The background is always drawn in a world, so coalitions are compared with
    the background kept, over the object's parts.

    Parameters
    ----------
    engine : CoalitionEngine
        Removes parts its own way (a baseline).
    truth : CoalitionEngine
        Draws the scenes without the removed parts.
    max_parts : int, default=12
        Images with more object parts are skipped (their values are NaN): every coalition of
        an image's parts is drawn.
    min_parts : int, default=3
        Least number of object parts for a rank correlation.

    Returns
    -------
    agreement : dict of ndarray of shape (n_images,)
        ``value_error``: mean absolute difference of v(S) and v*(S) over every coalition S of
        the image's object parts; ``spearman``: Spearman correlation of the engine's Shapley
        values of the object parts with the interventional ones (NaN with fewer than
        ``min_parts`` parts, or where either is constant); ``n_parts``.
    """
    from scipy.stats import spearmanr

    present = truth.present.copy()
    if engine.present.shape != present.shape or not np.array_equal(engine.present, present):
        raise ValueError("the engine and the truth must value the same images with the same parts.")
    present[:, 0] = False  # the background: kept in every coalition
    n = len(truth)
    error, rho = np.full(n, np.nan), np.full(n, np.nan)
    for q, group, ids in groups_by_part_count(present):
        if q > max_parts:
            continue
        keep = coalitions_over(ids, _games.subset_matrix(q), truth.n_parts)
        keep[:, :, 0] = truth.present[group, 0][:, None]
        requests = np.repeat(group, 2**q), keep.reshape(-1, truth.n_parts)
        values = engine.evaluate(*requests).reshape(len(group), -1)
        true_values = truth.evaluate(*requests).reshape(len(group), -1)
        error[group] = np.abs(values - true_values).mean(axis=1)
        if q >= min_parts:
            phi, true_phi = _games.exact_shapley(values), _games.exact_shapley(true_values)
            for row, image in enumerate(group):
                if np.ptp(phi[row]) > 0 and np.ptp(true_phi[row]) > 0:
                    rho[image] = spearmanr(phi[row], true_phi[row]).statistic
    return {"value_error": error, "spearman": rho, "n_parts": present.sum(axis=1)}
