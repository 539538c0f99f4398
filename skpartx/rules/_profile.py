"""What the local explanations of each class say, beside the rules: mean part scores, the most
common explanations, empty explanations, and shortcuts (a symbol, or the background, that
explains most images whatever the class)."""

from typing import NamedTuple

import numpy as np

from .._core.labels import plain

BACKGROUND_NAME = "background"
# A name in the explanations of at least this share of a class's images is common to it.
COMMON_SHARE = 0.5
TOP_EXPLANATIONS = 3


class ExplanationProfile(NamedTuple):
    """The explanation statistics a :class:`~skpartx.GlobalRuleExplainer` stores after ``fit``
    (the fitted attribute of the same name with a trailing underscore)."""

    class_part_scores: np.ndarray
    explanation_profile: dict
    empty_explanations: dict
    shortcuts: list
    background_shortcuts: dict


def background_symbol(columns, part_ids=None):
    """The name of the background's column in a score table, or None when it has none.

    Parameters
    ----------
    columns : list of str
        The table's column names.
    part_ids : list of (int or None), default=None
        The part id of each column, when the table carries them
        (:func:`skpartx._core.part_scores.column_part_ids`): the background is the column of
        part id 0. None: the table does not say, and the column named ``"background"`` is
        taken for it.

    Returns
    -------
    name : str or None
    """
    if part_ids is not None and len(part_ids) == len(columns):
        return columns[part_ids.index(0)] if 0 in part_ids else None
    return BACKGROUND_NAME if BACKGROUND_NAME in columns else None


def _name_order(columns):
    """Sort key of names: table columns in their order, then any other name alphabetically."""
    return lambda name: (columns.index(name), name) if name in columns else (len(columns), name)


def _class_explanations(explanations, rows, weights, names):
    """Weighted count of each explanation among ``rows``, their empty share and each name's share."""
    total = weights[rows].sum()
    counts, empty = {}, 0.0
    shares = np.zeros(len(names))
    for i in rows:
        for s in set(explanations[i]):
            counts[s] = counts.get(s, 0.0) + weights[i]
        empty += weights[i] * (explanations[i] == [frozenset()])
        for n in set().union(*explanations[i]):
            shares[names.index(n)] += weights[i] / total
    return counts, empty / total, shares


def explanation_profile(space, F, y_index, weights, classes, background=None):
    """Explanation statistics per class: part importance, common explanations, empty ones, shortcuts.

    Parameters
    ----------
    space : SymbolSpace
        The fitted symbols; it reads ``F`` into explanations and part values.
    F : ndarray of shape (n_images, n_columns)
    y_index : int ndarray of shape (n_images,)
        Class index of each image's model decision.
    weights : ndarray of shape (n_images,)
    classes : ndarray of shape (n_classes,)
        The class labels, keys of the returned dicts (as plain Python values).
    background : str or None, default=None
        The background's name in the explanations (:func:`background_symbol`); None: no
        background shortcut is looked for.

    Returns
    -------
    profile : ExplanationProfile
    """
    values = space.part_values(F)
    explanations = space.explanations(F)
    order = _name_order(space.columns)
    n_classes = len(classes)
    part_scores = np.zeros((n_classes, len(space.part_columns)))
    profile, empty_explanations = {}, {}
    names = sorted({n for sets in explanations for s in sets for n in s}, key=order)
    shares = np.zeros((n_classes, len(names)))
    for k, target in enumerate(classes):
        rows = np.flatnonzero((y_index == k) & (weights > 0))
        total = weights[rows].sum()
        if total <= 0:
            continue
        part_scores[k] = np.average(values[rows], axis=0, weights=weights[rows])
        counts, empty, shares[k] = _class_explanations(explanations, rows, weights, names)
        top = sorted(counts.items(), key=lambda kv: (-kv[1], len(kv[0]), sorted(kv[0])))[:TOP_EXPLANATIONS]
        profile[plain(target)] = [(tuple(sorted(s, key=order)), float(count / total)) for s, count in top]
        if empty > 0:
            empty_explanations[plain(target)] = float(empty)
    several = n_classes > 1
    common = (shares >= COMMON_SHARE).all(axis=0) if several else np.zeros(len(names), bool)
    shortcuts = [names[j] for j in np.flatnonzero(common)]
    background_shortcuts = {}
    if several and background in names and background not in shortcuts:
        share = shares[:, names.index(background)]
        background_shortcuts = {plain(t): float(share[k]) for k, t in enumerate(classes) if share[k] >= COMMON_SHARE}
    return ExplanationProfile(part_scores, profile, empty_explanations, shortcuts, background_shortcuts)
