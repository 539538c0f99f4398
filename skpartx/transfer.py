"""Transfer part labels from a few labelled images to every image."""

import os
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._cache import cached, estimator_fingerprint
from ._chunks import ChunkedRun, iter_chunks
from ._features import (
    auto_layers,
    check_layers,
    hookable,
    gradcam_descriptors,
    gradcam_maps,
    iter_feature_blocks,
    mean_descriptors,
    soft_labels,
    stack_blocks,
)
from ._matchers import HoughMatcher, KNNMatcher, ProbeClassifier, drop_small_parts, sample_pixels
from ._part_images import UNLABELLED, PartImages, as_part_images, part_presence
from ._progress import progress_bar
from ._refine import guided_filter
from ._torch import (
    TorchEstimatorMixin,
    batch_slices,
    check_module,
    inference_context,
    prepare_module,
    resolve_device,
    to_device_images,
)
from .metrics import iou_per_part, mean_iou

METHODS = ("probe", "knn", "hpf")
# The probe's map is at most 64 pixels a side: on 128-px images of both synthetic families it
# transferred as well as a 128-px map (mIoU 0.880 vs 0.874, 0.848 vs 0.846) at 2.5x the
# speed; the guided filter brings the edges back at full resolution (benchmarks/RESULTS.md).
PROBE_MAX_SIZE = 64
# Pixels per chunk of the per-pixel work after the backbone (the CPU's is one default batch):
# at full resolution every pass over the maps is memory-bound, and temporaries that stay in
# cache go several times faster (224-px images on a 2-core CPU: 24 images/s in chunks of 128,
# 53 in chunks of 8, more in chunks of 4 with the backbone's batches of 4).
CHUNK_PIXELS = {"cpu": 4 * 224 * 224, "cuda": 256 * 224 * 224}


def _check_fit_labels(X, y):
    """Check ``y`` against ``X`` and warn about what the labelled images cannot teach.

    A part no labelled image shows is never transferred; a class of ``y`` without a
    labelled image is labelled only from the other classes' examples.
    """
    labelled = X.labelled
    shown = part_presence(X.masks[labelled], len(X.part_names)).any(axis=0)
    if not shown.all():
        missing = [name for name, seen in zip(X.part_names, shown) if not seen]
        warnings.warn(
            f"no labelled image shows the part(s) {missing}, so the transfer never assigns them; label them in "
            "at least one image (or leave them out of part_names).",
            UserWarning,
            stacklevel=5,  # the caller of fit
        )
    if y is None:
        return
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must hold one class per image of X ({len(X)}), got shape {y.shape}.")
    unlabelled_classes = np.setdiff1d(np.unique(y), np.unique(y[labelled])).tolist()
    if unlabelled_classes:
        warnings.warn(
            f"no labelled image belongs to class(es) {unlabelled_classes} of y; their images are labelled from "
            "the other classes' examples. Label a few images of every class for a reliable transfer.",
            UserWarning,
            stacklevel=5,  # the caller of fit
        )


class PartLabelTransfer(TorchEstimatorMixin, TransformerMixin, BaseEstimator):
    """Fill in part masks of unlabelled images by correspondence with labelled ones.

    Dense features of the ``backbone`` (hyperpixels: several layers, each L2-normalised
    and resized to one map, plus colour) describe every position of every image; the
    labelled images teach how features map to parts.

    - ``method="probe"``: a per-pixel MLP (``hidden_units``; 0 for linear) is trained on
      the labelled pixels' features, with part-balanced weights.
    - ``method="knn"``: dense kNN propagation. For an image to label, the
      ``n_references`` most similar labelled images are retrieved; each cell of its
      feature grid takes the softmax(cosine / ``temperature``)-weighted vote of the soft
      labels of its ``n_neighbors`` most similar cells among those references.
    - ``method="hpf"``: GEPC's Hough-regularised matching (Hyperpixel Flow). Appearance
      similarity ``clamp(cos, 0)³`` between cells of the target and of each retrieved
      reference votes for the offset between them in a Gaussian-smoothed Hough space;
      a match's weight is appearance × the votes of its offset, and each target cell
      takes the label of its best-weighted match(es).

    Part probabilities are upsampled bilinearly to pixels and, by default, refined with a
    colour guided filter so that part boundaries follow the image's edges; parts covering
    less than ``min_part_area`` of an image are then dropped as stray labels.

    Parameters
    ----------
    backbone : torch.nn.Module
        Feature network: the classifier being explained, or any other network whose
        features suit the images better (e.g. a self-supervised ViT on disk).
    layers : str or list of str, default=None
        Names of modules (as in ``backbone.named_modules()``) whose outputs are the
        features, ``(B, C, h, w)`` maps or transformer tokens ``(B, T, D)``. Tokens are laid
        out on the image's patch grid, which may be non-square: the leading class,
        distillation and register tokens are dropped (the fewest that leave
        ``(H // p) * (W // p)`` patch tokens for some patch size ``p``). ``None`` picks, for
        a transformer (repeated blocks ``blocks.N`` / ``encoder.layer.N`` / ``vit.layers.N``
        whose outputs are patch tokens), the blocks at ¼, ½ and ¾ of the depth and the
        last block; otherwise the
        deepest module output at each spatial resolution of at least 4×4, up to four
        resolutions.
    method : {"probe", "knn", "hpf"}, default="probe"
        The probe is the default because it transfers best on the built-in benchmark
        (see ``benchmarks/RESULTS.md``).
    n_neighbors : int, default=None
        Reference cells voting for each target cell: ``None`` means 10 for ``knn`` and 1
        (the best match, as in HPF) for ``hpf``.
    n_references : int, default=8
        Labelled images retrieved per target image (``knn`` and ``hpf``); matching is
        restricted to them.
    retrieval : {"mean", "gradcam"}, default="mean"
        Global descriptor for retrieval: mean feature, or features pooled under the
        Grad-CAM map of the backbone's predicted class (needs a classifier backbone;
        costs one backward pass per image).
    temperature : float, default=0.1
        Softmax temperature on cosine similarities (``knn``).
    grid_size : int, default=None
        Side of the feature map. ``None``: ``probe`` the image side (at most 64),
        ``knn`` and ``hpf`` half of it (at least 8). Matching cost grows with the fourth
        power of the side for ``hpf`` (all cell pairs vote), the square for ``knn``.
    colour_weight : float, default=0.5
        Weight of the image's colour among the features (0 disables it).
    refine : {"guided", None}, default="guided"
        Edge-aware refinement of the probability maps with a colour guided filter.
    refine_radius : int, default=None
        Window radius of the guided filter; ``None``: 1/16 of the image side (at least 1).
    min_part_area : float, default=0.001
        A part transferred onto less than this share of an image's pixels is dropped
        from that image and its pixels go to their next most probable part: specks of
        stray labels would otherwise count as parts (and double the coalitions an
        attribution has to evaluate). Higher values drop more stray parts and more true
        small ones. 0 keeps everything.
    hidden_units : int, default=64
        Hidden width of the probe (0: linear probe).
    max_pixels : int, default=200_000
        Labelled pixels the probe is trained on (subsampled evenly across images).
    random_state : int, RandomState instance or None, default=None
        Seed of the probe's initialisation and pixel sampling.
    memory : str, joblib.Memory or None, default=None
        Cache fitting and transfer results on disk, keyed by the backbone's weights, the
        parameters and the images, so that a grid search over later steps does not redo
        the transfer. (``Pipeline(memory=...)`` cannot cache steps holding torch modules:
        pickled tensors carry memory addresses, so no two clones hash alike.)
    out_dir : str, path-like or None, default=None
        Folder where filling masks (``transform``, ``fit_transform``) writes each
        completed chunk of images: a rerun of the same call after a crash or a kill
        resumes from the chunks already done, and the filled masks are returned as a
        read-only memory map (``masks.npy`` in the run's folder) instead of living in RAM.
    chunk_size : int, default=1024
        Images per chunk written to ``out_dir``.
    device : str or torch.device, default="auto"
    batch_size : int, default=None
        Images per backbone forward pass; default: as many as hold 512 images of 224 px
        on CUDA, 4 of 224 px on CPU (at most 512 / 128 images).
    verbose : bool, default=False
        Show progress bars.

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
    _parameter_constraints = {
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
        "random_state": ["random_state"],
        "memory": [None, str, HasMethods(["cache"])],
        "out_dir": [None, str, os.PathLike],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "device": "no_validation",
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    }

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

    # -- fitting -------------------------------------------------------------------------

    def _blocks(self, images):
        """Yield ``(slice, batch images, feature blocks)`` batch by batch."""
        return iter_feature_blocks(
            self.backbone_, self.layers_, images, self.device_, self.batch_size, self.colour_weight
        )

    def _feature_size(self, image_size):
        if self.grid_size is not None:
            return (self.grid_size, self.grid_size)
        height, width = image_size
        if self.method == "probe":
            scale = min(1.0, PROBE_MAX_SIZE / max(height, width))
            return (max(1, round(height * scale)), max(1, round(width * scale)))
        return (max(8, height // 2), max(8, width // 2))

    def _descriptors(self, images, features):
        """Retrieval descriptors of a batch: images (numpy) and their stacked features."""
        if self.retrieval == "mean":
            return mean_descriptors(features)
        cam = gradcam_maps(self.backbone_, self.layers_[-1], to_device_images(images, self.device_))
        return gradcam_descriptors(features, cam)

    def _fit_probe(self, reference, seed):
        """Train the per-pixel probe on (a sample of) the labelled pixels' features."""
        per_image = max(1, self.max_pixels // len(reference))
        rows, labels, block_dims = [], [], None
        masks = torch.as_tensor(reference.masks, dtype=torch.float32)[:, None]
        masks = F.interpolate(masks, size=self.feature_size_, mode="nearest")[:, 0].long().numpy()
        for batch, _, blocks in self._blocks(reference.images):
            block_dims = [b.shape[1] for b in blocks]
            features = stack_blocks(blocks, self.feature_size_, normalize=False)
            r, l = sample_pixels(features, masks[batch], per_image * len(features), seed + batch.start)
            rows.append(r)
            labels.append(l)
        torch.manual_seed(seed)
        probe = ProbeClassifier(block_dims, len(self.part_names_), self.hidden_units).to(self.device_)
        return probe.fit(torch.cat(rows), torch.cat(labels), len(self.part_names_), seed=seed)

    def _fit_matcher(self, reference):
        """Memory of the labelled images' features, soft labels and descriptors."""
        features, descriptors = [], []
        for _, images, blocks in self._blocks(reference.images):
            with inference_context(self.device_):
                stacked = stack_blocks(blocks, self.feature_size_)
                features.append(stacked)
                descriptors.append(self._descriptors(images, stacked))
        labels, weight = soft_labels(reference.masks, len(self.part_names_), self.feature_size_)
        memory = (
            torch.cat(features),
            labels.to(self.device_),
            weight.to(self.device_),
            torch.cat(descriptors),
            self.n_references,
        )
        if self.method == "knn":
            return KNNMatcher(*memory, self.n_neighbors or 10, self.temperature)
        return HoughMatcher(*memory, self.n_neighbors or 1)

    _FITTED_STATE = ("layers_", "part_names_", "image_shape_", "feature_size_", "matcher_", "n_labelled_", "labelled_")

    def _prepare(self, X):
        """Validate the inputs and put the backbone on the device."""
        if self.backbone is None:
            raise ValueError(
                "PartLabelTransfer needs a feature network: PartLabelTransfer(backbone=model), e.g. the "
                "classifier you explain."
            )
        check_module(self.backbone, "backbone")
        if not hookable(self.backbone):
            raise ValueError(
                "the backbone is a scripted or exported module, which cannot expose its intermediate layers (no "
                "forward hooks); give the transfer a regular torch.nn.Module with the same weights as backbone."
            )
        X = as_part_images(X)
        if not X.labelled.any():
            raise ValueError(
                "X has no labelled image: give part masks (ids >= 0) for at least one image; -1 marks "
                "unlabelled pixels."
            )
        self.device_ = resolve_device(self.device)
        self.backbone_ = prepare_module(self.backbone, self.device_)
        return X

    def _learn(self, X):
        """Learn from the labelled images and fill ``X``: fitted state, filled masks, confidence."""
        labelled = X.labelled
        self.layers_ = (
            auto_layers(self.backbone_, X.images, self.device_)
            if self.layers is None
            else check_layers(self.backbone_, self.layers)
        )
        self.part_names_ = X.part_names
        self.image_shape_ = X.shape[1:]
        self.feature_size_ = self._feature_size(X.shape[2:])
        reference = X[labelled]
        if self.method == "probe":
            seed = check_random_state(self.random_state).randint(2**31 - 1)
            self.matcher_ = self._fit_probe(reference, seed)
        else:
            self.matcher_ = self._fit_matcher(reference)
        self.n_labelled_ = int(labelled.sum())
        self.labelled_ = labelled
        masks, confidence = self._filled(X)
        return {name: getattr(self, name) for name in self._FITTED_STATE}, masks, confidence

    def _fit_and_fill(self, X, y=None):
        """Fit on ``X`` and return it filled, from ``memory`` when this fit was done before."""
        X = self._prepare(X)
        _check_fit_labels(X, y)
        key = estimator_fingerprint(self, X)
        state, masks, self.confidence_ = cached(self.memory, key, lambda: self._learn(X))
        for name, value in state.items():
            setattr(self, name, value.to(self.device_) if name == "matcher_" else value)
        return PartImages._from_validated(X.images, masks, self.part_names_)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
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
    def fit_transform(self, X, y=None):
        """``fit(X, y).transform(X)`` with a single transfer pass over ``X``."""
        return self._fit_and_fill(X, y)

    # -- transfer ------------------------------------------------------------------------

    def _check_X(self, X):
        check_is_fitted(self)
        X = as_part_images(X)
        if X.shape[1:] != self.image_shape_:
            raise ValueError(f"X has images of shape {X.shape[1:]}, but the transfer was fitted on {self.image_shape_}.")
        if X.part_names != self.part_names_ and X.labelled.any():
            raise ValueError(f"X names parts {list(X.part_names)}, the transfer was fitted on {list(self.part_names_)}.")
        return X

    def _refine_radius(self, size):
        return self.refine_radius if self.refine_radius is not None else max(1, round(min(size) / 16))

    def _proba_batch(self, images, blocks):
        """Refined, cleaned part probabilities ``(B, P, H, W)`` of one batch of images."""
        size = images.shape[2:]
        if self.method == "probe":
            proba = self.matcher_(blocks, self.feature_size_)
        else:
            stacked = stack_blocks(blocks, self.feature_size_)
            proba = self.matcher_(stacked, self._descriptors(images, stacked))
        if self.refine == "guided":
            # The filter takes the coarse maps as they are and brings them to pixels itself.
            guide = to_device_images(images, self.device_)
            radius = self._refine_radius(size)
            proba = guided_filter(guide, proba, radius, subsample=max(1, radius // 2))
        elif tuple(proba.shape[2:]) != tuple(size):
            proba = F.interpolate(proba, size=size, mode="bilinear", align_corners=False)
        # In place from here on: at full resolution every pass over the maps is memory-bound.
        proba = proba.clamp_(min=0)
        if self.min_part_area > 0:
            proba = drop_small_parts(proba, self.min_part_area)
        return proba.div_(proba.sum(dim=1, keepdim=True).clamp_(min=1e-8))

    def iter_predict_proba(self, X):
        """Stream part probabilities batch by batch, for data sets too large to hold at once.

        Yields
        ------
        indices : slice
            Images of ``X`` in this batch.
        proba : ndarray of shape (batch, n_parts, H, W), float32
        """
        X = self._check_X(X)
        for batch, proba in self._iter_proba(X):
            yield batch, proba.cpu().numpy()

    def _iter_proba(self, X):
        # The backbone sees whole batches; the per-pixel work after it (probe, guided filter,
        # clean-up), memory-bound on large images, runs on chunks of at most CHUNK_PIXELS.
        budget = CHUNK_PIXELS["cuda" if self.device_.type == "cuda" else "cpu"]
        chunk = max(1, budget // int(np.prod(X.shape[2:])))
        with progress_bar(self.verbose, len(X), "part transfer", unit="image") as bar:
            for batch, images, blocks in self._blocks(X.images):
                for part in batch_slices(len(images), chunk):
                    with inference_context(self.device_):
                        proba = self._proba_batch(images[part], [block[part] for block in blocks])
                    yield slice(batch.start + part.start, batch.start + part.stop), proba
                    bar.update(part.stop - part.start)

    def predict_proba(self, X):
        """Per-pixel part probabilities, ``(N, n_parts, H, W)`` float32."""
        X = self._check_X(X)
        out = np.empty((len(X), len(self.part_names_), *X.shape[2:]), dtype=np.float32)
        for batch, proba in self._iter_proba(X):
            out[batch] = proba.cpu().numpy()
        return out

    def predict(self, X):
        """Transferred part ids of every pixel, ``(N, H, W)`` int32 (given labels are not used)."""
        X = self._check_X(X)
        out = np.empty((len(X), *X.shape[2:]), dtype=np.int32)
        for batch, proba in self._iter_proba(X):
            out[batch] = proba.max(dim=1).indices.cpu().numpy()
        return out

    def _fill(self, X):
        """Masks with unlabelled pixels filled, and each image's confidence, in one pass."""
        masks = X.masks.copy()
        confidence = np.ones(len(X))
        unlabelled = masks == UNLABELLED
        todo = np.flatnonzero(unlabelled.reshape(len(X), -1).any(axis=1))
        if len(todo):
            sub = X[todo]
            for batch, proba in self._iter_proba(sub):
                rows = todo[batch]
                best, winner = proba.max(dim=1)
                best, winner = best.cpu().numpy(), winner.cpu().numpy().astype(np.int32)
                missing = unlabelled[rows]
                masks[rows] = np.where(missing, winner, masks[rows])
                confidence[rows] = np.where(missing, best, 1.0).reshape(len(rows), -1).mean(axis=1)
        return PartImages._from_validated(X.images, masks, self.part_names_), confidence

    def _filled(self, X):
        """Filled masks and confidence of ``X``; through ``out_dir``, chunk by chunk, when set."""
        if self.out_dir is None:
            filled, confidence = self._fill(X)
            return filled.masks, confidence
        state = [getattr(self, name) for name in self._FITTED_STATE]
        run = ChunkedRun(self.out_dir, "transfer", estimator_fingerprint(self, state, X), len(X), self.chunk_size)
        masks = np.lib.format.open_memmap(run.path / "masks.npy", "w+", np.int32, (len(X), *X.shape[2:]))
        confidence = np.empty(len(X))

        def compute(k, chunk):
            filled, chunk_confidence = self._fill(X[chunk])
            return {"masks": filled.masks, "confidence": chunk_confidence}, {}

        for chunk, (arrays, _) in iter_chunks(run.chunks, compute, run):
            masks[chunk], confidence[chunk] = arrays["masks"], arrays["confidence"]
        masks.flush()
        del masks
        return np.load(run.path / "masks.npy", mmap_mode="r"), confidence

    def transform(self, X):
        """``X`` with every unlabelled pixel (-1) filled by transfer; given labels are kept.

        Returns
        -------
        X_filled : PartImages
        """
        X = self._check_X(X)
        if self.memory is None:
            masks = self._filled(X)[0]
        else:
            state = [getattr(self, name) for name in self._FITTED_STATE]
            masks = cached(self.memory, estimator_fingerprint(self, state, X), lambda: self._filled(X)[0])
        return PartImages._from_validated(X.images, masks, self.part_names_)

    def confidence(self, X):
        """Per image: mean probability of the transferred label over its unlabelled pixels
        (given labels count as certain), in [0, 1]."""
        return self._fill(self._check_X(X))[1]

    def suggest_labels(self, X=None, n=10):
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
            confidence, labelled = self.confidence_, self.labelled_
        else:
            X = self._check_X(X)
            confidence, labelled = self.confidence(X), X.labelled
        candidates = np.flatnonzero(~labelled)
        return candidates[np.argsort(confidence[candidates], kind="stable")[:n]]

    # -- quality -------------------------------------------------------------------------

    def _labelled_truth(self, X):
        X = self._check_X(X)
        if not X.labelled.any():
            raise ValueError("scoring needs images with ground-truth masks; X has no labelled image.")
        X = X[X.labelled]
        return X.masks, self.predict(X)

    def score(self, X, y=None):
        """Mean IoU of the transferred masks against the masks ``X`` carries (labelled pixels only)."""
        truth, predicted = self._labelled_truth(X)
        return mean_iou(truth, predicted, len(self.part_names_))

    def score_per_part(self, X):
        """IoU of each part against the masks ``X`` carries, as a ``pandas.Series`` by part name
        (NaN for parts that neither the truth nor the transfer shows)."""
        truth, predicted = self._labelled_truth(X)
        return pd.Series(iou_per_part(truth, predicted, len(self.part_names_)), index=list(self.part_names_), name="IoU")

    def set_output(self, *, transform=None):
        """Accepted for pipelines; the output of ``transform`` is always ``PartImages``."""
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags
