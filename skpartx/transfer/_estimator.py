"""Transfer part labels from a few labelled images to every image."""

from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.cache import cached, estimator_fingerprint
from .._core.features import FeatureReader, resolve_layers
from .._core.part_images import PartImages
from .._core.torch_utils import TorchEstimatorMixin, document_run_parameters, run_constraints
from ._checks import check_backbone, check_fit_images, check_fit_labels, check_fitted_images, labelled_images
from ._fill import fill_in_chunks, fill_masks, least_confident
from ._fit import feature_size, fit_probe, fit_reference_matcher
from ._iou import iou_per_part, mean_iou
from ._proba import iter_part_proba, most_probable_parts

METHODS = ("probe", "knn", "hpf")
# What a fit learns: cached by ``memory`` and, with the parameters, keying transfer results.
_FITTED_STATE = ("layers_", "part_names_", "image_shape_", "feature_size_", "matcher_", "n_labelled_", "labelled_")

_PARAMETER_CONSTRAINTS = {
    "backbone": "no_validation",
    "layers": [str, list, tuple, None],
    "method": [StrOptions(set(METHODS))],
    "n_neighbors": [Interval(Integral, 1, None, closed="left"), None],
    "n_references": [Interval(Integral, 1, None, closed="left")],
    "retrieval": [StrOptions({"mean", "gradcam"})],
    "temperature": [Interval(Real, 0, None, closed="neither")],
    "grid_size": [Interval(Integral, 2, None, closed="left"), None],
    "colour_weight": [Interval(Real, 0, None, closed="left")],
    "refine": [StrOptions({"guided"}), None],
    "refine_radius": [Interval(Integral, 1, None, closed="left"), None],
    "min_part_area": [Interval(Real, 0, 1, closed="left")],
    "hidden_units": [Interval(Integral, 0, None, closed="left")],
    "max_pixels": [Interval(Integral, 1, None, closed="left")],
    **run_constraints("random_state", "memory", "out_dir", "chunk_size", "device", "batch_size", "verbose"),
}


class PartLabelTransfer(TorchEstimatorMixin, TransformerMixin, BaseEstimator):
    """Fill in part masks of unlabelled images by correspondence with labelled ones.

    Dense features of the ``backbone`` (hyperpixels: several layers, each L2-normalised
    and resized to one map, plus colour) describe every position of every image; the
    labelled images teach how features map to parts, as ``method`` says. Part
    probabilities are brought to pixels and, by default, refined with a colour guided
    filter so that part boundaries follow the image's edges; parts covering less than
    ``min_part_area`` of an image are then dropped as stray labels.

    Parameters
    ----------
    backbone : torch.nn.Module
        Feature network: the classifier explained, or any network whose features suit
        the images better (e.g. a self-supervised ViT on disk).
    layers : str or list of str, default=None
        Modules (named as in ``backbone.named_modules()``) whose outputs are the features:
        ``(B, C, h, w)`` maps, or tokens ``(B, T, D)`` laid out on the image's patch grid,
        square or not (leading class, distillation and register tokens dropped). ``None``:
        for a transformer (repeated blocks ``blocks.N``, ``encoder.layer.N``,
        ``vit.layers.N``), the blocks at ¼, ½ and ¾ of the depth and the last one; otherwise
        the deepest module output at each spatial resolution of at least 4×4, up to four.
    method : {"probe", "knn", "hpf"}, default="probe"
        - ``"probe"``, the default as it transfers best on the built-in benchmark
          (``benchmarks/RESULTS.md``): a per-pixel MLP (``hidden_units``; 0 for linear)
          trained on the labelled pixels' features, with part-balanced weights.
        - ``"knn"``: dense kNN propagation. Each cell of a target image's feature grid
          takes the softmax(cosine / ``temperature``)-weighted vote of the soft labels of
          its ``n_neighbors`` most similar cells among the ``n_references`` labelled
          images most similar to the target.
        - ``"hpf"``: GEPC's Hough-regularised matching (Hyperpixel Flow). Appearance
          ``clamp(cos, 0)³`` of target and retrieved reference cells votes for their offset
          in a smoothed Hough space; each target cell takes the label of its match(es) of
          best appearance × offset votes.
    n_neighbors : int, default=None
        Reference cells voting per target cell; ``None``: 10 (``knn``), 1 (``hpf``, as HPF).
    n_references : int, default=8
        Labelled images retrieved per target image, the only ones matched (``knn``, ``hpf``).
    retrieval : {"mean", "gradcam"}, default="mean"
        Global descriptor for retrieval: mean feature, or features pooled under the Grad-CAM
        map of the predicted class (needs a classifier backbone; a backward pass per image).
    temperature : float, default=0.1
        Softmax temperature on cosine similarities (``knn``).
    grid_size : int, default=None
        Side of the feature map. ``None``: the image side (at most 64) for ``probe``, half of
        it (at least 8) for ``knn`` and ``hpf``, whose cost grows with its square or fourth power.
    colour_weight : float, default=0.5
        Weight of the image's colour among the features (0 disables it).
    refine : {"guided", None}, default="guided"
        Edge-aware refinement of the probability maps with a colour guided filter.
    refine_radius : int, default=None
        Window radius of the guided filter; ``None``: 1/16 of the image side (at least 1).
    min_part_area : float, default=0.001
        A part transferred onto less than this share of an image's pixels is dropped from
        it, its pixels going to their next most probable part: stray specks would count as
        parts (doubling an attribution's coalitions). 0 keeps everything.
    hidden_units : int, default=64
        Hidden width of the probe (0: linear probe).
    max_pixels : int, default=200_000
        Labelled pixels the probe is trained on (subsampled evenly across images).
    random_state : int, RandomState instance or None, default=None
        Seed of the probe's initialisation and pixel sampling.
    {run_parameters}

    Attributes
    ----------
    backbone_ : torch.nn.Module
        The backbone on ``device_`` in eval mode (a copy if the caller's had to move).
    device_ : torch.device
    layers_ : list of str
        The layers used.
    part_names_ : tuple of str
    feature_size_ : tuple of int
        (h, w) of the feature maps.
    matcher_ : torch.nn.Module
        The fitted method: a ``ProbeClassifier``, or a ``KNNMatcher`` / ``HoughMatcher``
        holding the labelled images' features and soft labels.
    n_labelled_ : int
        Labelled images learnt from.
    confidence_ : ndarray of shape (n_images,)
        Per image of the ``X`` given to ``fit``: mean over pixels of the transferred
        label's probability (given labels count as certain). Low values mark the images
        worth labelling next (see :meth:`suggest_labels`).
    labelled_ : ndarray of shape (n_images,), bool
        Which images of the ``X`` given to ``fit`` were labelled.

    Examples
    --------
    >>> import numpy as np
    >>> from skpartx import PartImages, PartLabelTransfer
    >>> from skpartx.datasets import make_part_shapes
    >>> from skpartx.models import train_classifier
    >>> data = make_part_shapes(300, image_size=32, random_state=0)
    >>> model = train_classifier(data.images, data.target, epochs=1, random_state=0)
    >>> masks = np.full_like(data.masks, -1)
    >>> masks[:20] = data.masks[:20]
    >>> X = PartImages(data.images, masks, data.part_names)
    >>> transfer = PartLabelTransfer(backbone=model, random_state=0).fit(X)
    >>> transfer.transform(X).fully_labelled
    True
    """

    _fitted_modules = ("backbone_", "matcher_")
    _parameter_constraints: dict = _PARAMETER_CONSTRAINTS

    def __init__(
        self,
        backbone=None,
        layers=None,
        method="probe",
        *,
        n_neighbors=None,
        n_references=8,
        retrieval="mean",
        temperature=0.1,
        grid_size=None,
        colour_weight=0.5,
        refine="guided",
        refine_radius=None,
        min_part_area=0.001,
        hidden_units=64,
        max_pixels=200_000,
        random_state=None,
        memory=None,
        out_dir=None,
        chunk_size=1024,
        device="auto",
        batch_size=None,
        verbose=False,
    ):
        self.backbone = backbone
        self.layers = layers
        self.method = method
        self.n_neighbors = n_neighbors
        self.n_references = n_references
        self.retrieval = retrieval
        self.temperature = temperature
        self.grid_size = grid_size
        self.colour_weight = colour_weight
        self.refine = refine
        self.refine_radius = refine_radius
        self.min_part_area = min_part_area
        self.hidden_units = hidden_units
        self.max_pixels = max_pixels
        self.random_state = random_state
        self.memory = memory
        self.out_dir = out_dir
        self.chunk_size = chunk_size
        self.device = device
        self.batch_size = batch_size
        self.verbose = verbose

    def _reader(self):
        """How the fitted backbone turns images into features and retrieval descriptors."""
        settings = dict(batch_size=self.batch_size, colour_weight=self.colour_weight, retrieval=self.retrieval)
        return FeatureReader(self.backbone_, self.layers_, self.feature_size_, self.device_, **settings)

    def _learn(self, X):
        """Learn from the labelled images and fill ``X``: fitted state, filled masks, confidence."""
        labelled = X.labelled
        self.layers_ = resolve_layers(self.backbone_, self.layers, X.images, self.device_)
        self.part_names_, self.image_shape_ = X.part_names, X.shape[1:]
        self.feature_size_ = feature_size(X.shape[2:], self.method, self.grid_size)
        reference = X[labelled]
        if self.method == "probe":
            seed = check_random_state(self.random_state).randint(2**31 - 1)
            self.matcher_ = fit_probe(self._reader(), reference, self.hidden_units, self.max_pixels, seed)
        else:
            self.matcher_ = fit_reference_matcher(
                self._reader(), reference, self.method, self.n_neighbors, self.n_references, self.temperature
            )
        self.n_labelled_, self.labelled_ = int(labelled.sum()), labelled
        masks, confidence = self._filled(X)
        return {name: getattr(self, name) for name in _FITTED_STATE}, masks, confidence

    def _fit_and_fill(self, X, y=None):
        """Fit on ``X`` and return it filled, from ``memory`` when this fit was done before."""
        check_backbone(self.backbone)
        X = check_fit_images(X)
        self.backbone_ = self._fit_module("backbone")
        check_fit_labels(X, y, stacklevel=5)  # the caller of fit
        state, masks, self.confidence_ = cached(self.memory, estimator_fingerprint(self, X), lambda: self._learn(X))
        for name, value in state.items():
            setattr(self, name, value.to(self.device_) if name == "matcher_" else value)
        return PartImages._from_validated(X.images, masks, self.part_names_)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: PartImages, y: ArrayLike | None = None) -> "PartLabelTransfer":
        """Learn from the labelled images of ``X``; record every image's transfer confidence.

        Parameters
        ----------
        X : PartImages
            Images of which at least one is labelled (mask not all -1). Unlabelled images
            are not learnt from; their ``confidence_`` is recorded (one transfer pass).
        y : array-like of shape (n_images,), default=None
            Not learnt from. When given (in a pipeline: the model's decisions), it must
            hold one class per image, and a warning names the classes that no labelled
            image belongs to: their images are labelled from other classes' examples.

        Returns
        -------
        self : PartLabelTransfer
        """
        self._fit_and_fill(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X: PartImages, y: ArrayLike | None = None) -> PartImages:
        """``fit(X, y).transform(X)`` with a single transfer pass over ``X``."""
        return self._fit_and_fill(X, y)

    def check_images(self, X: PartImages) -> PartImages:
        """``X`` as ``PartImages``, checked against the fitted image shape and part names as
        :meth:`transform` checks it (before :meth:`transform_chunk` runs on its chunks)."""
        check_is_fitted(self)
        return check_fitted_images(X, self.image_shape_, self.part_names_)

    def _iter_proba(self, images):
        """``(slice, proba, winners)`` of consecutive images, tensors on the device (see ``iter_part_proba``)."""
        return iter_part_proba(
            self._reader(), self.matcher_, images, self.refine, self.refine_radius, self.min_part_area, self.verbose
        )

    def iter_predict_proba(self, X: PartImages) -> Iterator[tuple[slice, np.ndarray]]:
        """Stream part probabilities batch by batch, for data sets too large to hold at once.

        Yields
        ------
        indices : slice
            Images of ``X`` in this batch.
        proba : ndarray of shape (batch, n_parts, H, W), float32
        """
        for batch, proba, _ in self._iter_proba(self.check_images(X).images):
            yield batch, proba.cpu().numpy()

    def predict_proba(self, X: PartImages) -> np.ndarray:
        """Per-pixel part probabilities, ``(N, n_parts, H, W)`` float32."""
        X = self.check_images(X)
        out = np.empty((len(X), len(self.part_names_), *X.shape[2:]), dtype=np.float32)
        for batch, proba, _ in self._iter_proba(X.images):
            out[batch] = proba.cpu().numpy()
        return out

    def predict(self, X: PartImages) -> np.ndarray:
        """Transferred part ids of every pixel, ``(N, H, W)`` int32 (given labels are not used)."""
        X = self.check_images(X)
        out = np.empty((len(X), *X.shape[2:]), dtype=np.int32)
        for batch, proba, winners in self._iter_proba(X.images):
            out[batch] = most_probable_parts(proba, winners)[1].cpu().numpy()
        return out

    def _fill(self, X):
        """Filled masks and confidence of checked images, in this process."""
        return fill_masks(X, self._iter_proba)

    def _run_key(self, X):
        """Fingerprint of the parameters, the fitted state and ``X``: what filling ``X`` depends on."""
        return estimator_fingerprint(self, [getattr(self, name) for name in _FITTED_STATE], X)

    def _filled(self, X):
        """Filled masks and confidence of ``X``; through ``out_dir``, chunk by chunk, when set."""
        if self.out_dir is None:
            return self._fill(X)
        return fill_in_chunks(X, self._fill, self.out_dir, self._run_key(X), self.chunk_size)

    def transform_chunk(self, X: PartImages) -> PartImages:
        """:meth:`transform` of one chunk of images, in this process and without ``memory`` or
        ``out_dir``: chunks of :meth:`check_images`' result filled anywhere (e.g. on the
        workers of a cluster) and put back together give what ``transform`` returns."""
        X = self.check_images(X)
        return PartImages._from_validated(X.images, self._fill(X)[0], self.part_names_)

    def transform(self, X: PartImages) -> PartImages:
        """``X`` with every unlabelled pixel (-1) filled by transfer; given labels are kept.

        Returns
        -------
        X_filled : PartImages
        """
        X = self.check_images(X)
        if self.memory is None:
            masks = self._filled(X)[0]
        else:
            masks = cached(self.memory, self._run_key(X), lambda: self._filled(X)[0])
        return PartImages._from_validated(X.images, masks, self.part_names_)

    def confidence(self, X: PartImages) -> np.ndarray:
        """Per image: mean probability of the transferred label over its unlabelled pixels
        (given labels count as certain), in [0, 1]."""
        return self._fill(self.check_images(X))[1]

    def suggest_labels(self, X: PartImages | None = None, n: int = 10) -> np.ndarray:
        """The unlabelled images whose transfer is least confident: the ones to label next.

        Parameters
        ----------
        X : PartImages, default=None
            Images to choose from; ``None`` chooses among the images given to ``fit``.
        n : int, default=10

        Returns
        -------
        indices : ndarray of int
            Up to ``n`` indices into ``X`` (or the fitted images), least confident first.
        """
        check_is_fitted(self)
        if X is None:
            return least_confident(self.confidence_, self.labelled_, n)
        X = self.check_images(X)
        return least_confident(self.confidence(X), X.labelled, n)

    def score(self, X: PartImages, y: None = None) -> float:
        """Mean IoU of the transferred masks against the masks ``X`` carries (labelled pixels only)."""
        X = labelled_images(self.check_images(X))
        return mean_iou(X.masks, self.predict(X), len(self.part_names_))

    def score_per_part(self, X: PartImages) -> pd.Series:
        """IoU of each part against the masks ``X`` carries, as a ``pandas.Series`` by part name
        (NaN for parts that neither the truth nor the transfer shows)."""
        X = labelled_images(self.check_images(X))
        iou = iou_per_part(X.masks, self.predict(X), len(self.part_names_))
        return pd.Series(iou, index=list(self.part_names_), name="IoU")

    def set_output(self, *, transform: str | None = None) -> "PartLabelTransfer":
        """Accepted for pipelines; the output of ``transform`` is always ``PartImages``."""
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags


document_run_parameters(
    PartLabelTransfer,
    ["memory", "out_dir", "chunk_size", "device", "batch_size", "verbose"],
    notes={"memory": "Caches fitting and the transfer.",
           "out_dir": "Used when filling masks (``transform``, ``fit_transform``); the filled masks then come back "
                      "as a read-only memory map (``masks.npy`` in the run's folder) instead of living in RAM."},
    items="Images",
)
