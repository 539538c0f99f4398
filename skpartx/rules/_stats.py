"""Rule statistics: support, precision and coverage with 95% Wilson intervals, on training
images and on held-out ones (the verification table)."""

import numpy as np

from .._core.labels import plain
from ._decision import rule_targets

_Z95 = 1.959963984540054
MEASURES = ("precision", "coverage")


def wilson_interval(successes: float, trials: float, z: float = _Z95) -> tuple:
    """Wilson score interval of a proportion (95% by default); ``(0, 1)`` without trials.

    Weighted counts are accepted: ``trials`` then acts as the effective number of trials.
    """
    if trials <= 0:
        return (0.0, 1.0)
    p = min(max(successes / trials, 0.0), 1.0)
    denominator = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denominator
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    # the interval holds p itself; rounding must not push an end past it at p = 0 or 1
    return (max(0.0, min(float(centre - half), p)), min(1.0, max(float(centre + half), p)))


def rule_statistics(firing, targets, y_index, weights, n_classes):
    """Support, precision and coverage (with 95% intervals) of each rule on labelled images.

    Parameters
    ----------
    firing : bool ndarray of shape (n_images, n_rules)
    targets : int ndarray of shape (n_rules,)
        Class index of each rule.
    y_index : int ndarray of shape (n_images,)
        Class index of each image's model decision.
    weights : ndarray of shape (n_images,)
    n_classes : int

    Returns
    -------
    statistics : list of dict
        Per rule: ``support`` (an int when the weights sum to one), ``precision``,
        ``precision_interval``, ``coverage`` and ``coverage_interval``.
    """
    out = []
    class_weight = np.bincount(y_index, weights=weights, minlength=n_classes)
    for r, k in enumerate(targets):
        fired = firing[:, r]
        hits = float(weights[fired & (y_index == k)].sum())
        support = float(weights[fired].sum())
        positives = float(class_weight[k])
        out.append(
            {
                "support": int(support) if support.is_integer() else support,
                "precision": hits / support if support > 0 else 0.0,
                "precision_interval": wilson_interval(hits, support),
                "coverage": hits / positives if positives > 0 else 0.0,
                "coverage_interval": wilson_interval(hits, positives),
            }
        )
    return out


def training_statistics(rule):
    """A rule's training statistics, keyed as :func:`rule_statistics` returns them."""
    return {
        "support": rule.support,
        "precision": rule.precision,
        "coverage": rule.coverage,
        "precision_interval": rule.precision_interval,
        "coverage_interval": rule.coverage_interval,
    }


def verification_table(rules, firing, y, classes, weights):
    """One row per rule: its training and held-out statistics side by side.

    Parameters
    ----------
    rules : list of Rule
    firing : bool ndarray of shape (n_images, n_rules)
        Where the rules fire on the held-out images.
    y : ndarray of shape (n_images,)
        The model's decisions on the held-out images; those of classes outside ``classes``
        are left out.
    classes : ndarray of shape (n_classes,)
        The sorted class labels the rules were fitted on.
    weights : ndarray of shape (n_images,)

    Returns
    -------
    table : pandas.DataFrame
        Columns ``rule``, ``class``, then per suffix ``_train`` and ``_test``: ``support``,
        ``precision``, ``precision_low``, ``precision_high``, ``coverage``,
        ``coverage_low``, ``coverage_high`` (NaN where a rule has no interval).
    """
    import pandas as pd

    known = np.isin(y, classes)
    y_index = np.where(known, np.searchsorted(classes, y), -1)
    targets = rule_targets(rules, [plain(c) for c in classes])
    held_out = rule_statistics(firing[known], targets, y_index[known], weights[known], len(classes))
    rows = []
    for rule, test in zip(rules, held_out):
        row = {"rule": str(rule), "class": rule.target}
        for suffix, stats in (("train", training_statistics(rule)), ("test", test)):
            row[f"support_{suffix}"] = stats["support"]
            for measure in MEASURES:
                row[f"{measure}_{suffix}"] = stats[measure]
                row[f"{measure}_low_{suffix}"], row[f"{measure}_high_{suffix}"] = (
                    stats[f"{measure}_interval"] or (np.nan, np.nan)
                )
        rows.append(row)
    return pd.DataFrame(rows)


def held_out_shares(weights, correct, by_rule):
    """Fidelity and coverage on held-out images, and their number (total weight).

    Parameters
    ----------
    weights : ndarray of shape (n_images,)
    correct : bool ndarray of shape (n_images,)
        Where the rules reproduce the model's decision.
    by_rule : bool ndarray of shape (n_images,)
        Where a rule of the decided class decided it.

    Returns
    -------
    fidelity, coverage, n_images : float
        The shares are 0 when the images weigh nothing.
    """
    total = weights.sum()
    fidelity = float(weights[correct].sum() / total) if total > 0 else 0.0
    coverage = float(weights[correct & by_rule].sum() / total) if total > 0 else 0.0
    return fidelity, coverage, float(total)
