"""A part-swap counterfactual of one image, and its figure."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._core.curves import trapezoid_auc
from .._core.figures import pyplot, rgb_pictures
from .._core.labels import display_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class PartCounterfactual:
    """A counterfactual of one image: parts swapped in from a donor until the decision changes.

    Attributes
    ----------
    index : int
        Position of the image in the explained ``X``.
    original_class, desired_class : int
        The model's class on the image, and the class asked for.
    flipped : bool
        Whether the model decides for ``desired_class`` after the swaps.
    image : ndarray (C, H, W)
        The counterfactual image.
    query_image, query_mask : ndarray
        The explained image and its part ids.
    donor_index : int
        Position of the donor in the ``X`` given to ``fit``.
    donor_image, warped_donor : ndarray (C, H, W)
        The donor, and its content laid onto the query's parts.
    swapped : list of str
        The dominant parts, in swap order.
    invariant : list of str
        The query's parts left as they are.
    order : list of str
        Every part of the query, in swap order.
    path, original_path : ndarray (n_parts_in_image + 1,)
        Probability of the desired and of the original class after 0, 1, ... swaps.
    part_values : dict of str to float
        Shapley value of each part in the swap game (or nothing for a random order).
    n_evaluations : int
        Model evaluations spent on this image (all its donors).
    """

    index: int
    original_class: int
    desired_class: int
    flipped: bool
    image: np.ndarray
    query_image: np.ndarray
    query_mask: np.ndarray
    donor_index: int
    donor_image: np.ndarray
    warped_donor: np.ndarray
    swapped: list
    invariant: list
    order: list
    path: np.ndarray
    original_path: np.ndarray
    part_values: dict = field(default_factory=dict)
    n_evaluations: int = 0

    @property
    def n_swapped(self) -> int:
        return len(self.swapped)

    @property
    def insertion_auc(self) -> float:
        """Area under the desired class's probability as parts are swapped in (higher: faster)."""
        return trapezoid_auc(self.path)

    @property
    def deletion_auc(self) -> float:
        """Area under the original class's probability as parts are swapped out (lower: faster)."""
        return trapezoid_auc(self.original_path)

    def plot(self, part_names: Sequence[str], target_names: Sequence[str] | None = None) -> "Figure":
        """Query, donor, counterfactual and the probability path; see
        :func:`plot_counterfactual`."""
        return plot_counterfactual(self, part_names, target_names)


def plot_counterfactual(
    counterfactual: PartCounterfactual, part_names: Sequence[str], target_names: Sequence[str] | None = None
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
    plt = pyplot()
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
        ax.imshow(rgb_pictures(image))
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
