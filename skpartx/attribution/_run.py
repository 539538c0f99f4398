"""One attribution method run over many images, chunk by chunk.

:class:`AttributionRun` is what a fitted :class:`~skpartx.PartAttributor` computes, apart
from the estimator: the value function, the method with its settings, and how images are
cut into chunks, each with its own random seed. ``transform``, ``explain``,
``baseline_report`` and the cluster runs of ``skpartx.parallel`` all go through it, so a
chunk computed anywhere gives what ``transform`` gives. :class:`AttributionRunMixin` gives
the attributor its public methods over it (``explained_classes``, ``coalition_engine``, the
chunk protocol ``plan_chunks`` / ``attribute_chunk`` / ``scores_from_chunks``,
``baseline_report``), apart from the estimator's parameters and outputs.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state

from .._core.cache import estimator_fingerprint
from .._core.chunks import ChunkedRun, iter_chunks, json_lists
from .._core.progress import progress_bar
from .._core.torch_utils import ModelCallError, batch_slices
from ._explanations import baseline_table, join_results
from ._methods import REGISTRY
from ._value_function import ValueFunction, baseline_results

if TYPE_CHECKING:
    import pandas as pd

    from .._core.part_images import PartImages
    from .._core.part_scores import PartScoreArray
    from .._engine.coalitions import CoalitionEngine

# Part of every cache and out_dir key: results of an older layout are never reused.
_RESULT_LAYOUT = 2


def check_targets(target, n_images):
    """``target`` as one class per image, or None (each image's predicted class)."""
    if target is None:
        return None
    target = np.asarray(target, dtype=np.int64).reshape(-1)
    if target.size and target.min() < 0:
        raise ValueError(f"target holds class {int(target.min())}; classes are the model's output indices 0, 1, ...")
    if target.size == 1:
        target = np.repeat(target, n_images)
    if len(target) != n_images:
        raise ValueError(f"target must hold one class per image ({n_images}), got {len(target)}.")
    return target


@dataclass
class AttributionRun:
    """A method run on images in chunks of ``chunk_size``.

    Attributes
    ----------
    values : ValueFunction
        What a coalition of an image's parts is worth.
    method : str
        A name in ``skpartx.attribution._methods.REGISTRY``.
    settings : dict
        The method's settings by name (a superset is fine).
    chunk_size : int
        Images per chunk: one engine, one random seed, one file in ``out_dir``.
    random_state : int, RandomState instance or None
        Source of the chunks' seeds.
    """

    values: ValueFunction
    method: str
    settings: dict
    chunk_size: int
    random_state: object = None

    def plan(self, n_images):
        """The chunks of ``n_images`` images and each chunk's random seed."""
        chunks = batch_slices(n_images, int(self.chunk_size))
        return chunks, check_random_state(self.random_state).randint(2**31 - 1, size=len(chunks))

    def chunk(self, X, target, seed):
        """Arrays (scores, values, targets, evaluations, baseline results, array details) and
        lists (MSXs) of the images ``X``; ``target`` checked, or ``None`` for the decisions."""
        engine, target = self.values.engine_and_classes(X, target)
        scores, details = REGISTRY[self.method].run(engine, engine.present, np.random.RandomState(seed), self.settings)
        full, empty = engine.full_and_empty()
        arrays = {"scores": scores, "full": full, "empty": empty, "targets": target, **baseline_results(engine)}
        arrays["evaluations"] = engine.evaluations
        lists = {}
        for key, value in details.items():
            (arrays if isinstance(value, np.ndarray) else lists)[key] = value
        return arrays, json_lists(lists)

    def run(self, X, target=None, out_dir=None, key=None, verbose=False):
        """Per-image results of every image of ``X`` (see :func:`~skpartx.attribution._explanations.join_results`).

        With ``out_dir``, each completed chunk is written there under the fingerprint
        ``key``, and a rerun loads the chunks already done; the result is the same.
        """
        chunks, seeds = self.plan(len(X))
        run = None if out_dir is None else ChunkedRun(out_dir, "attribution", key, len(X), int(self.chunk_size))

        def compute(k, loaded):
            chunk, part = loaded
            try:
                return self.chunk(part, None if target is None else target[chunk], seeds[k])
            except ModelCallError as exc:  # name the images by their position in X, not in the chunk
                raise exc.shifted(chunk.start) from exc.cause

        results = []
        with progress_bar(verbose, len(X), f"{self.method} attribution", unit="image") as bar:
            for chunk, result in iter_chunks(chunks, compute, run, lambda c: (c, self.values.read(X, c))):
                results.append(result)
                bar.update(chunk.stop - chunk.start)
        return join_results(results, self.values.n_parts)

    def baseline_results(self, X, target=None):
        """Explained classes and baseline results (see :func:`~skpartx.attribution._value_function.baseline_results`)
        of every image of ``X``, chunk by chunk, without running the method."""
        parts = []
        for chunk in batch_slices(len(X), int(self.chunk_size)):
            engine, targets = self.values.engine_and_classes(
                self.values.read(X, chunk), None if target is None else target[chunk]
            )
            parts.append(({"targets": np.asarray(targets), **baseline_results(engine)}, {}))
        return join_results(parts, self.values.n_parts)


class AttributionRunMixin:
    """The value function and chunked runs of a fitted attributor: what ``transform``,
    ``explain``, ``baseline_report`` and cluster runs compute, apart from the estimator's
    parameters and outputs.

    Needs, from the estimator it is mixed into: the fitted ``model_``, ``device_``,
    ``part_names_``, ``mean_colour_``, ``references_`` and ``layer_``; the parameters ``method``, ``output``,
    ``batch_size``, ``chunk_size``, ``random_state``, ``out_dir``, ``tau`` and ``verbose``;
    ``_baseline()`` (the baseline in use), ``_check_X(X)`` (checked images) and
    ``_transform_output(X, results, stacklevel)`` (what ``transform`` returns).
    """

    def _run(self):
        """The attribution this fitted attributor computes (see ``skpartx.attribution._run``)."""
        values = ValueFunction(self.model_, self._baseline(), self.output, self.device_, self.batch_size,
                               self.mean_colour_, len(self.part_names_))
        settings = {**self.get_params(deep=False), "layer": self.layer_}  # the layer as resolved in fit
        return AttributionRun(values, self.method, settings, int(self.chunk_size), self.random_state)

    def _targets(self, X, target):
        """One class per image of ``X``: ``target`` checked, or the model's predicted classes."""
        target = check_targets(target, len(X))
        return self._run().values.predicted_classes(X) if target is None else target

    def explained_classes(self, X: "PartImages", target: int | ArrayLike | None = None) -> np.ndarray:
        """The class each image of ``X`` is explained for.

        Parameters
        ----------
        X : PartImages
        target : int or array-like of shape (n_images,), default=None
            Class to explain per image (checked); default: the model's predicted class
            (one forward pass over ``X``).

        Returns
        -------
        targets : ndarray of shape (n_images,)
        """
        X = self._check_X(X)
        return np.asarray(self._targets(X, target))

    def coalition_engine(self, X: "PartImages", target: int | ArrayLike | None = None) -> "CoalitionEngine":
        """The coalition engine that values composites of ``X``'s images as this attributor does.

        Its ``evaluate(image_idx, keep)`` gives the model's value of the explained class
        (this attributor's ``output``) with only the kept parts of each image shown and the
        rest replaced by the baseline; metrics and other explanations build on it.

        Parameters
        ----------
        X : PartImages
            Images with filled part masks and this attributor's part names.
        target : int or array-like of shape (n_images,), default=None
            Class to explain per image; default: the model's predicted class.

        Returns
        -------
        engine : CoalitionEngine
            See ``skpartx._engine.coalitions.CoalitionEngine``.
        """
        X = self._check_X(X)
        return self._run().values.engine(X, self._targets(X, target))

    def plan_chunks(self, X: "PartImages") -> "tuple[PartImages, list[slice], np.ndarray]":
        """How ``transform`` splits ``X``: the checked images, their chunks and each chunk's seed.

        With :meth:`attribute_chunk` and :meth:`scores_from_chunks` this lets chunks be
        computed anywhere (e.g. on the workers of a cluster) with the result of
        ``transform``: each chunk draws its random seed from ``random_state`` here.

        Parameters
        ----------
        X : PartImages

        Returns
        -------
        X : PartImages
            ``X`` checked against the fitted part names.
        chunks : list of slice
            Consecutive chunks of ``chunk_size`` images.
        seeds : ndarray of int
            Random seed of each chunk.
        """
        X = self._check_X(X)
        return (X, *self._run().plan(len(X)))

    def attribute_chunk(self, X: "PartImages", seed: int, target: ArrayLike | None = None) -> tuple[dict, dict]:
        """The attribution of one chunk of images, as ``transform`` computes it.

        Parameters
        ----------
        X : PartImages
            One chunk of the images that :meth:`plan_chunks` returned.
        seed : int
            The chunk's seed from :meth:`plan_chunks`.
        target : array-like of shape (n_images,), default=None
            Class to explain per image; default: the model's predicted class.

        Returns
        -------
        arrays : dict of str to ndarray
            Per-image results, one row per image (part scores or MSX codes, values of the
            full and all-baseline images, classes, baseline probabilities, method details).
        lists : dict of str to list
            Per-image results that are lists (the MSXs, as part ids).
        """
        return self._run().chunk(X, check_targets(target, len(X)), seed)

    def scores_from_chunks(
        self, X: "PartImages", results: Sequence[tuple[dict, dict]]
    ) -> "PartScoreArray | pd.DataFrame":
        """What ``transform(X)`` returns, from :meth:`attribute_chunk`'s results of the chunks
        of :meth:`plan_chunks`, in order. Warns as ``transform`` does.

        Parameters
        ----------
        X : PartImages
            The images :meth:`plan_chunks` returned.
        results : list of (dict, dict)
            :meth:`attribute_chunk`'s result for each chunk.

        Returns
        -------
        scores : PartScoreArray or DataFrame
            See :meth:`transform`.
        """
        # Warnings point at the caller of transform_on_cluster.
        return self._transform_output(X, join_results(results, len(self.part_names_)), stacklevel=5)

    def _fingerprint(self, *state):
        """Key of everything a result depends on: parameters, fitted state and ``state``."""
        # Without references (any other baseline) the keys are those from before they existed.
        references = () if self.references_ is None else (self.references_,)
        unused = ("n_references",) if self.references_ is None else ()
        return estimator_fingerprint(self, _RESULT_LAYOUT, self.mean_colour_, self.part_names_, self.layer_,
                                     *references, *state, unused=unused)

    def _attribute(self, X, target=None):
        """Per image: scores, values, targets, evaluations, baseline results and details, chunk by chunk.

        Each chunk draws its own random seed from ``random_state``, so a run resumed from
        ``out_dir`` gives what an uninterrupted run gives.
        """
        X = self._check_X(X)
        target = check_targets(target, len(X))
        key = None if self.out_dir is None else self._fingerprint(X, target)
        return self._run().run(X, target, self.out_dir, key, self.verbose)

    def baseline_report(self, X: "PartImages", target: int | ArrayLike | None = None) -> "pd.DataFrame":
        """How much each explained class's explanations owe to the baseline.

        The value of a coalition replaces the parts outside it by the baseline. If the
        model already assigns a class to the all-baseline composite (every part
        replaced), explanations of that class are hollow: even the empty set may suffice.
        This costs one forward pass per image for its class and full-image probability,
        and one per all-baseline composite, where images sharing one composite (the
        ``"zero"`` and ``"mean"`` baselines, a colour or an image, on fully labelled
        masks) share one pass.

        Parameters
        ----------
        X : PartImages
        target : int or array-like of shape (n_images,), default=None
            Class to explain per image; default: the model's predicted class.

        Returns
        -------
        report : DataFrame
            One row per explained class (index ``"class"``), with columns
            ``n_images``; ``baseline_probability``, the mean probability of the class on
            its images' all-baseline composites; ``baseline_sufficient``, the share of its
            images where the baseline alone keeps at least ``tau`` × the full image's
            probability of the class; ``baseline_class``, the class those composites are
            most often assigned (their arg-max), and ``baseline_class_probability``, that
            class's mean probability on them.
        """
        X = self._check_X(X)
        return baseline_table(self._run().baseline_results(X, check_targets(target, len(X))), self.tau)
