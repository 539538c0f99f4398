"""The comparison's statistics against independent expectations, without any model."""

import numpy as np
import pytest

from skpartx.compare import _stats as compare_stats
from skpartx.compare._stats import (
    flag_shifts, resampled_sums, rule_difference_intervals, rule_rates, shift_intervals,
)


def _null_rejections(paired, n_repetitions=200, alpha=0.1, seed=0):
    """Share of repetitions in which any interval misses a true shift of 0 (family of 3 × 4 cells)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1, 2], 25)
    missed = 0
    for _ in range(n_repetitions):
        # Skewed, correlated values (a shared image effect), as Shapley values are.
        base = rng.exponential(0.2, size=(len(groups), 4)) + rng.normal(0, 0.1, size=(len(groups), 1))
        a = base + rng.normal(0, 0.05, size=base.shape)
        b = (base if paired else rng.exponential(0.2, size=base.shape)) + rng.normal(0, 0.05, size=base.shape)
        stats = shift_intervals(a, b, groups, groups, [0, 1, 2], paired=paired, alpha=alpha, n_bootstrap=400,
                                min_images=5, rng=rng)
        up, down = flag_shifts(stats["low"], stats["high"], 0.0)
        missed += bool((up | down).any())
    return missed / n_repetitions


@pytest.mark.parametrize("paired", [True, False])
def test_family_wise_error_rate_holds_under_the_null(paired):
    # Stated level 0.1; binomial standard error over 200 repetitions is 0.021: allow 2.5 of them.
    # Bonferroni over 12 cells would give about the same bound but far wider intervals; a
    # per-cell 90% interval would miss somewhere in most repetitions (1 - 0.9^12 = 0.72).
    rate = _null_rejections(paired)
    assert rate <= 0.1 + 2.5 * 0.021


def test_intervals_are_simultaneous_not_per_cell():
    rng = np.random.default_rng(1)
    groups = np.repeat([0, 1], 40)
    a, b = rng.normal(size=(80, 6)), rng.normal(size=(80, 6))
    stats = shift_intervals(a, b, groups, groups, [0, 1], paired=False, alpha=0.05, n_bootstrap=1000,
                            min_images=5, rng=rng)
    # Twelve cells: the max-t quantile lies well above the per-cell 1.96 and near Bonferroni's 2.87.
    assert 2.4 < stats["critical_value"] < 3.3
    # Each interval is the estimate ± about the critical value × the standard error of the
    # difference of two means, which for these unit-variance samples is about sqrt(2 / 40)
    # (a little wider: the quantile is read on each cell's t law, 78 degrees of freedom).
    half_width = (stats["high"] - stats["low"]) / 2
    ratio = half_width / (stats["critical_value"] * np.sqrt(2 / 40))
    assert (ratio > 0.75).all() and (ratio < 1.35).all()


def test_a_planted_shift_is_flagged_with_its_sign_and_nothing_else():
    rng = np.random.default_rng(2)
    groups = np.repeat([0, 1, 2], 60)
    a = rng.exponential(0.1, size=(180, 5))
    b = a + rng.normal(0, 0.02, size=a.shape)
    b[groups == 1, 3] += 0.3  # class 1 leans on part 3 far more under B
    b[groups == 2, 0] -= 0.2  # class 2 on part 0 less
    stats = shift_intervals(a, b, groups, groups, [0, 1, 2], paired=True, alpha=0.05, n_bootstrap=1000,
                            min_images=10, rng=rng)
    up, down = flag_shifts(stats["low"], stats["high"], 0.05)
    assert np.argwhere(up).tolist() == [[1, 3]]
    assert np.argwhere(down).tolist() == [[2, 0]]
    np.testing.assert_allclose(stats["shift"][1, 3], 0.3, atol=0.02)
    # A margin larger than the shift flags nothing, however significant.
    up, down = flag_shifts(stats["low"], stats["high"], 0.35)
    assert not up.any() and not down.any()


def test_small_classes_and_identical_sides_are_handled():
    rng = np.random.default_rng(3)
    groups = np.array([0] * 30 + [1] * 4)
    a = rng.random((34, 3))
    stats = shift_intervals(a, a.copy(), groups, groups, [0, 1], paired=True, alpha=0.05, n_bootstrap=200,
                            min_images=10, rng=rng)
    assert stats["tested"][0].all() and not stats["tested"][1].any()
    assert np.isnan(stats["low"][1]).all()
    # Identical sides: every shift is exactly 0, known without error.
    np.testing.assert_array_equal(stats["shift"][0], 0.0)
    np.testing.assert_array_equal(stats["low"][0], 0.0)
    np.testing.assert_array_equal(stats["high"][0], 0.0)


def test_rule_rates_match_their_definition():
    rng = np.random.default_rng(4)
    firing, decided = rng.random((50, 3)) < 0.4, rng.random((50, 3)) < 0.5
    precision, coverage = rule_rates(firing, decided)
    for j in range(3):
        assert precision[j] == pytest.approx((firing[:, j] & decided[:, j]).sum() / firing[:, j].sum())
        assert coverage[j] == pytest.approx((firing[:, j] & decided[:, j]).sum() / decided[:, j].sum())


def test_resampled_sums_draw_every_image_count_once_per_resample(monkeypatch):
    values = np.arange(12.0)[:, None]
    ones = np.ones((12, 1))
    sums, count = resampled_sums([values, ones], 500, np.random.default_rng(0))
    np.testing.assert_array_equal(count, 12)  # n draws per resample
    assert sums.mean() == pytest.approx(values.sum(), rel=0.05)  # unbiased for the total
    # Resamples drawn in blocks (to bound memory) are the same resamples.
    monkeypatch.setattr(compare_stats, "_MAX_COUNT_CELLS", 12 * 7)
    blocked, _ = resampled_sums([values, ones], 500, np.random.default_rng(0))
    np.testing.assert_array_equal(blocked, sums)


def test_rule_difference_interval_covers_a_known_change():
    rng = np.random.default_rng(5)
    n = 400
    decided = rng.random((n, 1)) < 0.5
    firing_a = decided & (rng.random((n, 1)) < 0.9)  # precise rule, covers 90%
    firing_b = decided & (rng.random((n, 1)) < 0.5)  # same precision, covers half
    stats = rule_difference_intervals((firing_a, decided), (firing_b, decided), paired=True, alpha=0.05,
                                      n_bootstrap=1000, rng=rng)
    assert stats["precision_a"][0] == stats["precision_b"][0] == 1.0
    assert stats["precision_low"][0] == stats["precision_high"][0] == 0.0
    observed = stats["coverage_b"][0] - stats["coverage_a"][0]
    assert stats["coverage_low"][0] < observed < stats["coverage_high"][0] < 0  # the loss is certain
    assert stats["coverage_high"][0] - stats["coverage_low"][0] < 0.2  # about ±2 standard errors of 0.03
    assert stats["coverage_b"][0] - stats["coverage_a"][0] == pytest.approx(
        firing_b.sum() / decided.sum() - firing_a.sum() / decided.sum())
