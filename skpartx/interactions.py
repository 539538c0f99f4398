"""How parts work together: pairwise Shapley interaction indices and a part graph per class.

The global graph follows the light-weight part of GLANCE (Kori et al.): nodes are parts,
sized by their mean Shapley value for a class, and edges are the mean pairwise Shapley
interaction index of two parts over the class's images — positive for synergy (the pair
is worth more than its parts alone: "a head counts only with a wing"), negative for
redundancy (either part alone is enough). The indices come from the same coalition
values as exact Shapley values, so a graph costs no more model evaluations than exact
part Shapley values do.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state

from ._core.figures import pyplot
from ._core.labels import display_name
from ._core.part_images import as_part_images
from ._core.progress import progress_bar
from ._core.torch_utils import batch_slices
from ._engine import games as _games
from ._engine.shapley import all_coalition_values, coalitions_over, estimated_shapley, exact_pays, groups_by_part_count
from .attribution import PartAttributor

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._core.part_images import PartImages


def _image_interactions(engine, present, shapley_settings, n_samples, rng):
    """Shapley values ``(N, P)`` and interaction indices ``(N, P, P)`` of every image of ``engine``;
    ``shapley_settings``: the attributor's ``max_exact_parts``, ``max_evals``, ``approximator``
    and ``n_samples`` (``None`` unless given)."""
    settings = dict(shapley_settings)
    max_exact_parts = settings.pop("max_exact_parts")
    n, n_parts = present.shape
    phi = np.zeros((n, n_parts))
    interactions = np.zeros((n, n_parts, n_parts))
    for q, group, ids in groups_by_part_count(present):
        if exact_pays(q, max_exact_parts, settings["max_evals"], settings["n_samples"]):
            values = all_coalition_values(engine, group, ids)
            group_phi, group_interactions = _games.exact_shapley(values), _games.exact_interactions(values)
        else:
            group_phi = estimated_shapley(engine, group, ids, rng, **settings)[0]
            group_interactions = np.empty((len(group), q, q))
            for k, image in enumerate(group):
                pairs, coalitions = _games.interaction_samples(q, n_samples, rng)
                keep = coalitions_over(ids[k : k + 1], coalitions.reshape(-1, q), n_parts)[0]
                values = engine.evaluate(np.full(len(keep), image), keep).reshape(len(pairs), n_samples, 4)
                group_interactions[k] = _games.sampled_interactions(pairs, values, q)
        phi[group[:, None], ids] = group_phi
        interactions[group[:, None, None], ids[:, :, None], ids[:, None, :]] = group_interactions
    return phi, interactions


def part_interactions(
    attributor: PartAttributor, X: "PartImages", target: int | ArrayLike | None = None, n_samples: int = 32,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Part Shapley values and pairwise Shapley interaction indices of each image.

    Parameters
    ----------
    attributor : fitted PartAttributor
        Supplies the model, the baseline, the value (probability or logit), the device,
        ``chunk_size`` and how Shapley values are computed (``max_exact_parts``,
        ``max_evals``, ``approximator``).
    X : PartImages
        Images with filled part masks.
    target : int or array-like of shape (n_images,), default=None
        Class explained per image; default: the model's predicted class.
    n_samples : int, default=32
        Sampled coalitions per pair of parts for images whose Shapley values the
        attributor estimates (more than ``attributor.max_exact_parts`` parts and more
        coalitions than ``attributor.max_evals``); their Shapley values are the
        attributor's estimates. Images with fewer parts get exact indices from all
        ``2**P`` coalitions.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    shapley : ndarray of shape (n_images, n_parts)
    interactions : ndarray of shape (n_images, n_parts, n_parts)
        Symmetric, zero diagonal; zero for pairs with a part absent from the image.
    targets : ndarray of shape (n_images,)
        The explained class of each image.
    """
    if not isinstance(attributor, PartAttributor):
        raise TypeError(f"attributor must be a fitted PartAttributor, got {type(attributor).__name__}.")
    if int(n_samples) < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}.")
    X = as_part_images(X)
    targets = attributor.explained_classes(X, target)
    rng = check_random_state(random_state)
    n_parts = len(attributor.part_names_)
    shapley, interactions = np.zeros((len(X), n_parts)), np.zeros((len(X), n_parts, n_parts))
    with progress_bar(attributor.verbose, len(X), "part interactions", unit="image") as bar:
        for chunk in batch_slices(len(X), int(attributor.chunk_size)):
            engine = attributor.coalition_engine(X[chunk], targets[chunk])
            shapley[chunk], interactions[chunk] = _image_interactions(
                engine, engine.present, attributor.shapley_settings(), int(n_samples), rng
            )
            bar.update(chunk.stop - chunk.start)
    return shapley, interactions, targets


@dataclass
class InteractionGraph:
    """Parts and their pairwise interactions, averaged over the images of each class.

    Attributes
    ----------
    part_names : tuple of str
    classes : ndarray of shape (n_classes,)
        The classes, in the order of the first axis of the arrays below.
    class_labels : list of str
    importance : ndarray of shape (n_classes, n_parts)
        Mean Shapley value of each part over the class's images (absent parts count 0).
    interactions : ndarray of shape (n_classes, n_parts, n_parts)
        Mean pairwise Shapley interaction index: > 0 synergy, < 0 redundancy.
    counts : ndarray of shape (n_classes,)
        Images per class.
    """

    part_names: tuple
    classes: np.ndarray
    class_labels: list
    importance: np.ndarray
    interactions: np.ndarray
    counts: np.ndarray

    def class_index(self, target: object) -> int:
        """Row of class ``target`` in ``classes``, ``importance`` and ``interactions``.

        Raises
        ------
        ValueError
            When the graph has no such class.
        """
        matches = np.flatnonzero(self.classes == target)
        if not len(matches):
            raise ValueError(f"class {target!r} is not in the graph; its classes are {list(self.classes)}.")
        return int(matches[0])

    def edges(self, target: object, min_strength: float = 0.0) -> list[tuple[str, str, float]]:
        """``(part, part, index)`` of one class, strongest first, with ``|index| > min_strength``."""
        matrix = self.interactions[self.class_index(target)]
        i, j = np.triu_indices(len(self.part_names), k=1)
        keep = np.abs(matrix[i, j]) > min_strength
        order = np.argsort(-np.abs(matrix[i, j][keep]), kind="stable")
        return [(self.part_names[a], self.part_names[b], float(matrix[a, b])) for a, b in zip(i[keep][order], j[keep][order])]

    def plot(self, target: object, ax: "Axes | None" = None, min_strength: float | None = None) -> "Figure":
        """Draw the graph of one class; see :func:`plot_interactions`."""
        return plot_interactions(self, target, ax=ax, min_strength=min_strength)


def interaction_graph(
    attributor: PartAttributor, X: "PartImages", y: ArrayLike | None = None, target_names: Sequence[str] | None = None,
    n_samples: int = 32, random_state: int | np.random.RandomState | None = None,
) -> InteractionGraph:
    """The part interaction graph of each class.

    Parameters
    ----------
    attributor : fitted PartAttributor
    X : PartImages
    y : array-like of shape (n_images,), default=None
        Class of each image, which is both explained and grouped by; default: the
        model's predicted classes (the graph then shows how the model's decisions use
        parts together).
    target_names : sequence of str, default=None
        Class names for labels.
    n_samples : int, default=32
        See :func:`part_interactions`.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    graph : InteractionGraph
    """
    shapley, interactions, targets = part_interactions(attributor, X, y, n_samples, random_state)
    classes = np.unique(targets)
    rows = [targets == c for c in classes]
    return InteractionGraph(
        part_names=tuple(attributor.part_names_),
        classes=classes,
        class_labels=[display_name(c, target_names) for c in classes],
        importance=np.stack([shapley[r].mean(axis=0) for r in rows]),
        interactions=np.stack([interactions[r].mean(axis=0) for r in rows]),
        counts=np.array([int(r.sum()) for r in rows]),
    )


def plot_interactions(
    graph: InteractionGraph, target: object, ax: "Axes | None" = None, min_strength: float | None = None
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
    plt = pyplot()
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
