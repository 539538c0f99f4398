"""Summaries of curves sampled evenly on [0, 1]: deletion, insertion and swap paths."""

import numpy as np
from numpy.typing import ArrayLike


def trapezoid_auc(curve: ArrayLike) -> float:
    """Area under a curve sampled evenly on [0, 1], by the trapezoid rule.

    Parameters
    ----------
    curve : array-like of shape (n_points,)
        Values at ``n_points`` evenly spaced points from 0 to 1 (both included).

    Returns
    -------
    auc : float
        The area. A one-point curve is a constant, so its area is that value; an empty
        curve gives NaN.
    """
    curve = np.asarray(curve, dtype=np.float64)
    if len(curve) < 2:
        return float(curve[0]) if len(curve) else float("nan")
    return float(np.trapezoid(curve, dx=1.0 / (len(curve) - 1)))
