"""Part-swap counterfactuals: the explainer (donor search, swap game and swap order)."""

from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._core.features import auto_layers, check_layers, iter_feature_blocks
from .._core.part_images import UNLABELLED, as_part_images, check_fitted_parts, require_labelled
from .._core.progress import progress_bar
from .._core.torch_utils import TorchEstimatorMixin, batch_slices, document_run_parameters, predict_logits, run_constraints
from .._engine.approximators import APPROXIMATORS, warn_if_n_samples
from .._engine.coalitions import CoalitionEngine
from .._engine.shapley import shapley
from ._metrics import counterfactual_metrics
from ._result import PartCounterfactual
from ._warp import warp_donor

if TYPE_CHECKING:
    from .._core.part_images import PartImages



class PartCounterfactualExplainer(TorchEstimatorMixin, BaseEstimator):
    """Counterfactuals by part swaps from the nearest correctly classified images.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier, mapping ``(B, C, H, W)`` images in [0, 1] to logits.
    backbone : torch.nn.Module, default=None
        Network whose features choose the donors; default: ``model``.
    layer : str, default=None
        Module of ``backbone`` whose output, averaged over positions, describes an image;
        default: the deepest module output with a spatial map of at least 4×4.
    order : {"shapley", "random"}, default="shapley"
        Swap order: most negative part Shapley value in the swap game first, or a random
        order (the baseline the Shapley order should beat).
    n_donors : int, default=3
        Donors tried per image; the one that flips the decision with the fewest swaps wins.
    max_exact_parts : int, default=10
        Largest number of parts for exact swap-game Shapley values (also exact while all
        ``2**P`` coalitions fit in ``max_evals``); estimated beyond.
    max_evals : int, default=512
        Model evaluations per (image, donor) for estimated swap-game Shapley values.
    approximator : {"adjusted", "leverage", "permutation"}, default="adjusted"
        How they are estimated; see :class:`~skpartx.PartAttributor`.
    n_samples : int, default="deprecated"
        Permutations for sampled Shapley values, 0.2's estimate: deprecated in 0.2,
        removed in 0.3; given, it overrides ``max_evals`` and ``approximator`` with a
        ``FutureWarning``.
    {run_parameters}

    Attributes
    ----------
    model_, backbone_ : torch.nn.Module
    device_ : torch.device
    layer_ : str
    part_names_ : tuple of str
    classes_ : ndarray
        Classes of ``y`` in ``fit``.
    donors_ : PartImages
        The correctly classified images of ``fit``: the donor pool.
    donor_index_ : ndarray of int
        Their positions in the ``X`` given to ``fit``.
    donor_classes_ : ndarray
    donor_features_ : ndarray of shape (n_donors, n_features)
        Unit-length descriptors used to find the nearest donors.

    Examples
    --------
    >>> from skpartx import PartImages
    >>> from skpartx.counterfactual import PartCounterfactualExplainer
    >>> from skpartx.datasets import make_part_shapes
    >>> from skpartx.models import train_classifier
    >>> data = make_part_shapes(300, image_size=32, random_state=0)
    >>> model = train_classifier(data.images, data.target, epochs=2, random_state=0)
    >>> X = PartImages(data.images, data.masks, data.part_names)
    >>> explainer = PartCounterfactualExplainer(model, random_state=0).fit(X, data.target)
    >>> result = explainer.explain(X[:1], desired=1)[0]
    >>> result.desired_class, len(result.path) == len(result.order) + 1
    (1, True)
    """

    _fitted_modules = ("model_", "backbone_")

    _parameter_constraints = {
        "model": "no_validation",
        "backbone": "no_validation",
        "layer": [str, None],
        "order": [StrOptions({"shapley", "random"})],
        "n_donors": [Interval(Integral, 1, None, closed="left")],
        "max_exact_parts": [Interval(Integral, 1, 20, closed="both")],
        "max_evals": [Interval(Integral, 4, None, closed="left")],
        "approximator": [StrOptions(set(APPROXIMATORS))],
        "n_samples": [Interval(Integral, 2, None, closed="left"), StrOptions({"deprecated"})],
        **run_constraints("chunk_size", "device", "batch_size", "random_state", "verbose"),
    }

    def __init__(
        self,
        model=None,
        backbone=None,
        *,
        layer=None,
        order="shapley",
        n_donors=3,
        max_exact_parts=10,
        max_evals=512,
        approximator="adjusted",
        n_samples="deprecated",
        chunk_size=64,
        device="auto",
        batch_size=None,
        random_state=None,
        verbose=False,
    ):
        self.model = model
        self.backbone = backbone
        self.layer = layer
        self.order = order
        self.n_donors = n_donors
        self.max_exact_parts = max_exact_parts
        self.max_evals = max_evals
        self.approximator = approximator
        self.n_samples = n_samples
        self.chunk_size = chunk_size
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    def __setstate__(self, state):
        # Saved before budgets existed: n_samples stays, so such a pickle keeps 0.2's permutations.
        super().__setstate__({"max_evals": 512, "approximator": "adjusted", **state})

    def _embed(self, images):
        """Unit-length mean feature of each image at ``layer_``."""
        out = []
        for _, _, blocks in iter_feature_blocks(self.backbone_, [self.layer_], images, self.device_, self.batch_size):
            pooled = blocks[0].mean(dim=(2, 3))
            out.append((pooled / pooled.norm(dim=1, keepdim=True).clamp(min=1e-12)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: "PartImages", y: ArrayLike) -> "PartCounterfactualExplainer":
        """Find the correctly classified images of ``X``: the donors.

        Parameters
        ----------
        X : PartImages
            Images with part masks on every image (e.g. the output of
            :class:`PartLabelTransfer`).
        y : array-like of shape (n_images,)
            True classes.

        Returns
        -------
        self : PartCounterfactualExplainer
        """
        warn_if_n_samples("PartCounterfactualExplainer", self.n_samples, stacklevel=3)
        self.model_ = self._fit_module("model")
        backbone = self._fit_module("backbone", required=False)
        self.backbone_ = self.model_ if backbone is None else backbone
        X = as_part_images(X)
        y = column_or_1d(y, warn=True)
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} labels for {len(X)} images; give one true class per image.")
        require_labelled(X, "PartCounterfactualExplainer")
        self.layer_ = (
            check_layers(self.backbone_, self.layer)[0]
            if self.layer is not None
            else auto_layers(self.backbone_, X.images, self.device_)[-1]
        )
        decisions = predict_logits(self.model_, X, self.batch_size, self.device_).argmax(axis=1)
        correct = decisions == y
        if not correct.any():
            raise ValueError("the model classifies none of the images of X correctly, so there is no donor.")
        self.classes_ = np.unique(y)
        self.part_names_ = X.part_names
        self.donor_index_ = np.flatnonzero(correct)
        self.donors_ = X[self.donor_index_]
        self.donor_classes_ = y[self.donor_index_]
        self.donor_features_ = self._embed(self.donors_.images)
        return self

    def _check_desired(self, desired, n_images):
        desired = np.asarray(desired).reshape(-1)
        if desired.size == 1:
            desired = np.repeat(desired, n_images)
        if len(desired) != n_images:
            raise ValueError(f"desired must hold one class per image ({n_images}), got {len(desired)}.")
        missing = sorted(set(desired.tolist()) - set(self.donor_classes_.tolist()))
        if missing:
            raise ValueError(
                f"no correctly classified image of class(es) {missing} was given to fit, so there is no donor; "
                f"classes with donors: {sorted(set(self.donor_classes_.tolist()))}."
            )
        return desired

    def explain(self, X: "PartImages", desired: ArrayLike) -> list[PartCounterfactual]:
        """A counterfactual for each image of ``X``, towards its ``desired`` class.

        Parameters
        ----------
        X : PartImages
            Images with part masks on every image.
        desired : class label or array-like of shape (n_images,)
            The class each image should be taken for (for misclassified images: the true
            class).

        Returns
        -------
        counterfactuals : list of PartCounterfactual
        """
        return self._explain(X, desired, self.order)

    def _explain(self, X, desired, order):
        check_is_fitted(self)
        X = check_fitted_parts(X, self.part_names_, "PartCounterfactualExplainer", "the explainer")
        desired = self._check_desired(desired, len(X))
        rng = check_random_state(self.random_state)
        results = []
        with progress_bar(self.verbose, len(X), "part-swap counterfactuals", unit="image") as bar:
            for chunk in batch_slices(len(X), int(self.chunk_size)):
                results += self._explain_chunk(X[chunk], desired[chunk], chunk.start, order, rng)
                bar.update(chunk.stop - chunk.start)
        return results

    def _nearest_donors(self, features, desired):
        """Positions in the donor pool of the ``n_donors`` nearest donors of each image's desired class."""
        nearest = []
        for feature, target in zip(features, desired):
            candidates = np.flatnonzero(self.donor_classes_ == target)
            similarity = self.donor_features_[candidates] @ feature
            nearest.append(candidates[np.argsort(-similarity, kind="stable")[: self.n_donors]])
        return nearest

    def _explain_chunk(self, X, desired, offset, order, rng):
        images, masks = np.asarray(X.images), np.asarray(X.masks)
        donors = self._nearest_donors(self._embed(images), desired)
        pair_query = np.concatenate([np.full(len(d), i) for i, d in enumerate(donors)])
        pair_donor = np.concatenate(donors)
        donor_images = {int(d): np.asarray(self.donors_.images[int(d)]) for d in np.unique(pair_donor)}
        donor_masks = {d: np.asarray(self.donors_.masks[d]) for d in donor_images}
        warped = np.stack([warp_donor(masks[q], donor_images[int(d)], donor_masks[int(d)])
                           for q, d in zip(pair_query, pair_donor)])
        n_parts = len(self.part_names_)
        engine = CoalitionEngine(self.model_, images[pair_query], masks[pair_query], desired[pair_query], n_parts,
                                 baseline=warped, device=self.device_, batch_size=self.batch_size)
        present = engine.present
        if order == "shapley":
            legacy = None if isinstance(self.n_samples, str) else int(self.n_samples)  # "deprecated": not given
            values = shapley(engine, present, self.max_exact_parts, rng, max_evals=self.max_evals,
                             approximator=self.approximator, n_samples=legacy)[0]
            orders = [sorted(np.flatnonzero(p), key=lambda part: (v[part], part)) for p, v in zip(present, values)]
        else:
            values = np.zeros(present.shape)
            orders = [list(rng.permutation(np.flatnonzero(p))) for p in present]
        # Prefix k of an order swaps its first k parts in: keep the rest of the query's parts.
        keep = [present[m] & ~np.isin(np.arange(n_parts), o[:k]) for m, o in enumerate(orders) for k in range(len(o) + 1)]
        starts = np.cumsum([0] + [len(o) + 1 for o in orders])
        proba = engine.probabilities(np.repeat(np.arange(len(orders)), [len(o) + 1 for o in orders]), np.array(keep))
        # Step 0 of a path keeps every part of the query: the model's own decision on it.
        original = proba[starts[:-1][np.searchsorted(pair_query, np.arange(len(X)))]].argmax(axis=1)
        results = []
        for q in range(len(X)):
            best = None
            for m in np.flatnonzero(pair_query == q):
                path = proba[starts[m] : starts[m + 1]]
                decided = np.flatnonzero(path.argmax(axis=1) == desired[q])
                n_swaps = int(decided[0]) if len(decided) else len(orders[m])
                rank = (not len(decided), n_swaps, -path[n_swaps, desired[q]])
                if best is None or rank < best[0]:
                    best = (rank, m, n_swaps, path, bool(len(decided)))
            _, m, n_swaps, path, flipped = best
            names = [self.part_names_[p] for p in orders[m]]
            kept = np.isin(masks[q], [p for p in orders[m][n_swaps:]]) | (masks[q] == UNLABELLED)
            results.append(
                PartCounterfactual(
                    index=offset + q,
                    original_class=int(original[q]),
                    desired_class=int(desired[q]),
                    flipped=flipped,
                    image=np.where(kept[None], images[q], warped[m]).astype(np.float32),
                    query_image=images[q],
                    query_mask=masks[q],
                    donor_index=int(self.donor_index_[pair_donor[m]]),
                    donor_image=donor_images[int(pair_donor[m])],
                    warped_donor=warped[m],
                    swapped=names[:n_swaps],
                    invariant=names[n_swaps:],
                    order=names,
                    path=path[:, desired[q]].copy(),
                    original_path=path[:, original[q]].copy(),
                    part_values={self.part_names_[p]: float(values[m, p]) for p in orders[m]} if order == "shapley" else {},
                    n_evaluations=int(engine.evaluations[pair_query == q].sum()),
                )
            )
        return results

    def _misclassified(self, X, y):
        """``X``, ``y`` checked, and the positions of the images the model gets wrong."""
        check_is_fitted(self)
        X = as_part_images(X)
        y = column_or_1d(y)
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} labels for {len(X)} images; give one true class per image.")
        decisions = predict_logits(self.model_, X, self.batch_size, self.device_).argmax(axis=1)
        return X, y, np.flatnonzero(decisions != y)

    def explain_misclassified(self, X: "PartImages", y: ArrayLike) -> tuple[np.ndarray, list[PartCounterfactual]]:
        """Counterfactuals towards the true class of every image the model gets wrong.

        Returns
        -------
        indices : ndarray of int
            Positions in ``X`` of the misclassified images.
        counterfactuals : list of PartCounterfactual
            One per misclassified image (``index`` refers to ``X``).
        """
        X, y, wrong = self._misclassified(X, y)
        found = self.explain(X[wrong], y[wrong]) if len(wrong) else []
        for counterfactual in found:
            counterfactual.index = int(wrong[counterfactual.index])
        return wrong, found

    def evaluate(self, X: "PartImages", y: ArrayLike) -> pd.DataFrame:
        """Counterfactual metrics on the misclassified images of ``X``, in the Shapley and a random order.

        Returns
        -------
        metrics : pandas.DataFrame
            One row per order (``"shapley"``, ``"random"``), columns as in
            :func:`counterfactual_metrics`.
        """
        X, y, wrong = self._misclassified(X, y)
        rows = {order: counterfactual_metrics(self._explain(X[wrong], y[wrong], order) if len(wrong) else [])
                for order in ("shapley", "random")}
        return pd.DataFrame.from_dict(rows, orient="index")

    def score(self, X: "PartImages", y: ArrayLike) -> float:
        """Flip rate: share of the misclassified images of ``X`` whose counterfactual reaches the true class.

        Only the estimator's ``order`` runs (:meth:`evaluate` compares both orders).
        """
        X, y, wrong = self._misclassified(X, y)
        metrics = counterfactual_metrics(self._explain(X[wrong], y[wrong], self.order) if len(wrong) else [])
        return float(metrics["flip_rate"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        tags.non_deterministic = self.order == "random"
        return tags


document_run_parameters(
    PartCounterfactualExplainer,
    ["chunk_size", "device", "batch_size", "random_state", "verbose"],
    notes={"batch_size": "Halved on out-of-memory."},
    items="Images or composites",
    random="Seed for the random swap order and sampled Shapley values.",
)
