"""The rule stage's figures: rules' coverage and precision, and images a rule covers."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._core.figures import part_colours, pyplot, rgb_pictures
from ._decision import weight_matrix
from ._rule import weight_text
from ._symbols import named_parts

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .._core.part_images import PartImages
    from ._rule import Rule


def plot_rule_examples(
    X: "PartImages", indices: Sequence[int] | np.ndarray, rule: "Rule", alpha: float = 0.6,
    parts: Sequence[str] | None = None,
) -> "Figure":
    """Images a rule covers, the parts it names outlined in colour and the rest dimmed.

    Parameters
    ----------
    X : PartImages
    indices : sequence of int
        Images of ``X`` to show.
    rule : Rule
    alpha : float, default=0.6
        How strongly parts outside the rule are dimmed.
    parts : sequence of str, default=None
        The part names the rule requires (:meth:`GlobalRuleExplainer.rule_parts`);
        ``None``: the parts its required symbols name (a part, the two parts of a
        relation, the parts of an MSX set).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = pyplot()
    names = list(X.part_names)
    if parts is None:
        parts = [p for symbol in rule.positive_features() for p in named_parts(symbol, names)]
    wanted = set(parts)
    ids = [names.index(p) for p in sorted(wanted, key=names.index)]
    colours = part_colours(len(names))
    n = max(len(indices), 1)
    fig, axes = plt.subplots(1, n, figsize=(1.9 * n, 2.4), squeeze=False)
    for ax, i in zip(axes[0], indices):
        picture = rgb_pictures(X.images[i])
        keep = np.isin(X.masks[i], ids)[..., None]
        shown = np.where(keep, picture, (1 - alpha) * picture + alpha * 0.5)
        ax.imshow(shown)
        for pid in ids:
            if (X.masks[i] == pid).any():
                ax.contour(X.masks[i] == pid, levels=[0.5], colors=[colours[pid]], linewidths=1.2)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[0][len(indices) :]:
        ax.set_axis_off()
    fig.suptitle(str(rule), fontsize=9)
    fig.tight_layout()
    return fig


def plot_weights(explainer, ax: "Axes | None" = None) -> "Figure":
    """An additive model's weights as a heatmap of rules by classes, each cell annotated.

    The first row is the intercepts (``(start)``); red adds to a class, blue takes away;
    empty cells add nothing. For a scorecard the numbers are its whole points.

    Parameters
    ----------
    explainer : fitted :class:`~skpartx.GlobalRuleExplainer` with ``decision_ == "weighted_sum"``
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = pyplot()
    names = explainer.class_names_
    rows = ["(start)", *(r.body() for r in explainer.rules_)]
    values = np.vstack([explainer.intercept_, weight_matrix([r.weight for r in explainer.rules_], names)])
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(names) + 0.07 * max(map(len, rows)),
                                        0.4 * len(rows) + 1.4))
    else:
        fig = ax.figure
    limit = max(np.abs(values).max(), 1e-12)
    ax.imshow(np.where(values == 0, np.nan, values), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if value != 0 or i == 0:
            ax.text(j, i, weight_text(value), ha="center", va="center", fontsize=9,
                    color="white" if abs(value) > 0.6 * limit else "black")
    ax.axhline(0.5, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    ax.set_title("Weights: each firing rule adds its row; the largest column sum decides", fontsize=10)
    fig.tight_layout()
    return fig


def plot_rules(explainer, ax: "Axes | None" = None) -> "Figure":
    """Horizontal bars of each rule's coverage, annotated with its precision.

    Parameters
    ----------
    explainer : fitted :class:`~skpartx.GlobalRuleExplainer`
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = pyplot()
    rules = explainer.rules_
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(rules), 1) + 1.2))
    else:
        fig = ax.figure
    if not rules:
        ax.text(0.5, 0.5, "no rules", ha="center", va="center")
        ax.set_axis_off()
        return fig
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    classes = list(explainer.classes_)
    labels = [f"{r.label} ← {r.body()}" for r in rules]
    colours = [cmap(classes.index(r.target) % 10) for r in rules]
    positions = np.arange(len(rules))[::-1]
    ax.barh(positions, [r.coverage for r in rules], color=colours)
    for pos, rule in zip(positions, rules):
        ax.text(rule.coverage + 0.01, pos, f"precision {rule.precision:.2f}", va="center", fontsize=8)
    ax.set_yticks(positions, labels, fontsize=9)
    ax.set_xlim(0, 1.25)
    ax.set_xlabel("coverage of the class's images")
    ax.set_title("Global rules")
    fig.tight_layout()
    return fig


def plot_setting_scores(cv_results: dict, best_params: dict, ax: "Axes | None" = None) -> "Figure":
    """Horizontal bars of each setting's mean cross-validated fidelity, its spread over the
    folds as an error bar, the chosen setting in a darker colour.

    Parameters
    ----------
    cv_results : dict
        ``GlobalRuleExplainerCV.cv_results_``: ``params``, ``mean_test_fidelity``,
        ``std_test_fidelity`` and optionally ``mean_n_rules``.
    best_params : dict
        The chosen setting.
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = pyplot()
    settings = list(cv_results["params"])
    mean, spread = np.asarray(cv_results["mean_test_fidelity"]), np.asarray(cv_results["std_test_fidelity"])
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.32 * len(settings) + 1.2))
    else:
        fig = ax.figure
    positions = np.arange(len(settings))[::-1]
    chosen = [setting == best_params for setting in settings]
    ax.barh(positions, mean, xerr=spread, color=["tab:blue" if c else "lightsteelblue" for c in chosen],
            error_kw={"elinewidth": 0.8, "ecolor": "grey"})
    rules = cv_results.get("mean_n_rules")
    for k, pos in enumerate(positions):
        note = f"{mean[k]:.3f}" + (f", {rules[k]:.1f} rules" if rules is not None else "")
        ax.text(min(mean[k] + spread[k], 1.0) + 0.005, pos, note, va="center", fontsize=7)
    labels = [", ".join(f"{key}={value}" for key, value in sorted(setting.items())) for setting in settings]
    ax.set_yticks(positions, labels, fontsize=7)
    low = max(0.0, float(np.min(mean - spread)) - 0.05)
    ax.set_xlim(low, 1.12)
    ax.set_xlabel("cross-validated fidelity (mean ± s.d. over folds)")
    ax.set_title("Rule settings compared (chosen: darker)")
    fig.tight_layout()
    return fig
