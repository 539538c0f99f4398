"""Minimal sufficient explanations (MSX) by beam search, as in SAG and GEPC.

A set S of parts is *sufficient* for an image when the model's softmax probability of
the explained class with only S kept reaches ``tau`` × its probability on the full image,
and *minimal* when no member can be dropped without losing sufficiency. Sufficiency is
judged on probabilities whatever value the attribution reports: ``tau`` × a negative
logit lies *above* the logit, so a threshold on logits would call the full image itself
insufficient.

The search grows sets from a few roots (the parts that score best alone), keeps the
``beam_width`` most valuable sets per root at each size, records every sufficient set it
meets and prunes those greedily to 1-minimality (no single member can be dropped). The
model's value need not grow with the parts kept, so a set pruned that way may still
contain a smaller sufficient set found elsewhere; such supersets are removed, as are
duplicates. All images' searches advance together: one engine call per step.
"""

import numpy as np

# Every value of the search is the explained class's probability (see the module docstring).
_VALUE = "probability"


def _keep_rows(sets, n_parts):
    """Boolean keep vectors of a list of part-id tuples."""
    keep = np.zeros((len(sets), n_parts), dtype=bool)
    for row, ids in enumerate(sets):
        keep[row, list(ids)] = True
    return keep


def _evaluate_sets(engine, requests, n_parts):
    """Values of ``(image, part-id tuple)`` requests in one engine call."""
    if not requests:
        return np.zeros(0)
    images = np.array([i for i, _ in requests], dtype=np.int64)
    return engine.evaluate(images, _keep_rows([s for _, s in requests], n_parts), output=_VALUE)


def search_msx(engine, present, tau, beam_width=3, max_roots=3, max_successors=6):
    """Minimal sufficient explanations of every image of an engine.

    Parameters
    ----------
    engine : CoalitionEngine
    present : bool ndarray (n_images, n_parts)
        Parts each image shows.
    tau : float in (0, 1]
        Sufficiency threshold relative to the full image's probability of the explained class.
    beam_width : int
        Sets kept per root and size.
    max_roots : int
        Searches started per image, from the parts with the highest value alone.
    max_successors : int
        Parts tried as extensions of each set in the beam: those with the highest value
        alone that the set does not contain yet (the cheap ranking heuristic).

    Returns
    -------
    msx : list of list of tuple of int
        Per image, its MSXs as sorted part-id tuples, smallest first (then by part ids).
        At least one: the empty tuple, alone, when the baseline alone is sufficient; when
        no smaller set is found, all the image's parts, pruned. No listed MSX contains
        another.
    """
    n, n_parts = present.shape
    full, empty = engine.full_and_empty(output=_VALUE)
    threshold = tau * full
    # When the baseline alone keeps the value, no part is needed: the MSX is the empty set.
    needs_parts = empty < threshold
    image_idx, part_idx = np.nonzero(present & needs_parts[:, None])
    alone = np.full((n, n_parts), -np.inf)
    alone[image_idx, part_idx] = engine.evaluate(image_idx, np.eye(n_parts, dtype=bool)[part_idx], output=_VALUE)
    ranking = [[p for p in np.argsort(-alone[i], kind="stable") if present[i, p]] for i in range(n)]

    found = [set() if needs_parts[i] else {()} for i in range(n)]
    beams = {}
    for i in np.flatnonzero(needs_parts):
        for root in ranking[i][:max_roots]:
            if alone[i, root] >= threshold[i]:
                found[i].add((root,))
            else:
                beams[(i, root)] = [(root,)]

    while beams:
        candidates = {}
        for (i, root), sets in beams.items():
            for s in sets:
                extensions = [p for p in ranking[i] if p not in s][:max_successors]
                for p in extensions:
                    candidates.setdefault((i, root), set()).add(tuple(sorted(s + (p,))))
        requests = [(i, s) for (i, root), sets in candidates.items() for s in sorted(sets)]
        values = dict(zip(requests, _evaluate_sets(engine, requests, n_parts)))
        beams = {}
        for (i, root), sets in candidates.items():
            scored = sorted(sets, key=lambda s: -values[(i, s)])
            sufficient = [s for s in scored if values[(i, s)] >= threshold[i]]
            if sufficient:
                found[i].update(sufficient)
            elif scored and len(scored[0]) < present[i].sum():
                beams[(i, root)] = scored[:beam_width]

    for i in range(n):
        if not found[i]:  # nothing smaller suffices: start from all parts
            found[i].add(tuple(np.flatnonzero(present[i]).tolist()))
    return _prune(engine, found, threshold, alone, n_parts)


def _without_supersets(sets):
    """``sets`` less every set that strictly contains another of them, smallest first."""
    ordered = sorted(set(sets), key=lambda s: (len(s), s))
    kept = []
    for s in ordered:
        if not any(set(k) < set(s) for k in kept):
            kept.append(s)
    return kept


def _prune(engine, found, threshold, alone, n_parts):
    """Greedily drop members (weakest alone first) while the set stays sufficient; then
    remove duplicates and supersets of other found sets."""
    pending = [(i, s, 0) for i in range(len(found)) for s in sorted(found[i]) if s]
    done = [{s for s in sets if not s} for sets in found]
    while pending:
        # Each pending set tries to drop its member at position `k` of its weakest-first order.
        trials = []
        for i, s, k in pending:
            order = sorted(s, key=lambda p: alone[i, p])
            trials.append((i, tuple(sorted(set(s) - {order[k]}))))
        values = _evaluate_sets(engine, [(i, t) for i, t in trials if t], n_parts)
        value_of = iter(values)
        next_pending = []
        for (i, s, k), (_, trial) in zip(pending, trials):
            sufficient = bool(trial) and next(value_of) >= threshold[i]
            if sufficient:
                s, k = trial, 0  # dropped one member: try all again from the weakest
            else:
                k += 1
            if k >= len(s):
                done[i].add(s)
            else:
                next_pending.append((i, s, k))
        pending = next_pending
    return [_without_supersets(sets) for sets in done]
