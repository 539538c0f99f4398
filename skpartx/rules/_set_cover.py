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


def close_conjunction(symbols, rows, conjunction, weights, tolerance, max_length):
    """The conjunction with every further symbol that is true on nearly all of ``rows``.

    Symbols are added most frequent first while the rows the extended conjunction loses
    weigh at most ``tolerance`` of ``rows`` and it has at most ``max_length`` symbols: an
    approximately closed conjunction (a closed itemset, with a tolerance). A set-cover pick
    is the most general conjunction; when a model needs two parts together, both carry its
    decision on almost every image, yet the first alone fires as often. Closing the pick
    names every part that carries the decision on the images it covers.

    Parameters
    ----------
    symbols : bool ndarray (n, n_symbols)
    rows : bool ndarray (n,)
        The rows the conjunction describes (its class's rows it fires on).
    conjunction : tuple of int
    weights : ndarray (n,)
    tolerance : float
        Most share of the weight of ``rows`` the closed conjunction may not fire on.
    max_length : int

    Returns
    -------
    conjunction : tuple of int
        Sorted; ``conjunction`` itself when no symbol qualifies.
    """
    total = float(weights[rows].sum())
    if tolerance <= 0 or total <= 0:
        return tuple(conjunction)
    closed, kept = list(conjunction), rows.copy()
    share = symbols[rows].T.astype(np.float64) @ weights[rows] / total
    for symbol in np.argsort(-share, kind="stable"):
        if len(closed) >= max_length:
            break
        if symbol in closed:
            continue
        narrower = kept & symbols[:, symbol]
        if weights[rows & ~narrower].sum() > tolerance * total + 1e-12:
            break
        closed.append(int(symbol))
        kept = narrower
    return tuple(sorted(closed))


def greedy_cover(symbols, positive, candidates, max_rules, min_precision, min_coverage, weights=None, *,
                 closure=0.0, max_length=None):
    """Pick conjunctions that cover the positive rows (METHODS.md, GEPC step 6).

    Each pick is the admissible conjunction that fires on the most still-uncovered
    positive rows; ties go to the shorter conjunction, then to the more precise one,
    then to the first in ``candidates``. With ``closure``, a pick is then closed
    (:func:`close_conjunction`) when the closed conjunction is still admissible and still
    covers all but ``closure`` of the rows the pick newly covers; the few rows it leaves
    count as covered, so that no rule is spent on them.

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
    closure : float, default=0.0
        Tolerance of the closure of each pick (0: picks stay as chosen).
    max_length : int, default=None
        Most symbols in a closed pick (None: the longest candidate's length).

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
        picks.append(closed_pick(symbols, positive, fired[best] & uncovered, weights, candidates[best], fired[best],
                                 float(precision[best]), closure, max_length or int(lengths.max()), min_precision))
        uncovered &= ~fired[best]
        admissible[best] = False
    return picks


def closed_pick(symbols, positive, gained, weights, conjunction, fired, precision, closure, max_length, min_precision):
    """``(conjunction, fired_rows, precision)`` of a pick, closed when that keeps it admissible
    and keeps all but ``closure`` of the rows it was picked to cover (``gained``): a later pick
    closed over all its class's rows could take on an earlier pick's symbols and cover nothing new."""
    closed = close_conjunction(symbols, fired & positive, conjunction, weights, closure, max_length)
    if closed == tuple(conjunction):
        return conjunction, fired, precision
    narrower = fires(symbols, closed)
    if weights[gained & ~narrower].sum() > closure * weights[gained].sum() + 1e-12:
        return conjunction, fired, precision
    firing = float(weights[narrower].sum())
    closed_precision = float(weights[narrower & positive].sum()) / firing
    if closed_precision < min_precision - 1e-12:
        return conjunction, fired, precision
    return closed, narrower, closed_precision


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
              min_precision, min_coverage, closure=0.0, as_decision_list=False):
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
    closure : float, default=0.0
        Tolerance of the closure of each pick (:func:`close_conjunction`); MSX symbols are
        each an image's own conjunction and are not closed.
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
    closing = dict(closure=0.0 if msx else closure, max_length=max_length)
    if as_decision_list:
        return decision_list(symbols, y_index, per_class, weights, max_rules, min_precision, min_coverage, **closing)
    picks = []
    for k, own in enumerate(per_class):
        chosen = greedy_cover(symbols, y_index == k, own, max_rules, min_precision, min_coverage, weights, **closing)
        picks += [(k, conjunction) for conjunction, _, _ in drop_subsumed(chosen, weights)]
    return picks


def decision_list(symbols, y_index, candidates, weights, max_rules, min_precision, min_coverage, *, closure=0.0,
                  max_length=None):
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
    closure, max_length
        Closure of each pick (:func:`greedy_cover`).

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
                weights[remaining], closure=closure, max_length=max_length,
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
