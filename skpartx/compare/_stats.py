"""Bootstrap statistics of a comparison: part-importance shifts and rule differences.

Pure numpy on per-image tables, so the statistics can be checked without any model.
Resampling uses multinomial counts (each bootstrap sample is a vector of how often each
image is drawn), which turns every resampled mean into one matrix product, in blocks of
resamples that bound the memory.

Shifts of part importance are tested as a family over classes × parts: the intervals are
simultaneous bootstrap max-t intervals (the ``1 - alpha`` quantile of the largest
standardised deviation over all tested cells, as in Romano & Wolf's step-down methods'
first step), so the probability that *any* interval misses its true shift is about
``alpha`` — the family-wise error rate is controlled without Bonferroni's loss of power
when cells are correlated (Shapley values of one image add up, so they are).
"""

import warnings

import numpy as np
from scipy import stats


def bootstrap_counts(n, n_bootstrap, rng):
    """``(n_bootstrap, n)`` draw counts of ``n`` items resampled with replacement."""
    if n == 0:
        return np.zeros((n_bootstrap, 0))
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float64)


# Bootstrap counts held in memory at once (32 MB of float64); more resamples go in blocks, so a
# class of 100,000 images costs time, not memory.
_MAX_COUNT_CELLS = 4_000_000


def resampled_sums(matrices, n_bootstrap, rng):
    """Column sums of each ``(n, k)`` matrix over ``n_bootstrap`` resamples of its ``n`` rows.

    All matrices share the resamples (the rows are the same items, e.g. paired images).

    Returns
    -------
    sums : list of ndarray of shape (n_bootstrap, k)
    """
    n = len(matrices[0])
    sums = [np.empty((n_bootstrap, matrix.shape[1])) for matrix in matrices]
    block = max(1, _MAX_COUNT_CELLS // max(n, 1))
    for start in range(0, n_bootstrap, block):
        stop = min(start + block, n_bootstrap)
        counts = bootstrap_counts(n, stop - start, rng)
        for out, matrix in zip(sums, matrices):
            out[start:stop] = counts @ matrix
    return sums


def _group_mean_deviations(values, rows, n_bootstrap, rng):
    """Mean of ``values[rows]`` and the bootstrap deviations of the resampled mean from it.

    Deviations are scaled by ``sqrt(n / (n - 1))``: the plain bootstrap's variance of a
    mean is the sample variance divided by ``n`` with divisor ``n`` instead of ``n - 1``,
    too narrow by that factor for the small classes a comparison often has.
    """
    chosen = values[rows]
    mean = chosen.mean(axis=0)
    deviations = resampled_sums([chosen], n_bootstrap, rng)[0] / len(rows) - mean
    return mean, deviations * np.sqrt(len(rows) / max(len(rows) - 1, 1))


def shift_intervals(values_a, values_b, groups_a, groups_b, groups, *, paired, alpha, n_bootstrap, min_images, rng):
    """Shift of each part's mean value from side A to side B per group, with simultaneous intervals.

    Parameters
    ----------
    values_a, values_b : ndarray of shape (n_a, n_parts), (n_b, n_parts)
        Per-image part values (e.g. Shapley values). When ``paired``, row ``i`` of both is
        the same image.
    groups_a, groups_b : ndarray of shape (n_a,), (n_b,)
        Group (class) of each image.
    groups : sequence
        The groups to report, in order.
    paired : bool
        Resample images (pairs) jointly, or each side on its own.
    alpha : float
        Family-wise error rate over all tested cells.
    n_bootstrap : int
    min_images : int
        A cell is tested only when its group has at least this many images on each side.
    rng : numpy.random.Generator

    Returns
    -------
    result : dict
        Arrays of shape ``(n_groups, n_parts)``: ``mean_a``, ``mean_b``, ``shift`` (B − A),
        ``low``, ``high`` (NaN where untested), ``tested``; ``n_a``, ``n_b`` of shape
        ``(n_groups,)``; ``critical_value`` (the bootstrap max-t quantile on the normal
        scale, before each cell's conversion to its t law; NaN when nothing varies).
    """
    values_a, values_b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    groups_a, groups_b = np.asarray(groups_a), np.asarray(groups_b)
    n_groups, n_parts = len(groups), values_a.shape[1]
    mean_a, mean_b = np.full((n_groups, n_parts), np.nan), np.full((n_groups, n_parts), np.nan)
    deviations = np.zeros((n_bootstrap, n_groups, n_parts))
    n_a = np.array([(groups_a == g).sum() for g in groups])
    n_b = np.array([(groups_b == g).sum() for g in groups])
    for k, group in enumerate(groups):
        rows_a, rows_b = np.flatnonzero(groups_a == group), np.flatnonzero(groups_b == group)
        if paired:
            if len(rows_a):
                mean_a[k], mean_b[k] = values_a[rows_a].mean(axis=0), values_b[rows_a].mean(axis=0)
                _, deviations[:, k] = _group_mean_deviations(values_b - values_a, rows_a, n_bootstrap, rng)
            continue
        if len(rows_a):
            mean_a[k], dev_a = _group_mean_deviations(values_a, rows_a, n_bootstrap, rng)
            deviations[:, k] -= dev_a
        if len(rows_b):
            mean_b[k], dev_b = _group_mean_deviations(values_b, rows_b, n_bootstrap, rng)
            deviations[:, k] += dev_b
    shift = mean_b - mean_a
    tested = ((n_a >= min_images) & (n_b >= min_images))[:, None] & np.isfinite(shift)
    se, dof = _standard_errors(values_a, values_b, groups_a, groups_b, groups, paired)
    varying = tested & (se > 0)
    critical, half_width = np.nan, np.zeros_like(shift)
    if varying.any():
        # The bootstrap gives the joint law of the standardised deviations (how the cells move
        # together); its max quantile is a per-cell level, read off each cell's t law so that
        # small classes, whose standard errors are themselves uncertain, get wider intervals.
        largest = np.max(np.abs(deviations[:, varying]) / se[varying], axis=1)
        critical = float(np.quantile(largest, 1 - alpha, method="higher"))
        per_cell_level = 2 * stats.norm.sf(critical)
        half_width[varying] = stats.t.isf(per_cell_level / 2, dof[varying]) * se[varying]
    low = np.where(tested, shift - half_width, np.nan)  # a constant difference is known exactly
    high = np.where(tested, shift + half_width, np.nan)
    return {"mean_a": mean_a, "mean_b": mean_b, "shift": shift, "low": low, "high": high, "tested": tested,
            "n_a": n_a, "n_b": n_b, "critical_value": critical}


def _standard_errors(values_a, values_b, groups_a, groups_b, groups, paired):
    """Standard error of each cell's shift and its degrees of freedom (Welch's when unpaired)."""
    se = np.zeros((len(groups), values_a.shape[1]))
    dof = np.ones_like(se)
    for k, group in enumerate(groups):
        rows_a, rows_b = np.flatnonzero(groups_a == group), np.flatnonzero(groups_b == group)
        if paired:
            if len(rows_a) > 1:
                se[k] = (values_b[rows_a] - values_a[rows_a]).std(axis=0, ddof=1) / np.sqrt(len(rows_a))
                dof[k] = len(rows_a) - 1
            continue
        if len(rows_a) > 1 and len(rows_b) > 1:
            var_a = values_a[rows_a].var(axis=0, ddof=1) / len(rows_a)
            var_b = values_b[rows_b].var(axis=0, ddof=1) / len(rows_b)
            se[k] = np.sqrt(var_a + var_b)
            with np.errstate(invalid="ignore", divide="ignore"):
                welch = (var_a + var_b) ** 2 / (var_a**2 / (len(rows_a) - 1) + var_b**2 / (len(rows_b) - 1))
            dof[k] = np.where(np.isfinite(welch), welch, 1.0)
    return se, np.maximum(dof, 1.0)


def flag_shifts(low, high, margin):
    """Cells whose whole interval lies beyond ``±margin``: a shift that matters, not noise."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(low, nan=0.0) > margin, np.nan_to_num(high, nan=0.0) < -margin


def _rates(hits, fires, members):
    """Precision (hits among firings) and coverage (hits among the class's images); NaN for 0/0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / fires, hits / members


def rule_rates(firing, decided):
    """Precision and coverage of rules.

    Parameters
    ----------
    firing : ndarray of shape (n_images, n_rules), bool
    decided : ndarray of shape (n_images, n_rules), bool
        Whether the model decided each rule's class on each image.

    Returns
    -------
    precision, coverage : ndarray of shape (n_rules,)
        NaN where a rule never fires (precision) or its class never occurs (coverage).
    """
    firing, decided = np.asarray(firing, dtype=bool), np.asarray(decided, dtype=bool)
    return _rates((firing & decided).sum(axis=0), firing.sum(axis=0), decided.sum(axis=0))


def rule_difference_intervals(side_a, side_b, *, paired, alpha, n_bootstrap, rng):
    """Percentile bootstrap intervals of each rule's precision and coverage difference (B − A).

    Parameters
    ----------
    side_a, side_b : tuple of (firing, decided)
        :func:`rule_rates`' inputs on the held-out images of each side; with ``paired``
        both hold the same images.
    paired : bool
    alpha : float
        Each interval covers ``1 - alpha`` (per rule, not simultaneous).
    n_bootstrap : int
    rng : numpy.random.Generator

    Returns
    -------
    result : dict
        ``precision_a``, ``precision_b``, ``coverage_a``, ``coverage_b`` and the interval
        ends ``precision_low``, ``precision_high``, ``coverage_low``, ``coverage_high``,
        each of shape ``(n_rules,)``.
    """
    out, tables = {}, {}
    for name, (firing, decided) in (("a", side_a), ("b", side_b)):
        firing, decided = firing.astype(np.float64), decided.astype(np.float64)
        tables[name] = [firing * decided, firing, decided]
        out[f"precision_{name}"], out[f"coverage_{name}"] = rule_rates(firing, decided)
    if paired:  # one resample of the images for both sides
        sums = resampled_sums(tables["a"] + tables["b"], n_bootstrap, rng)
        sums = {"a": sums[:3], "b": sums[3:]}
    else:
        sums = {name: resampled_sums(tables[name], n_bootstrap, rng) for name in tables}
    resampled = {name: _rates(*name_sums) for name, name_sums in sums.items()}
    for k, measure in enumerate(("precision", "coverage")):
        difference = resampled["b"][k] - resampled["a"][k]
        with warnings.catch_warnings():  # a rule that fires in no resample has an all-NaN column
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            out[f"{measure}_low"] = np.nanquantile(difference, alpha / 2, axis=0)
            out[f"{measure}_high"] = np.nanquantile(difference, 1 - alpha / 2, axis=0)
    return out
