"""What the model is shown when parts are removed: composites computed by attributors, drawn."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._core.labels import display_name
from ._plot import CompositeRow, plot_composites

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .._core.part_images import PartImages
    from ._attributor import PartAttributor


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
    if not isinstance(attributors, dict):
        baseline = attributors.baseline
        attributors = {baseline if isinstance(baseline, str) else type(baseline).__name__: attributors}
    removed = list(removed)
    sets = [[]] + [[part] for part in removed] + ([removed] if len(removed) > 1 else [])
    columns = ["whole"] + [f"without {' and '.join(parts)}" for parts in sets[1:]]
    rows = []
    for name, attributor in attributors.items():
        unknown = set(removed) - set(attributor.part_names_)
        if unknown:
            raise ValueError(f"unknown part(s) {sorted(unknown)}; the attributor's parts are {list(attributor.part_names_)}.")
        engine = attributor.coalition_engine(X[:1], target)
        keep = np.repeat(engine.present[:1], len(sets), axis=0)
        for i, parts in enumerate(sets):
            keep[i, [attributor.part_names_.index(part) for part in parts]] = False
        index = np.zeros(len(sets), dtype=int)
        label = display_name(int(engine.targets[0]), target_names, unnamed="class {}")
        rows.append(CompositeRow(name, engine.composite_images(index, keep)[:, 0], label,
                                 engine.evaluate(index, keep, output="probability")))
    return plot_composites(rows, columns)
