"""What every stage's figures share: matplotlib on demand, pictures, part colours, part masks and
class × part tables (matplotlib).

Imports only numpy and matplotlib: a stage's figures draw its result objects with these.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def pyplot():
    """``matplotlib.pyplot``, imported on first use (so that importing skpartx does not load it)."""
    import matplotlib.pyplot as plt

    return plt


def rgb_pictures(images: ArrayLike) -> np.ndarray:
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


def part_legend(fig, part_names):
    """A legend of part colours along the bottom of ``fig``."""
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
    plt = pyplot()
    n = min(n_images, len(images))
    rows = 2 + (true_masks is not None)
    fig, axes = plt.subplots(rows, n, figsize=(1.8 * n, 1.9 * rows + 0.5), squeeze=False)
    pictures = rgb_pictures(images[:n])
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
    part_legend(fig, part_names)
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
    plt = pyplot()
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
