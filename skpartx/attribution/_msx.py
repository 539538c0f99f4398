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

With a budget (``max_evals`` per image) the search stops extending an image's sets once
the budget is spent, and pruning stops there too: the sets found stay sufficient but may
not be minimal, and an image whose search found nothing keeps all its parts. Such images
are reported.
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


class _Budget:
    """Model evaluations left per image of an engine: all it spent on the image count (the
    full image's forward pass of the decision too)."""

    def __init__(self, engine, max_evals):
        self.engine, self.max_evals = engine, max_evals
        self.exhausted = np.zeros(len(engine.evaluations), dtype=bool)

    def left(self, i):
        if self.max_evals is None:
            return np.inf
        return self.max_evals - int(self.engine.evaluations[i])

    def take(self, i, requests):
        """The first of ``requests`` that fit in image ``i``'s budget (each counted as new)."""
        room = self.left(i)
        if len(requests) > room:
            self.exhausted[i] = True
            return requests[: max(int(room), 0)]
        return requests


def _extensions(beams, ranking, max_successors):
    """Each beam's sets, each extended by its ``max_successors`` best-ranked missing parts, in
    order of promise (beam order, then extension rank), so that a budget keeps the best."""
    candidates = {}
    for (i, root), sets in beams.items():
        ordered = candidates.setdefault((i, root), [])
        for s in sets:
            for p in [p for p in ranking[i] if p not in s][:max_successors]:
                extended = tuple(sorted(s + (p,)))
                if extended not in ordered:
                    ordered.append(extended)
    return candidates


def search_msx(engine, present, tau, beam_width=3, max_roots=3, max_successors=6, max_evals=None):
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
    max_evals : int or None
        Model evaluations per image; the full and empty images and each part alone
        (``P + 2``) are always evaluated.

    Returns
    -------
    msx : list of list of tuple of int
        Per image, its MSXs as sorted part-id tuples, smallest first (then by part ids).
        At least one: the empty tuple, alone, when the baseline alone is sufficient; when
        no smaller set is found, all the image's parts, pruned. No listed MSX contains
        another.
    stopped : ndarray of shape (n_images,), bool
        The budget ran out before the search found a sufficient set smaller than all
        parts, or before pruning ended (the sets are sufficient, maybe not minimal).
    """
    n, n_parts = present.shape
    budget = _Budget(engine, max_evals)
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
        candidates = _extensions(beams, ranking, max_successors)
        requests = []
        for i in sorted({i for i, _ in candidates}):
            wanted = [(i, s) for (j, root), sets in candidates.items() if j == i for s in sets]
            requests += budget.take(i, list(dict.fromkeys(wanted)))
        values = dict(zip(requests, _evaluate_sets(engine, requests, n_parts)))
        beams = {}
        for (i, root), sets in candidates.items():
            scored = sorted([s for s in sets if (i, s) in values], key=lambda s: -values[(i, s)])
            sufficient = [s for s in scored if values[(i, s)] >= threshold[i]]
            if sufficient:
                found[i].update(sufficient)
            elif scored and len(scored[0]) < present[i].sum() and not budget.exhausted[i]:
                beams[(i, root)] = scored[:beam_width]

    stopped = np.array([budget.exhausted[i] and not found[i] for i in range(n)], dtype=bool)
    for i in range(n):
        if not found[i]:  # nothing smaller suffices: start from all parts
            found[i].add(tuple(np.flatnonzero(present[i]).tolist()))
    msx = _prune(engine, found, threshold, alone, n_parts, budget)
    return msx, stopped | budget.exhausted


def _without_supersets(sets):
    """``sets`` less every set that strictly contains another of them, smallest first."""
    ordered = sorted(set(sets), key=lambda s: (len(s), s))
    kept = []
    for s in ordered:
        if not any(set(k) < set(s) for k in kept):
            kept.append(s)
    return kept


def _prune(engine, found, threshold, alone, n_parts, budget):
    """Greedily drop members (weakest alone first) while the set stays sufficient and the
    image's budget lasts; then remove duplicates and supersets of other found sets."""
    pending = [(i, s, 0) for i in range(len(found)) for s in sorted(found[i]) if s]
    done = [{s for s in sets if not s} for sets in found]
    while pending:
        # Each pending set tries to drop its member at position `k` of its weakest-first order.
        trials, room = [], {}
        for i, s, k in pending:
            order = sorted(s, key=lambda p: alone[i, p])
            room.setdefault(i, budget.left(i))
            if room[i] < 1:  # spent: the set stays as it is (sufficient, maybe not minimal)
                budget.exhausted[i] = True
                trials.append((i, None))
                continue
            room[i] -= 1
            trials.append((i, tuple(sorted(set(s) - {order[k]}))))
        values = _evaluate_sets(engine, [(i, t) for i, t in trials if t], n_parts)
        value_of = iter(values)
        next_pending = []
        for (i, s, k), (_, trial) in zip(pending, trials):
            if trial is None:
                done[i].add(s)
                continue
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
