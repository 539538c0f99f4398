"""Figures: part masks, part importance per class, and global rules (matplotlib)."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._labels import display_name
from ._symbols import named_parts

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._explanations import LocalExplanation
    from ._part_images import PartImages
    from .compare import ComparisonReport
    from .counterfactual import PartCounterfactual
    from .attribution import PartAttributor
    from .interactions import InteractionGraph
    from .rules import GlobalRuleExplainer, Rule


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _rgb_pictures(images: ArrayLike) -> np.ndarray:
    """Images as matplotlib shows them: ``(..., C, H, W)`` to ``(..., H, W, 3)``, grey repeated to RGB."""
    pictures = np.moveaxis(np.asarray(images), -3, -1)
    return np.repeat(pictures, 3, axis=-1) if pictures.shape[-1] == 1 else pictures


def part_colours(n_parts: int) -> np.ndarray:
    """One RGB colour per part id; background (id 0) is dark grey."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n_parts <= 11 else "tab20"]
    colours = [(0.15, 0.15, 0.15)] + [cmap(i % cmap.N)[:3] for i in range(n_parts - 1)]
    return np.array(colours)


def colour_masks(masks: ArrayLike, n_parts: int) -> np.ndarray:
    """RGB images ``(N, H, W, 3)`` of part-id masks; unlabelled pixels (-1) are white."""
    masks = np.asarray(masks)
    palette = np.vstack([part_colours(n_parts), [1.0, 1.0, 1.0]])
    return palette[np.where(masks < 0, n_parts, masks)]


def _legend(fig, part_names):
    from matplotlib.patches import Patch

    colours = part_colours(len(part_names))
    handles = [Patch(color=colours[i], label=name) for i, name in enumerate(part_names)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(part_names), 10), frameon=False, fontsize=8)


def plot_part_masks(
    images: ArrayLike, masks: ArrayLike, part_names: Sequence[str], true_masks: ArrayLike | None = None,
    titles: Sequence[str] | None = None, n_images: int = 6, alpha: float = 0.55,
) -> "Figure":
    """Images with their part masks overlaid, and (optionally) the true masks beside them.

    Parameters
    ----------
    images : array (N, C, H, W) in [0, 1]
    masks : array (N, H, W)
        Part ids to show (e.g. transferred masks).
    part_names : sequence of str
    true_masks : array (N, H, W), optional
        Ground truth, shown as a third row.
    titles : sequence of str, optional
        One title per image.
    n_images : int, default=6
    alpha : float, default=0.55
        Opacity of the overlay.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    n = min(n_images, len(images))
    rows = 2 + (true_masks is not None)
    fig, axes = plt.subplots(rows, n, figsize=(1.8 * n, 1.9 * rows + 0.5), squeeze=False)
    pictures = _rgb_pictures(images[:n])
    overlay = colour_masks(masks[:n], len(part_names))
    for j in range(n):
        axes[0, j].imshow(pictures[j])
        axes[1, j].imshow((1 - alpha) * pictures[j] + alpha * overlay[j])
        if true_masks is not None:
            axes[2, j].imshow(colour_masks(true_masks[j], len(part_names)))
        if titles is not None:
            axes[0, j].set_title(str(titles[j]), fontsize=9)
    labels = ["image", "transferred" if true_masks is not None else "parts", "ground truth"]
    for r in range(rows):
        axes[r, 0].set_ylabel(labels[r], fontsize=9)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    _legend(fig, part_names)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_class_part_table(
    table: ArrayLike, class_labels: Sequence[str], part_names: Sequence[str], ax: "Axes | None" = None,
    title: str = "Part importance per class",
) -> "Figure":
    """Heatmap of a class × part table of scores, each cell annotated.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    table = np.asarray(table, dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.7 * len(part_names) + 2, 0.5 * len(class_labels) + 1.6))
    else:
        fig = ax.figure
    limit = np.abs(table).max() or 1.0
    image = ax.imshow(table, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(part_names)), part_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_labels)), class_labels)
    for (r, c), value in np.ndenumerate(table):
        ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="mean part score")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_part_shifts(report: "ComparisonReport", ax: "Axes | None" = None) -> "Figure":
    """Class × part heat map of a comparison's shifts (B − A); cells not flagged are greyed out.

    Flagged cells keep their colour (red: the part weighs more in B, blue: less) and show
    the shift with its interval; untested cells (too few images) are left blank.

    Parameters
    ----------
    report : skpartx.compare.ComparisonReport
    ax : matplotlib Axes, default=None

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    shift = report.shift_table("shift").to_numpy(dtype=float)
    flagged = report.shift_table("flagged").to_numpy(dtype=bool)
    tested = report.shift_table("tested").to_numpy(dtype=bool)
    low, high = report.shift_table("low").to_numpy(dtype=float), report.shift_table("high").to_numpy(dtype=float)
    parts, classes = list(report.part_names), list(report.class_names)
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.9 * len(parts) + 2.5, 0.6 * len(classes) + 1.8))
    else:
        fig = ax.figure
    limit = np.nanmax(np.abs(np.where(tested, shift, np.nan)), initial=0.0) or 1.0
    image = ax.imshow(np.where(flagged, shift, np.nan), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.imshow(np.where(tested & ~flagged, 1.0, np.nan), cmap="Greys", vmin=0, vmax=5, aspect="auto")
    for (r, c), value in np.ndenumerate(shift):
        if flagged[r, c]:  # white on the darkest cells, so that every flagged value stays legible
            ax.text(c, r, f"{value:+.2f}\n[{low[r, c]:+.2f}, {high[r, c]:+.2f}]", ha="center", va="center", fontsize=6.5,
                    color="white" if abs(value) > 0.6 * limit else "black")
        elif tested[r, c]:
            ax.text(c, r, f"{value:+.2f}", ha="center", va="center", fontsize=6.5, color="#888888")
    ax.set_xticks(range(len(parts)), parts, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    fig.colorbar(image, ax=ax, label=f"shift of the mean part score ({report.names[1]} − {report.names[0]})")
    ax.set_title(f"Part shifts beyond ±{report.margin:g} (grey: within the margin or not significant)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_part_importance(
    scores: ArrayLike, y: ArrayLike, part_names: Sequence[str], target_names: Sequence[str] | dict | None = None,
    ax: "Axes | None" = None,
) -> "Figure":
    """Heatmap of the mean part score of each class's images (class × part).

    Parameters
    ----------
    scores : array (N, n_parts)
        Part scores, e.g. from :class:`~skpartx.PartAttributor`.
    y : array (N,)
        Class of each image (the model's decision).
    part_names : sequence of str
    target_names : sequence or dict, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    scores, y = np.asarray(scores, dtype=float), np.asarray(y)
    classes = np.unique(y)
    table = np.stack([scores[y == c].mean(axis=0) for c in classes])
    labels = [display_name(c, target_names) for c in classes]
    return plot_class_part_table(table, labels, part_names, ax=ax)


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
    plt = _pyplot()
    names = list(X.part_names)
    if parts is None:
        parts = [p for symbol in rule.positive_features() for p in named_parts(symbol, names)]
    wanted = set(parts)
    ids = [names.index(p) for p in sorted(wanted, key=names.index)]
    colours = part_colours(len(names))
    n = max(len(indices), 1)
    fig, axes = plt.subplots(1, n, figsize=(1.9 * n, 2.4), squeeze=False)
    for ax, i in zip(axes[0], indices):
        picture = _rgb_pictures(X.images[i])
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


def plot_rules(explainer: "GlobalRuleExplainer", ax: "Axes | None" = None) -> "Figure":
    """Horizontal bars of each rule's coverage, annotated with its precision.

    Parameters
    ----------
    explainer : fitted :class:`~skpartx.GlobalRuleExplainer`
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
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
    labels = [f"{r.label} ← {' ∧ '.join(r.condition_strings())}" for r in rules]
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


def plot_miou_curve(results: "pd.DataFrame | Sequence[dict]", ax: "Axes | None" = None) -> "Figure":
    """Transfer quality against the number of labelled images per class, one line per method.

    Parameters
    ----------
    results : pandas.DataFrame or sequence of dict
        Rows with ``method``, ``labelled_per_class`` and ``miou``.
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import pandas as pd

    plt = _pyplot()
    frame = pd.DataFrame(results)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    for method, rows in frame.groupby("method", sort=False):
        rows = rows.sort_values("labelled_per_class")
        ax.plot(rows["labelled_per_class"], rows["miou"], marker="o", label=str(method))
    ax.set_xscale("log")
    ticks = sorted(frame["labelled_per_class"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("labelled images per class")
    ax.set_ylabel("held-out mIoU")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Part transfer quality")
    fig.tight_layout()
    return fig


def plot_local_explanation(
    image: ArrayLike, mask: ArrayLike, explanation: "LocalExplanation", part_names: Sequence[str], max_msx: int = 3,
    baseline_colour: float = 0.5, target_names: Sequence[str] | None = None,
) -> "Figure":
    """One image's explanation: the image, its parts coloured by score, and its MSXs.

    Parameters
    ----------
    image : array (C, H, W) in [0, 1]
    mask : array (H, W)
        Part ids of the image.
    explanation : LocalExplanation
    part_names : sequence of str
    max_msx : int, default=3
        Minimal sufficient explanations to draw, each as the image with only those parts
        kept (the rest in grey).
    baseline_colour : float, default=0.5
        Grey level standing for removed parts.
    target_names : sequence, optional
        Class names for the title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    picture = _rgb_pictures(image)
    mask = np.asarray(mask)
    sets = list(explanation.msx)[:max_msx]
    fig, axes = plt.subplots(1, 2 + len(sets), figsize=(2.6 * (2 + len(sets)) + 0.8, 2.9), squeeze=False)
    axes = axes[0]
    axes[0].imshow(picture)
    label = display_name(explanation.target, target_names, unnamed="class {}")
    axes[0].set_title(f"{label}\nvalue {explanation.full_score:.2f}", fontsize=9)
    scores = np.array([explanation.scores.get(name, 0.0) for name in part_names])
    limit = np.abs(scores).max() or 1.0
    heat = np.where(mask >= 0, scores[np.clip(mask, 0, None)], np.nan)
    image_handle = axes[1].imshow(heat, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[1].set_title("part scores", fontsize=9)
    fig.colorbar(image_handle, ax=axes[1], fraction=0.046, pad=0.04)
    top = explanation.top_parts(3)
    axes[1].set_xlabel(", ".join(top), fontsize=8)
    for ax, kept in zip(axes[2:], sets):
        ids = [part_names.index(name) for name in kept]
        keep = np.isin(mask, ids)[..., None]
        ax.imshow(np.where(keep, picture, baseline_colour))
        ax.set_title("MSX: " + " ∧ ".join(sorted(kept)), fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_removals(
    attributors: "PartAttributor | dict[str, PartAttributor]", X: "PartImages", removed: Sequence[str],
    target: int | None = None, target_names: Sequence[str] | None = None,
) -> "Figure":
    """What the model is shown when parts are removed, and what it says, under each baseline.

    A part is only removed for the model if what replaces it does not read as the part:
    a window painted over with a colour leaves a window-shaped patch. This draws the
    composites an attributor evaluates, so that one can look.

    Parameters
    ----------
    attributors : PartAttributor or dict of str to PartAttributor
        Fitted attributors, e.g. one per baseline; a row each, labelled by the dict's keys
        (a single attributor: by its baseline).
    X : PartImages
        The first image is drawn, with its filled part mask.
    removed : sequence of str
        Parts to remove: a column for each alone and, for more than one, one for all together.
    target : int, optional
        Class whose probability the titles give; default: the model's predicted class.
    target_names : sequence, optional
        Class names for the row labels.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The first column shows the whole image; each title gives the model's probability
        of the class on that composite. With reference images the composite with the first
        reference is drawn and the probability is the mean over all of them, as scored.
    """
    plt = _pyplot()
    if not isinstance(attributors, dict):
        baseline = attributors.baseline
        attributors = {baseline if isinstance(baseline, str) else type(baseline).__name__: attributors}
    removed = list(removed)
    sets = [[]] + [[part] for part in removed] + ([removed] if len(removed) > 1 else [])
    columns = ["whole"] + [f"without {' and '.join(parts)}" for parts in sets[1:]]
    fig, axes = plt.subplots(len(attributors), len(sets), figsize=(2.3 * len(sets) + 0.6, 2.5 * len(attributors)),
                             squeeze=False)
    for row, (name, attributor) in zip(axes, attributors.items()):
        unknown = set(removed) - set(attributor.part_names_)
        if unknown:
            raise ValueError(f"unknown part(s) {sorted(unknown)}; the attributor's parts are {list(attributor.part_names_)}.")
        engine = attributor.coalition_engine(X[:1], target)
        keep = np.repeat(engine.present[:1], len(sets), axis=0)
        for i, parts in enumerate(sets):
            keep[i, [attributor.part_names_.index(part) for part in parts]] = False
        index = np.zeros(len(sets), dtype=int)
        probabilities = engine.evaluate(index, keep, output="probability")
        pictures = _rgb_pictures(engine.composite_images(index, keep)[:, 0])
        label = display_name(int(engine.targets[0]), target_names, unnamed="class {}")
        for ax, picture, title, probability in zip(row, pictures, columns, probabilities):
            ax.imshow(np.clip(picture, 0, 1))
            ax.set_title(f"{title}\np({label}) = {probability:.2f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return fig


def plot_interactions(
    graph: "InteractionGraph", target: object, ax: "Axes | None" = None, min_strength: float | None = None
) -> "Figure":
    """A class's part interaction graph: parts on a circle, edges for interacting pairs.

    Nodes are sized by the part's mean absolute Shapley value for the class and filled by its
    sign (blue: for the class, red: against it); edges are drawn for pairs whose mean
    interaction index exceeds ``min_strength`` in absolute value, as thick as the index,
    green for synergy (> 0) and orange for redundancy (< 0).

    Parameters
    ----------
    graph : skpartx.interactions.InteractionGraph
    target : class
        One of ``graph.classes``.
    ax : matplotlib Axes, default=None
    min_strength : float, default=None
        Edges weaker than this are left out; default 15% of the strongest edge.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D

    row = graph.class_index(target)
    importance, matrix = graph.importance[row], graph.interactions[row]
    names = graph.part_names
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 5.2))
    else:
        fig = ax.figure
    angles = np.pi / 2 - 2 * np.pi * np.arange(len(names)) / len(names)
    xy = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    strongest = np.abs(matrix).max()
    if min_strength is None:
        min_strength = 0.15 * strongest
    for a, b, value in graph.edges(target, min_strength):
        i, j = names.index(a), names.index(b)
        ax.plot(*xy[[i, j]].T, color="tab:green" if value > 0 else "tab:orange",
                linewidth=0.5 + 6 * abs(value) / (strongest or 1.0), alpha=0.8, zorder=1)
    size = 60 + 1400 * np.abs(importance) / (np.abs(importance).max() or 1.0)
    ax.scatter(*xy.T, s=size, c=np.where(importance >= 0, "#4c78a8", "#e45756"), edgecolors="k", zorder=2)
    for (x, y), name in zip(xy, names):
        ax.annotate(name, (1.22 * x, 1.22 * y), ha="center", va="center", fontsize=9)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"Part interactions: {graph.class_labels[row]} ({int(graph.counts[row])} images)", fontsize=10)
    handles = [Line2D([], [], color="tab:green", lw=3, label="synergy"),
               Line2D([], [], color="tab:orange", lw=3, label="redundancy")]
    ax.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8, bbox_to_anchor=(0.5, -0.08))
    return fig


def plot_counterfactual(
    counterfactual: "PartCounterfactual", part_names: Sequence[str], target_names: Sequence[str] | None = None
) -> "Figure":
    """A part-swap counterfactual: the image, the donor, the counterfactual and the path.

    The counterfactual's swapped parts are outlined; the last panel follows the
    probability of the desired and of the original class as the parts are swapped in, in
    order, with the swap that changed the decision marked.

    Parameters
    ----------
    counterfactual : skpartx.counterfactual.PartCounterfactual
    part_names : sequence of str
    target_names : sequence of str, default=None

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    label = lambda c: display_name(c, target_names, unnamed="class {}")  # noqa: E731
    cf = counterfactual
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.3), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    swapped = np.isin(cf.query_mask, [list(part_names).index(name) for name in cf.swapped])
    panels = (
        (cf.query_image, f"image: {label(cf.original_class)}"),
        (cf.donor_image, f"donor: {label(cf.desired_class)}"),
        (cf.image, f"counterfactual: {label(cf.desired_class) if cf.flipped else 'not flipped'}"),
    )
    for ax, (image, title) in zip(axes, panels):
        ax.imshow(_rgb_pictures(image))
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if swapped.any():
        axes[2].contour(swapped, levels=[0.5], colors="yellow", linewidths=1.2)
    steps = np.arange(len(cf.path))
    axes[3].plot(steps, cf.path, "o-", color="#4c78a8", label=label(cf.desired_class))
    axes[3].plot(steps, cf.original_path, "s--", color="#e45756", label=label(cf.original_class))
    if cf.flipped:
        axes[3].axvline(cf.n_swapped, color="k", linestyle=":", linewidth=1)
    axes[3].set_xticks(steps, ["none"] + [f"+{name}" for name in cf.order], rotation=40, ha="right", fontsize=8)
    axes[3].set_ylim(-0.02, 1.02)
    axes[3].set_ylabel("probability")
    axes[3].set_title("swapping parts in, most decisive first", fontsize=9)
    axes[3].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
