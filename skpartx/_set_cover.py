"""Greedy set cover over conjunctions of binary symbols (GEPC's global rule learner): each
class's candidates and cover, the ordered decision list across classes, and the default class."""

from collections import Counter
from itertools import combinations

import numpy as np


def observed_sets(symbols, max_length, min_support=1, weights=None):
    """Explanation sets (tuples of symbol indices) that are some rows' whole set of true symbols.

    GEPC's candidates: each local explanation, read as a conjunction, is a possible rule.
    Sets longer than ``max_length`` or with less than ``min_support`` total row weight are
    dropped. Returned in sorted order, so that ties never depend on the order of rows.
    """
    weights = np.ones(len(symbols)) if weights is None else weights
    counts = Counter()
    for row, weight in zip(symbols, weights):
        if weight > 0:
            counts[tuple(np.flatnonzero(row).tolist())] += weight
    return sorted(s for s, count in counts.items() if 0 < len(s) <= max_length and count >= min_support)


def all_subsets(symbols, max_length, min_support=1, weights=None):
    """Every conjunction of up to ``max_length`` symbols true together in rows of total weight
    ``min_support`` or more (sorted)."""
    weights = np.ones(len(symbols)) if weights is None else weights
    counts = Counter()
    for row, weight in zip(symbols, weights):
        if weight <= 0:
            continue
        on = np.flatnonzero(row).tolist()
        for length in range(1, min(max_length, len(on)) + 1):
            for combo in combinations(on, length):
                counts[combo] += weight
    return sorted(combo for combo, count in counts.items() if count >= min_support)


def fires(symbols, conjunction):
    """Rows in which every symbol of the conjunction is true."""
    return symbols[:, list(conjunction)].all(axis=1)


def greedy_cover(symbols, positive, candidates, max_rules, min_precision, min_coverage, weights=None):
    """Pick conjunctions that cover the positive rows (METHODS.md, GEPC step 6).

    Each pick is the admissible conjunction that fires on the most still-uncovered
    positive rows; ties go to the shorter conjunction, then to the more precise one,
    then to the first in ``candidates``.

    Parameters
    ----------
    symbols : bool ndarray (n, n_symbols)
    positive : bool ndarray (n,)
        Rows of the class to cover.
    candidates : list of tuple of int
    max_rules : int
    min_precision : float
        A conjunction is admissible when at least this share of the rows it fires on
        (all symbols true) are positive.
    min_coverage : float
        Stop once this share of the positive rows is covered.
    weights : ndarray (n,), optional
        Row weights; every count (gain, precision, coverage) is a weighted sum, so integer
        weights act like repeated rows.

    Returns
    -------
    picks : list of (conjunction, fired_rows, precision)
        In pick order.
    """
    weights = np.ones(len(symbols)) if weights is None else np.asarray(weights, dtype=np.float64)
    n_positive = float(weights[positive].sum())
    if n_positive == 0 or not candidates:
        return []
    fired = np.stack([fires(symbols, c) for c in candidates])
    hits = (fired & positive) @ weights
    firing = fired @ weights
    precision = np.where(firing > 0, hits / np.where(firing > 0, firing, 1), 0.0)
    admissible = precision >= min_precision - 1e-12
    lengths = np.array([len(c) for c in candidates])
    uncovered = positive.copy()
    picks = []
    # A tolerance keeps float sums of weights from tipping comparisons.
    while len(picks) < max_rules and (n_positive - weights[uncovered].sum()) / n_positive < min_coverage - 1e-12:
        score = np.where(admissible, (fired & uncovered) @ weights, 0.0)
        if score.max() <= 1e-12:
            break
        # Candidates come sorted, so the stable lexsort breaks remaining ties by symbol order.
        best = np.lexsort((-precision, lengths, -np.round(score, 9)))[0]
        picks.append((candidates[best], fired[best], float(precision[best])))
        uncovered &= ~fired[best]
        admissible[best] = False
    return picks


def drop_subsumed(picks, weights=None):
    """Picks of one class without those another pick subsumes.

    A pick is dropped when another kept pick fires on every row it fires on (it is at
    least as general) with at least its precision: it adds nothing the other does not
    say. Of two picks that fire on the same rows with equal precision, the earlier stays.

    Parameters
    ----------
    picks : list of (conjunction, fired_rows, precision)
        From :func:`greedy_cover`, in pick order.
    weights : ndarray (n,), optional
        Rows of zero weight are ignored.

    Returns
    -------
    picks : list of (conjunction, fired_rows, precision)
        The kept picks, in their order.
    """
    live = np.ones(len(picks[0][1]), dtype=bool) if picks and weights is None else np.asarray(weights) > 0
    rows = [fired & live for _, fired, _ in picks]
    precision = [p for _, _, p in picks]

    def subsumes(a, b):
        return not (rows[b] & ~rows[a]).any() and precision[a] >= precision[b] - 1e-12

    kept = list(range(len(picks)))
    for b in range(len(picks)):
        # of two equivalent picks, each subsumes the other: only the later one goes
        if any(a != b and subsumes(a, b) and not (a > b and subsumes(b, a)) for a in kept):
            kept.remove(b)
    return [picks[k] for k in kept]


def class_candidates(symbols, positive, weights, *, msx, candidates, max_length, min_support):
    """Set-cover candidates of one class (sorted tuples of symbol indices).

    Parameters
    ----------
    symbols : bool ndarray (n, n_symbols)
    positive : bool ndarray (n,)
        Rows of the class.
    weights : ndarray (n,)
    msx : bool
        Whether the symbols are MSX sets: each symbol is then one conjunction of parts
        and its own candidate.
    candidates : {"observed", "subsets"}
        Otherwise, the rows' whole symbol sets (:func:`observed_sets`) or every
        conjunction within them (:func:`all_subsets`).
    max_length : int
    min_support : float
        Least total weight of the class's rows a candidate must fire on.

    Returns
    -------
    candidates : list of tuple of int
    """
    if msx:
        support = symbols[positive].T.astype(np.float64) @ weights[positive]
        return [(j,) for j in np.flatnonzero(support >= min_support - 1e-12)]
    mine = observed_sets if candidates == "observed" else all_subsets
    return mine(symbols[positive], max_length, min_support, weights[positive])


def set_cover(symbols, y_index, weights, *, n_classes, msx, candidates, max_length, min_support, max_rules,
              min_precision, min_coverage, as_decision_list=False):
    """GEPC's set cover of every class: the picks ``[(class index, symbol indices)]``.

    Parameters
    ----------
    symbols : bool ndarray (n, n_symbols)
    y_index : int ndarray (n,)
        Class index of each row.
    weights : ndarray (n,)
    n_classes : int
    msx, candidates, max_length, min_support
        The candidates of each class (:func:`class_candidates`).
    max_rules, min_precision, min_coverage
        Of each class's cover (:func:`greedy_cover`).
    as_decision_list : bool, default=False
        One ordered list across classes (:func:`decision_list`) rather than each class's
        own picks, grouped by class, without those another pick subsumes.

    Returns
    -------
    picks : list of (int, tuple of int)
    """
    per_class = [
        class_candidates(symbols, y_index == k, weights, msx=msx, candidates=candidates, max_length=max_length,
                         min_support=min_support)
        for k in range(n_classes)
    ]
    if as_decision_list:
        return decision_list(symbols, y_index, per_class, weights, max_rules, min_precision, min_coverage)
    picks = []
    for k, own in enumerate(per_class):
        chosen = greedy_cover(symbols, y_index == k, own, max_rules, min_precision, min_coverage, weights)
        picks += [(k, conjunction) for conjunction, _, _ in drop_subsumed(chosen, weights)]
    return picks


def decision_list(symbols, y_index, candidates, weights, max_rules, min_precision, min_coverage):
    """Greedy ordered list ``[(class index, symbol indices)]`` across classes.

    Each step takes the best admissible rule of any class on the rows that earlier rules
    leave, judged on those rows only: the one that fires on the most of its class's rows
    there (ties: the class listed first). A class gets at most ``max_rules`` rules; the
    list stops once ``min_coverage`` of the row weight is decided.

    Parameters
    ----------
    symbols : bool ndarray (n, n_symbols)
    y_index : int ndarray (n,)
    candidates : list of list of tuple of int
        Each class's candidates (:func:`class_candidates`).
    weights : ndarray (n,)
    max_rules : int
    min_precision, min_coverage : float

    Returns
    -------
    picks : list of (int, tuple of int)
    """
    remaining = weights > 0
    total = weights.sum()
    per_class = np.zeros(len(candidates), dtype=int)
    picks = []
    while remaining.any() and 1 - weights[remaining].sum() / total < min_coverage - 1e-12:
        best = None
        for k, own in enumerate(candidates):
            if per_class[k] >= max_rules or not own:
                continue
            chosen = greedy_cover(
                symbols[remaining], y_index[remaining] == k, own, 1, min_precision, 1.0,
                weights[remaining],
            )
            if not chosen:
                continue
            conjunction, fired, _ = chosen[0]
            score = float(weights[remaining][fired & (y_index[remaining] == k)].sum())
            if best is None or score > best[0] + 1e-12:
                best = (score, k, conjunction)
        if best is None:
            break
        _, k, conjunction = best
        picks.append((k, conjunction))
        per_class[k] += 1
        remaining &= ~fires(symbols, conjunction)
    return picks


def uncovered_majority(firing, y_index, weights, n_classes):
    """Set cover's default class index: the most frequent (by weight) among the rows no rule
    fires on, or among all rows when every row is covered."""
    uncovered = ~firing.any(axis=1) & (weights > 0)
    pool = uncovered if uncovered.any() else np.ones(len(y_index), dtype=bool)
    return int(np.bincount(y_index[pool], weights=weights[pool], minlength=n_classes).argmax())
