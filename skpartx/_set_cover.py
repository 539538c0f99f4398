"""Greedy set cover over conjunctions of binary symbols (GEPC's global rule learner)."""

from collections import Counter
from itertools import combinations

import numpy as np


def observed_sets(symbols, max_length, min_support=1):
    """Explanation sets (tuples of symbol indices) that are some rows' whole set of true symbols.

    GEPC's candidates: each local explanation, read as a conjunction, is a possible rule.
    Sets longer than ``max_length`` or seen in fewer than ``min_support`` rows are dropped.
    """
    counts = Counter(tuple(np.flatnonzero(row).tolist()) for row in symbols)
    return [s for s, count in counts.items() if 0 < len(s) <= max_length and count >= min_support]


def all_subsets(symbols, max_length, min_support=1):
    """Every conjunction of up to ``max_length`` symbols true together in ``min_support`` rows."""
    counts = Counter()
    for row in symbols:
        on = np.flatnonzero(row).tolist()
        for length in range(1, min(max_length, len(on)) + 1):
            counts.update(combinations(on, length))
    return [combo for combo, count in counts.items() if count >= min_support]


def fires(symbols, conjunction):
    """Rows in which every symbol of the conjunction is true."""
    return symbols[:, list(conjunction)].all(axis=1)


def greedy_cover(symbols, positive, candidates, max_rules, min_precision, min_coverage, gain="covered"):
    """Pick conjunctions that cover the positive rows.

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
    gain : {"covered", "exact"}
        What a pick maximises among the still uncovered positive rows: ``"covered"``,
        the rows it fires on (classic set cover); ``"exact"``, the rows whose whole
        explanation set it is (GEPC: the most common local explanation first). Either
        way a pick then covers every row it fires on.

    Returns
    -------
    picks : list of (conjunction, fired_rows)
        In pick order. Ties go to the shorter conjunction, then to the more precise one.
    """
    n_positive = int(positive.sum())
    if n_positive == 0 or not candidates:
        return []
    fired = np.stack([fires(symbols, c) for c in candidates])
    if gain == "exact":
        sizes = symbols.sum(axis=1)
        counted = fired & (sizes[None, :] == np.array([len(c) for c in candidates])[:, None])
    elif gain == "covered":
        counted = fired
    else:
        raise ValueError(f"gain must be 'covered' or 'exact', got {gain!r}.")
    hits = (fired & positive).sum(axis=1)
    precision = hits / np.maximum(fired.sum(axis=1), 1)
    admissible = precision >= min_precision
    lengths = np.array([len(c) for c in candidates])
    uncovered = positive.copy()
    picks = []
    while len(picks) < max_rules and (n_positive - uncovered.sum()) / n_positive < min_coverage:
        score = np.where(admissible, (counted & uncovered).sum(axis=1), 0)
        if score.max() == 0:
            break
        best = np.lexsort((-precision, lengths, -score))[0]
        picks.append((candidates[best], fired[best]))
        uncovered &= ~fired[best]
        admissible[best] = False
    return picks
