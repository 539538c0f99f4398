"""Comparing two models, or two slices of data, by their global explanations."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .._core.labels import display_name, unique_names
from .._core.part_images import PartImages, as_part_images
from .._core.part_scores import BASELINE_SYMBOL
from ..attribution import PartAttributor, ReferenceImages, msx_part_shares
from ..rules import GlobalRuleExplainer
from ._formats import decided_on_baseline
from ._result import ComparisonReport
from ._stats import flag_shifts, rule_difference_intervals, shift_intervals

if TYPE_CHECKING:
    import torch

#: Default practical margin: a shift of part importance is flagged only when its whole
#: interval lies beyond ±0.05, i.e. five percentage points of the explained probability
#: for Shapley values of ``output="probability"`` (a part that carries a class typically
#: holds 0.2–0.6 of it).
DEFAULT_MARGIN = 0.05

_CONTROL = ("family-wise error rate {alpha:g} over the {n_tested} tested class × part cells "
            "(simultaneous bootstrap max-t intervals, {n_bootstrap} resamples, {pairing})")


def compare_models(
    model_a: "torch.nn.Module", model_b: "torch.nn.Module", X: PartImages, *,
    attributor: PartAttributor | None = None, rules: GlobalRuleExplainer | None = None,
    names: Sequence[str] = ("A", "B"), target_names: Sequence[str] | None = None, test_size: float = 0.5,
    margin: float = DEFAULT_MARGIN, alpha: float = 0.05, n_bootstrap: int = 2000, min_images: int = 10,
    random_state: int | np.random.RandomState | None = None,
) -> ComparisonReport:
    """Compare two models' global explanations on the same images (paired).

    Parameters
    ----------
    model_a, model_b : torch.nn.Module
        The reference model (A) and the model compared with it (B), e.g. before and after
        retraining.
    X : PartImages
        The images with their part masks filled, by one transfer shared by both models
        (e.g. ``PartLabelTransfer(backbone=model_a)``), so that transfer differences do not
        enter the comparison.
    attributor : PartAttributor, default=None
        The attribution settings (its ``model`` is replaced by each model). The default
        ``None`` is ``PartAttributor(None, method="shapley", baseline="reference")`` (removed
        parts show reference images, the same for both models) with a ``FutureWarning``: it
        becomes ``baseline="mean"`` (the compared images' mean colour) in 0.3. On the development
        worlds the mean colour flagged a planted background shortcut in its class's own
        background cell, up, in 7 of 8 comparisons (a blurred copy: 6 of 8, in the
        ``(baseline)`` cell, as a blur keeps the cue's hue), with no false flag in 800 random
        splits; reference images cost ``n_references`` forward passes per coalition and, on a
        family with shared parts, missed a shortcut that the mean colour flagged
        (``benchmarks/worlds_compare.py``, ``benchmarks/RESULTS.md``).
    rules : GlobalRuleExplainer, default=None
        The rule settings; default: ``GlobalRuleExplainer("set_cover", binarize="fraction",
        candidates="subsets")``, or ``binarize="msx"`` for an MSX attributor. The rule table
        matches each side's rules by their conditions and compares their precision and
        coverage, which rules that decide alone have; a scorecard's points decide together,
        so the comparison keeps set cover (scorecards are not refused, but their table
        compares single symbols).
    names : pair of str, default=("A", "B")
    target_names : sequence of str, default=None
        Class names in the models' output order.
    test_size : float, default=0.5
        Share of the images held out to check the rules (the rest learns them).
    margin : float, default=DEFAULT_MARGIN
        Practical margin: a shift is flagged only when its whole interval lies beyond it.
    alpha : float, default=0.05
        Family-wise error rate of the shift intervals, and 1 − coverage of each rule interval.
    n_bootstrap : int, default=2000
    min_images : int, default=10
        Classes with fewer images are reported but not tested.
    random_state : int, RandomState or None, default=None
        Seeds the held-out split, the bootstrap and the attribution.

    Returns
    -------
    report : ComparisonReport
    """
    X = _check_images(X, "X")
    settings = _Settings(attributor, rules, names, target_names, test_size, margin, alpha, n_bootstrap,
                         min_images, random_state)
    side_a = settings.attribute(model_a, X)
    side_b = settings.attribute(model_b, X, settings.fit_attributor(model_b, X, like=side_a.attributor))
    reference = side_a.decisions
    disagree = np.flatnonzero(side_b.decisions != reference)
    # B explained for A's class on every image: its own scores where the two agree.
    values_b = side_b.values.copy()
    if len(disagree):
        values_b[disagree] = settings.values_for(side_b.attributor, X[disagree], reference[disagree])
    fit, test = settings.split(len(X), reference)
    baselines = (side_a.attributor.baseline_report(X, reference), side_b.attributor.baseline_report(X, reference))
    return settings.report(
        "models", side_a, side_b, baselines=baselines, values_a=side_a.values, values_b=values_b,
        groups_a=reference, groups_b=reference, splits=((fit, test), (fit, test)), paired=True,
        agreement=float(np.mean(side_b.decisions == reference)),
        disagreements=settings.disagreements(reference, side_b.decisions, side_a.values - values_b,
                                             settings.columns(X.part_names)),
        notes=[f"Classes are {settings.names[0]}'s decisions; {settings.names[1]} is explained for {settings.names[0]}'s "
               f"class on every image (paired), so a shift is how differently {settings.names[1]} weighs a part for "
               f"the class {settings.names[0]} decided."],
    )


def compare_slices(
    model: "torch.nn.Module", X_a: PartImages, X_b: PartImages, *,
    attributor: PartAttributor | None = None, rules: GlobalRuleExplainer | None = None,
    names: Sequence[str] = ("A", "B"), target_names: Sequence[str] | None = None, test_size: float = 0.5,
    margin: float = DEFAULT_MARGIN, alpha: float = 0.05, n_bootstrap: int = 2000, min_images: int = 10,
    random_state: int | np.random.RandomState | None = None,
) -> ComparisonReport:
    """Compare one model's global explanations on two sets of images (unpaired).

    The attributor is fitted once on both slices together, so both are explained against
    the same baseline; classes are the model's decisions on each side.

    Parameters
    ----------
    model : torch.nn.Module
    X_a, X_b : PartImages
        The two slices, with filled part masks and the same part names.
    attributor, rules, names, target_names, test_size, margin, alpha, n_bootstrap, min_images, random_state
        As in :func:`compare_models`.

    Returns
    -------
    report : ComparisonReport
    """
    X_a, X_b = _check_images(X_a, "X_a"), _check_images(X_b, "X_b")
    if tuple(X_a.part_names) != tuple(X_b.part_names):
        raise ValueError(f"X_a and X_b must have the same part names, got {X_a.part_names} and {X_b.part_names}.")
    if X_a.shape[1:] != X_b.shape[1:]:
        raise ValueError(f"X_a and X_b must hold images of one shape, got {X_a.shape[1:]} and {X_b.shape[1:]}.")
    settings = _Settings(attributor, rules, names, target_names, test_size, margin, alpha, n_bootstrap,
                         min_images, random_state)
    both = PartImages(np.concatenate([X_a.images, X_b.images]), np.concatenate([X_a.masks, X_b.masks]), X_a.part_names)
    fitted = settings.fit_attributor(model, both)
    side_a, side_b = settings.attribute(model, X_a, fitted), settings.attribute(model, X_b, fitted)
    baselines = (fitted.baseline_report(X_a), fitted.baseline_report(X_b))
    return settings.report(
        "slices", side_a, side_b, baselines=baselines, values_a=side_a.values, values_b=side_b.values,
        groups_a=side_a.decisions, groups_b=side_b.decisions, paired=False, agreement=None, disagreements=None,
        splits=(settings.split(len(X_a), side_a.decisions), settings.split(len(X_b), side_b.decisions)),
        notes=["Unpaired: classes are the model's decisions on each slice."],
    )


def _default_attributor():
    """The default attributor, reference images, announcing the mean colour that replaces it in 0.3
    (a ``FutureWarning`` at the caller of ``compare_models`` or ``compare_slices``)."""
    warnings.warn(
        "The comparisons' default attributor removes parts against reference images "
        "(PartAttributor(None, baseline='reference')) in skpartx 0.2 and against the images' mean colour "
        "(baseline='mean') in 0.3: on the development worlds the mean colour flagged a planted background "
        "shortcut in its class's own row in 7 of 8 comparisons, with no false flag in 800 random splits, at an "
        "eighth of the cost (benchmarks/RESULTS.md). Pass attributor=PartAttributor(None, baseline='mean') to use "
        "it now and silence this warning, or baseline='reference' to keep reference images.",
        FutureWarning,
        stacklevel=4,  # here, _Settings, compare_models / compare_slices, their caller
    )
    return PartAttributor(None, method="shapley", baseline="reference")


def _check_images(X, name):
    X = as_part_images(X)
    if len(X) == 0:
        raise ValueError(f"{name} holds no image.")
    return X


@dataclass
class _Side:
    """One side of a comparison: its fitted attributor, decisions, rule inputs and part values."""

    attributor: PartAttributor
    decisions: np.ndarray
    scores: object  # the attributor's transform output: what rules learn from
    values: np.ndarray  # per-part numbers for the shift statistics


class _Settings:
    """The comparison's settings, checked once, and the steps both modes share."""

    def __init__(self, attributor, rules, names, target_names, test_size, margin, alpha, n_bootstrap, min_images,
                 random_state):
        if attributor is None:
            attributor = _default_attributor()
        if not isinstance(attributor, PartAttributor):
            raise TypeError(f"attributor must be a PartAttributor, got {type(attributor).__name__}.")
        if rules is None:  # MSX codes are read as the MSXs they are, part scores by their share of the total
            # set cover, stated: the rule table compares rules that decide alone (see compare_models)
            rules = (GlobalRuleExplainer("set_cover", binarize="msx") if attributor.method == "msx"
                     else GlobalRuleExplainer("set_cover", binarize="fraction", candidates="subsets"))
        if not isinstance(rules, GlobalRuleExplainer):
            raise TypeError(f"rules must be a GlobalRuleExplainer, got {type(rules).__name__}.")
        names = tuple(str(n) for n in names)
        if len(names) != 2 or names[0] == names[1]:
            raise ValueError(f"names must be two different names, got {names}.")
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must lie strictly between 0 and 1, got {test_size}.")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}.")
        if margin < 0:
            raise ValueError(f"margin must be at least 0, got {margin}.")
        if n_bootstrap < 100:
            raise ValueError(f"n_bootstrap must be at least 100 for the intervals' quantiles, got {n_bootstrap}.")
        if min_images < 2:
            raise ValueError(f"min_images must be at least 2, got {min_images}.")
        self.attributor, self.rules, self.names, self.target_names = attributor, rules, names, target_names
        self.test_size, self.margin, self.alpha = test_size, margin, alpha
        self.n_bootstrap, self.min_images = n_bootstrap, min_images
        self.rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
        self.seed = int(self.rng.integers(2**31))

    def fit_attributor(self, model, X, like=None):
        """The attributor of ``model`` fitted on ``X``; with the reference images of the fitted
        attributor ``like``, if it drew any, so that both sides remove parts alike."""
        params = {"model": model}
        if self.attributor.random_state is None:
            params["random_state"] = self.seed
        if like is not None and like.references_ is not None:
            params["baseline"] = ReferenceImages(like.references_)
        return clone(self.attributor).set_params(**params).fit(X)

    @property
    def with_baseline(self):
        """Whether the values end with the all-baseline value: for Shapley values, which add up to
        the full image's value minus it, so that a class decided on the baseline alone shows there."""
        return self.attributor.method == "shapley"

    def attribute(self, model, X, fitted=None):
        """The side of ``model`` on ``X``: decisions, the rules' inputs and per-part values."""
        fitted = self.fit_attributor(model, X) if fitted is None else fitted
        scores = fitted.transform(X)
        n_parts = len(X.part_names)
        values = np.asarray(scores, dtype=np.float64)[:, :n_parts]
        if fitted.method == "msx":  # membership codes: one number per part is its share of the MSXs
            values = np.asarray(msx_part_shares(values), dtype=np.float64)
        decisions = fitted.explained_classes(X)
        if self.with_baseline:
            engine = fitted.coalition_engine(X, decisions)  # the all-baseline composites are memoised
            empty = engine.evaluate(np.arange(len(X)), np.zeros((len(X), engine.n_parts), dtype=bool))
            values = np.column_stack([values, empty])
        return _Side(fitted, decisions, scores, values)

    def values_for(self, attributor, X, target):
        """Per-part values of ``X`` explained for ``target`` (as :meth:`attribute` gives them)."""
        explanations = attributor.explain(X, target)
        rows = [[e.scores.get(name, 0.0) for name in X.part_names] for e in explanations]
        if self.with_baseline:
            rows = [row + [e.empty_score] for row, e in zip(rows, explanations)]
        return np.array(rows, dtype=np.float64)

    def columns(self, part_names):
        """The names of the values' columns: the parts, then the baseline's when it is there."""
        return tuple(part_names) + ((BASELINE_SYMBOL,) if self.with_baseline else ())

    def split(self, n, decisions):
        """Indices that learn the rules and indices held out to check them, stratified when possible."""
        indices = np.arange(n)
        _, counts = np.unique(decisions, return_counts=True)
        stratify = decisions if counts.min() >= 2 and len(counts) <= n * min(self.test_size, 1 - self.test_size) else None
        fit, test = train_test_split(indices, test_size=self.test_size, stratify=stratify,
                                     random_state=int(self.rng.integers(2**31)))
        return np.sort(fit), np.sort(test)

    def label(self, c):
        return display_name(c, self.target_names)

    def disagreements(self, decisions_a, decisions_b, fall, part_names, top_k=3):
        """Per pair of differing decisions: images, and the parts whose score for A's class fell most."""
        rows = []
        pairs = sorted({(a, b) for a, b in zip(decisions_a.tolist(), decisions_b.tolist()) if a != b},
                       key=lambda ab: -int(((decisions_a == ab[0]) & (decisions_b == ab[1])).sum()))
        for a, b in pairs:
            members = (decisions_a == a) & (decisions_b == b)
            mean = fall[members].mean(axis=0)
            driving = [part_names[p] for p in np.argsort(-mean, kind="stable")[:top_k] if mean[p] > 0]
            rows.append({f"class {self.names[0]}": self.label(a), f"class {self.names[1]}": self.label(b),
                         "images": int(members.sum()), "driving parts": ", ".join(driving),
                         **dict(zip(part_names, mean.tolist()))})
        columns = [f"class {self.names[0]}", f"class {self.names[1]}", "images", "driving parts", *part_names]
        return pd.DataFrame(rows, columns=columns)

    def fit_rules(self, side, fit):
        rules = clone(self.rules)
        if rules.target_names is None and self.target_names is not None:
            rules.set_params(target_names=list(self.target_names))
        return rules.fit(_rows(side.scores, fit), side.decisions[fit])

    def report(self, mode, side_a, side_b, *, baselines, values_a, values_b, groups_a, groups_b, splits, paired, agreement,
               disagreements, notes):
        part_names = self.columns(side_a.attributor.part_names_)
        classes = np.unique(np.concatenate([groups_a, groups_b]))
        class_names = unique_names([self.label(c) for c in classes])
        stats = shift_intervals(values_a, values_b, groups_a, groups_b, classes, paired=paired, alpha=self.alpha,
                                n_bootstrap=self.n_bootstrap, min_images=self.min_images, rng=self.rng)
        up, down = flag_shifts(stats["low"], stats["high"], self.margin)
        shifts = pd.DataFrame({
            "class": np.repeat(class_names, len(part_names)),
            "part": np.tile(part_names, len(classes)),
            f"images {self.names[0]}": np.repeat(stats["n_a"], len(part_names)),
            f"images {self.names[1]}": np.repeat(stats["n_b"], len(part_names)),
            f"mean {self.names[0]}": stats["mean_a"].ravel(), f"mean {self.names[1]}": stats["mean_b"].ravel(),
            "shift": stats["shift"].ravel(), "low": stats["low"].ravel(), "high": stats["high"].ravel(),
            "tested": stats["tested"].ravel(), "flagged": (up | down).ravel(),
            "direction": np.where(up, "up", np.where(down, "down", "")).ravel(),
        })
        untested = [name for name, a, b in zip(class_names, stats["n_a"], stats["n_b"]) if min(a, b) < self.min_images]
        if untested:
            notes = notes + [f"Not tested (fewer than {self.min_images} images on a side): {', '.join(untested)}."]
        baseline = pd.DataFrame(
            {name: [float(table["baseline_sufficient"].get(c, np.nan)) for c in classes]
             for name, table in zip(self.names, baselines)}, index=pd.Index(class_names, name="class"))
        hollow = decided_on_baseline(baseline)
        if hollow:
            notes = notes + [f"Explanations owe much to the baseline ({self.attributor.baseline!r}): {'; '.join(hollow)}. "
                             "Every part of such a class loses importance whatever the model looks at; the shift of "
                             "its parts says that, not which part the model uses. What tells the other classes from "
                             "it shows in their shifts (e.g. their background, for a background shortcut); another "
                             "baseline may explain the class itself."]
        rule_table, fidelity = self.rule_changes(side_a, side_b, splits, paired)
        n_tested = int(stats["tested"].sum())
        control = _CONTROL.format(alpha=self.alpha, n_tested=n_tested, n_bootstrap=self.n_bootstrap,
                                  pairing="images resampled in pairs" if paired else "each side resampled on its own")
        return ComparisonReport(
            mode=mode, names=self.names, part_names=part_names, class_names=class_names,
            n_images=(len(groups_a), len(groups_b)), shifts=shifts, rules=rule_table, agreement=agreement,
            disagreements=disagreements, fidelity=fidelity, baseline=baseline, margin=self.margin, alpha=self.alpha,
            n_bootstrap=self.n_bootstrap, critical_value=stats["critical_value"], control=control, notes=notes,
        )

    def rule_changes(self, side_a, side_b, splits, paired):
        """Each side's rules, matched by class and conditions, checked on both sides' held-out images."""
        (fit_a, test_a), (fit_b, test_b) = splits
        explainers = (self.fit_rules(side_a, fit_a), self.fit_rules(side_b, fit_b))
        held_out = ((side_a, test_a), (side_b, test_b))
        fidelity = {name: float(explainer.score(_rows(side.scores, test), side.decisions[test]))
                    for name, explainer, (side, test) in zip(self.names, explainers, held_out)}
        keys = [{(rule.target, frozenset(rule.conditions)): rule for rule in explainer.rules_} for explainer in explainers]
        entries = []  # (rule, change, explainer of side A's firing, explainer of side B's firing)
        for key, rule in keys[0].items():
            entries.append((rule, "kept", explainers[0], explainers[1]) if key in keys[1]
                           else (rule, "lost", explainers[0], explainers[0]))
        entries += [(rule, "gained", explainers[1], explainers[1]) for key, rule in keys[1].items() if key not in keys[0]]
        columns = ["class", "rule", "change", *(f"{m} {s}" for m in ("precision", "coverage") for s in
                                                (self.names[0], self.names[1], "low", "high"))]
        if not entries:
            return pd.DataFrame(columns=columns), fidelity
        sides = []
        for k, (side, test) in enumerate(held_out):
            firing = np.column_stack([entry[2 + k].firing(_rows(side.scores, test), [entry[0]])[:, 0]
                                      for entry in entries])
            decided = np.column_stack([side.decisions[test] == entry[0].target for entry in entries])
            sides.append((firing, decided))
        stats = rule_difference_intervals(*sides, paired=paired, alpha=self.alpha, n_bootstrap=self.n_bootstrap,
                                          rng=self.rng)
        rows = []
        for j, (rule, change, *_) in enumerate(entries):
            row = {"class": self.label(rule.target), "rule": rule.body(),
                   "change": change}
            for measure in ("precision", "coverage"):
                row[f"{measure} {self.names[0]}"] = stats[f"{measure}_a"][j]
                row[f"{measure} {self.names[1]}"] = stats[f"{measure}_b"][j]
                row[f"{measure} low"], row[f"{measure} high"] = stats[f"{measure}_low"][j], stats[f"{measure}_high"][j]
            rows.append(row)
        # Class by class in the models' order; within a class what changed first.
        changes = ("lost", "gained", "kept")
        order = sorted(range(len(entries)), key=lambda j: (entries[j][0].target, changes.index(entries[j][1])))
        return pd.DataFrame([rows[j] for j in order], columns=columns), fidelity


def _rows(scores, rows):
    """Rows of an attributor's output (array, PartScoreArray or DataFrame), keeping its kind."""
    return scores.iloc[rows] if isinstance(scores, pd.DataFrame) else scores[rows]

