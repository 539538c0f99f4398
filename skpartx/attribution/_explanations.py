"""What an attribution run gives back, and how it is read.

Per-image results of :class:`~skpartx.PartAttributor` travel as one dict of arrays (part
scores or MSX codes, the values of the full and all-baseline images, explained classes,
baseline probabilities, method details). This module turns them into
:class:`LocalExplanation` objects, the per-class baseline report and the warnings of a
call, and holds the reading of MSX membership codes as per-part shares.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._core.part_scores import MAX_MSX, as_output, column_part_ids, decode_msx, table_info

# transform and explain warn when the all-baseline composites are confidently one class:
# on at least BASELINE_WARNING_SHARE of the images, the same class with a probability of
# at least BASELINE_WARNING_PROBABILITY.
BASELINE_WARNING_PROBABILITY = 0.9
BASELINE_WARNING_SHARE = 0.5
# Per-image results that are not method details (explain's ``extras``).
COMMON_RESULTS = ("scores", "full", "empty", "targets", "evaluations", "baseline_probabilities",
                  "full_probability", "msx", "msx_truncated", "msx_stopped", "exact_by_default")


@dataclass
class LocalExplanation:
    """The explanation of one image's explained class in terms of its parts.

    Attributes
    ----------
    target : int
        The explained class.
    full_score : float
        Model value (probability or logit) on the full image.
    empty_score : float
        Model value with every part replaced by the baseline.
    scores : dict of str to float
        Part name → score of the method; parts absent from the image score 0. For
        ``method="msx"``: the share of the image's MSXs that contain the part (see
        :func:`~skpartx.attribution.msx_part_shares`).
    msx : list of frozenset of str
        Minimal sufficient explanations (``method="msx"``; empty for other methods),
        smallest first: the ``m``-th is bit ``m`` of the membership codes ``transform``
        returns. ``[frozenset()]`` when the baseline alone is sufficient.
    extras : dict
        Method-specific details, each a dict by part name: ``"standard_errors"`` (sampled
        Shapley); ``"p_values"``, ``"effect_sizes"`` and ``"curves"`` (property gradients).
    n_evaluations : int
        Model evaluations of composites this image needed (each distinct one once; one
        all-baseline composite shared by several images counts for the first of them).
    baseline_probabilities : ndarray of shape (n_classes,)
        The model's softmax over all classes on the image's all-baseline composite (every
        part replaced by the baseline; unlabelled pixels, if any, stay). If it already
        favours a class confidently, explanations of that class owe much to the baseline.
    baseline_sufficient : bool
        Whether the baseline alone keeps at least ``tau`` × the full image's probability
        of the explained class. Judged on probabilities whatever ``output``, with the
        attributor's ``tau`` for every method (for ``"msx"``: the empty MSX). True means
        the baseline is not neutral for this class: no part is needed to keep the decision.
    """

    target: int
    full_score: float
    empty_score: float
    scores: dict
    msx: list = field(default_factory=list)
    extras: dict = field(default_factory=dict)
    n_evaluations: int = 0
    # An array would make == between explanations ambiguous; baseline_sufficient is compared.
    baseline_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False)
    baseline_sufficient: bool = False

    def top_parts(self, k=3):
        """The ``k`` highest-scoring part names, best first."""
        return [name for name, _ in sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]]


def msx_part_shares(F):
    """Share of each image's minimal sufficient explanations that contain each part.

    ``PartAttributor(method="msx").transform`` returns membership codes, which say which
    parts form which MSX (see :func:`decode_msx`); this is the per-part number to use
    where one score per part is needed (rankings, deletion curves, bar charts). An image
    whose only MSX is empty (the baseline alone suffices) has shares of 0.

    Parameters
    ----------
    F : array-like or DataFrame of shape (n_images, n_parts)
        Membership codes of the parts. With ``relations=True`` leave out the relation
        columns that follow the parts, e.g. ``F[:, :n_parts]``.

    Returns
    -------
    shares : ndarray or DataFrame of shape (n_images, n_parts)
        A DataFrame when ``F`` is one (same index and columns), else an array that keeps
        ``F``'s column names; both marked as plain scores.

    Examples
    --------
    >>> import numpy as np
    >>> from skpartx.attribution import msx_part_shares
    >>> codes = np.array([[0, 1, 3, 2], [0, 0, 0, 0]])  # MSXs {1, 2} and {2, 3}; the empty MSX
    >>> msx_part_shares(codes)
    PartScoreArray([[0. , 0.5, 1. , 0.5],
                    [0. , 0. , 0. , 0. ]])
    """
    names, encoding = table_info(F)
    if encoding not in (None, "msx"):
        raise ValueError(f"F holds {encoding!r}, not MSX membership codes; msx_part_shares reads method='msx' output.")
    sets = decode_msx(F)
    shares = np.zeros(np.shape(F), dtype=np.float64)
    for i, image_sets in enumerate(sets):
        for members in image_sets:
            shares[i, list(members)] += 1.0 / len(image_sets)
    if isinstance(F, pd.DataFrame):
        return as_output(shares, F.columns, "scores", pandas=True, part_ids=column_part_ids(F)).set_axis(F.index)
    return as_output(shares, names, "scores", part_ids=column_part_ids(F))


def join_results(results, n_parts):
    """One dict of per-image results from chunks' ``(arrays, lists)`` (see ``attribute_chunk``)."""
    from .._core.chunks import concatenate_chunks

    if not results:
        return {"scores": np.zeros((0, n_parts)), "full": np.zeros(0), "empty": np.zeros(0),
                "targets": np.zeros(0, dtype=np.int64), "evaluations": np.zeros(0, dtype=np.int64),
                "baseline_probabilities": np.zeros((0, 0)), "full_probability": np.zeros(0)}
    arrays, lists = concatenate_chunks(results)
    return {**arrays, **lists}


def baseline_sufficient(results, tau):
    """Per image: does the baseline alone keep ``tau`` × the full image's probability of its class?"""
    probabilities, targets = results["baseline_probabilities"], results["targets"]
    if not len(targets):
        return np.zeros(0, dtype=bool)
    return probabilities[np.arange(len(targets)), targets] >= tau * results["full_probability"]


def warn_about_results(results, baseline_name, other_baselines, uses_baseline, stacklevel):
    """The warnings of one ``transform`` or ``explain`` call: MSXs beyond what the codes hold,
    and all-baseline composites that are confidently one class.

    ``stacklevel`` counts from this function to the user's call.
    """
    truncated = int(np.sum(results.get("msx_truncated", 0)))
    if truncated:
        warnings.warn(
            f"{truncated} image(s) had more than {MAX_MSX} minimal sufficient explanations; transform encodes "
            f"their {MAX_MSX} smallest (explain lists all). Fewer parts or a higher tau give fewer.",
            UserWarning,
            stacklevel=stacklevel,
        )
    stopped = np.flatnonzero(results.get("msx_stopped", []))
    if len(stopped):
        warnings.warn(
            f"the MSX search of {len(stopped)} image(s) (e.g. image {stopped[0]}) spent max_evals before it found a "
            "sufficient set smaller than all parts: their MSX is all parts, pruned as far as the budget allowed. "
            "A larger max_evals searches further.",
            UserWarning,
            stacklevel=stacklevel,
        )
    exact = int(np.sum(results.get("exact_by_default", 0)))
    if exact:
        warnings.warn(
            f"{exact} image(s) have more parts than max_evals covers (2**P > max_evals) but at most 12: under the "
            "default max_exact_parts their Shapley values are exact, at 2**P evaluations each (up to 4,096). In "
            "skpartx 0.3 the default becomes None, which estimates them within max_evals: on the development games "
            "of benchmarks/exact_parts.py, 575 evaluations reached a median relative squared error of 1e-4 at 12 "
            "parts. Pass max_exact_parts=12 to keep exact values, or None to adopt the new default now.",
            FutureWarning,
            stacklevel=stacklevel,
        )
    probabilities = results["baseline_probabilities"]
    if not uses_baseline or not len(probabilities):
        return
    top = probabilities.argmax(axis=1)
    confident = top[probabilities.max(axis=1) >= BASELINE_WARNING_PROBABILITY]
    if not len(confident):
        return
    counts = np.bincount(confident)
    cls = int(counts.argmax())
    if counts[cls] >= BASELINE_WARNING_SHARE * len(probabilities):
        others = " or ".join(f"baseline={name!r}" for name in other_baselines)
        warnings.warn(
            f"the model assigns class {cls} with probability >= {BASELINE_WARNING_PROBABILITY} to the "
            f"all-baseline composites (every part replaced by baseline={baseline_name!r}) of {counts[cls]} of "
            f"{len(probabilities)} images: it decides class {cls} without any part, so explanations of class "
            f"{cls} owe much to the baseline. Try another baseline ({others}) and see "
            "baseline_report(X).",
            UserWarning,
            stacklevel=stacklevel,
        )


def local_explanations(results, part_names, msx, tau):
    """One :class:`LocalExplanation` per image of ``results`` (``msx``: the scores are MSX codes)."""
    names = part_names
    scores = msx_part_shares(results["scores"]) if msx else results["scores"]
    sufficient = baseline_sufficient(results, tau)
    sets = results.get("msx", [[] for _ in range(len(scores))])
    extras = {key: value for key, value in results.items() if key not in COMMON_RESULTS}
    return [
        LocalExplanation(
            target=int(results["targets"][i]),
            full_score=float(results["full"][i]),
            empty_score=float(results["empty"][i]),
            scores=dict(zip(names, np.asarray(scores[i]).tolist())),
            msx=[frozenset(names[p] for p in s) for s in sets[i]],
            extras={key: dict(zip(names, value[i])) for key, value in extras.items()},
            n_evaluations=int(results["evaluations"][i]),
            baseline_probabilities=results["baseline_probabilities"][i],
            baseline_sufficient=bool(sufficient[i]),
        )
        for i in range(len(scores))
    ]


def baseline_table(results, tau):
    """The per-class baseline report (see ``PartAttributor.baseline_report``) of ``results``."""
    sufficient = baseline_sufficient(results, tau)
    probabilities, targets = results["baseline_probabilities"], results["targets"]
    rows = []
    for cls in np.unique(targets):
        mine = targets == cls
        assigned = int(np.bincount(probabilities[mine].argmax(axis=1)).argmax())
        rows.append({
            "class": int(cls),
            "n_images": int(mine.sum()),
            "baseline_probability": float(probabilities[mine, cls].mean()),
            "baseline_sufficient": float(sufficient[mine].mean()),
            "baseline_class": assigned,
            "baseline_class_probability": float(probabilities[mine, assigned].mean()),
        })
    columns = ["class", "n_images", "baseline_probability", "baseline_sufficient", "baseline_class",
               "baseline_class_probability"]
    return pd.DataFrame(rows, columns=columns).set_index("class")
