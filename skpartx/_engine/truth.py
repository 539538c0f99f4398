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
from .shapley import all_coalition_values, groups_by_part_count, shapley


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
    values, _ = shapley(engine, engine.present, max_exact_parts, n_samples, np.random.RandomState(random_state))
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
