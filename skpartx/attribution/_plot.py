"""The attribution stage's figures: part importance per class, one image's explanation, and the
composites an attributor shows the model (drawn from arrays; :func:`plot_removals` computes them)."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._core.figures import plot_class_part_table, pyplot, rgb_pictures
from .._core.labels import display_name

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._explanations import LocalExplanation


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
    plt = pyplot()
    picture = rgb_pictures(image)
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


class CompositeRow(NamedTuple):
    """One row of :func:`plot_composites`: an attributor's composites of one image and what the model says."""

    name: str
    images: np.ndarray  # (n_composites, C, H, W) in [0, 1]
    class_label: str
    probabilities: np.ndarray  # (n_composites,): the model's probability of the class on each


def plot_composites(rows: Sequence[CompositeRow], columns: Sequence[str]) -> "Figure":
    """A grid of composites, a row per attributor and a column per removal, each titled with the
    model's probability of the class (see :func:`skpartx.plotting.plot_removals`)."""
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.3 * len(columns) + 0.6, 2.5 * len(rows)),
                             squeeze=False)
    for axes_row, row in zip(axes, rows):
        for ax, picture, title, probability in zip(axes_row, rgb_pictures(row.images), columns, row.probabilities):
            ax.imshow(np.clip(picture, 0, 1))
            ax.set_title(f"{title}\np({row.class_label}) = {probability:.2f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        axes_row[0].set_ylabel(row.name, fontsize=9)
    fig.tight_layout()
    return fig
