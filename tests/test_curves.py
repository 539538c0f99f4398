"""The one trapezoid rule of deletion, insertion and counterfactual curves."""

import numpy as np
import pytest

from skpartx._core.curves import trapezoid_auc


def test_one_point_curve_is_a_constant():
    assert trapezoid_auc([0.7]) == pytest.approx(0.7)


def test_two_points_give_their_mean():
    assert trapezoid_auc([0.2, 0.6]) == pytest.approx(0.4)


def test_empty_curve_is_nan():
    assert np.isnan(trapezoid_auc([]))


def test_evenly_spaced_curve_matches_numpy():
    curve = np.random.RandomState(0).rand(9)
    expected = np.trapezoid(curve, np.linspace(0.0, 1.0, len(curve)))
    assert trapezoid_auc(curve) == pytest.approx(expected)
