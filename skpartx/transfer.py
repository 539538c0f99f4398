"""Transfer part labels from a few labelled images to every image."""

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._features import auto_layers, check_layers, iter_feature_blocks, soft_labels, stack_blocks
from ._matchers import KNNMatcher, ProbeClassifier, drop_small_parts, sample_pixels
from ._part_images import UNLABELLED, PartImages, as_part_images
from ._progress import progress
from ._torch import TorchEstimatorMixin, check_module, default_batch_size, prepare_module, resolve_device
from .metrics import mean_iou

METHODS = ("knn", "probe")
PROBE_MAX_SIZE = 128


class PartLabelTransfer(TorchEstimatorMixin, TransformerMixin, BaseEstimator):
    """Fill in part masks of unlabelled images by correspondence with labelled ones.

    Dense features of the ``backbone`` (hyperpixels: several layers resized to one map
    and L2-normalised, plus colour) describe every position of every image; the labelled
    images teach how features map to parts.

    - ``method="knn"``: ``fit`` stores the labelled images' features on a grid with soft
      part labels (the share of each part in each cell). For an image to label, the
      ``n_references`` most similar labelled images are retrieved by their mean feature,
      and each cell takes the softmax(cosine / ``temperature``)-weighted vote of its
      ``n_neighbors`` most similar cells among those references.
    - ``method="probe"``: a per-pixel MLP (``hidden_units``; 0 for linear) is trained on
      the labelled pixels' features, with part-balanced weights.

    Part probabilities are upsampled bilinearly to pixels.

    Parameters
    ----------
    backbone : torch.nn.Module
        Feature network, typically the classifier being explained.
    layers : str or list of str, default=None
        Names of modules (as in ``backbone.named_modules()``) whose outputs are the
        features. ``None`` picks the deepest module output at each spatial resolution
        of at least 4×4, up to four resolutions.
    method : {"probe", "knn"}, default="probe"
        A per-pixel probe on the features, or dense kNN label propagation. The probe is
        the default because it transfers best on the built-in benchmark (mIoU 0.84 vs
        0.45 with 10 labelled images per class; see ``benchmarks/RESULTS.md``).
    n_neighbors : int, default=10
        Cells voting for each target cell.
    n_references : int, default=8
        Labelled images retrieved per target image; matching is restricted to them.
    temperature : float, default=0.1
        Softmax temperature on cosine similarities.
    grid_size : int, default=None
        Side of the feature map. ``None``: for ``knn`` half the image side (at least 8);
        for ``probe`` the image side, at most 128.
    colour_weight : float, default=0.5
        Weight of the image's colour among the features (0 disables it).
    min_part_area : float, default=0.002
        A part transferred onto less than this share of an image's pixels is dropped
        from that image and its pixels go to their next most probable part: specks of
        stray labels would otherwise count as parts (and double the coalitions an
        attribution has to evaluate). 0 keeps everything.
    hidden_units : int, default=64
        Hidden width of the probe (0: linear probe).
    max_pixels : int, default=200_000
        Labelled pixels the probe is trained on (subsampled evenly across images).
    random_state : int, RandomState instance or None, default=None
        Seed of the probe's initialisation and pixel sampling.
    device : str or torch.device, default="auto"
    batch_size : int, default=None
        Images per backbone forward pass.
    verbose : bool, default=False
        Show progress bars.

    Attributes
    ----------
    backbone_ : torch.nn.Module
        The backbone on ``device_`` in eval mode.
    device_ : torch.device
    layers_ : list of str
        The layers used.
    part_names_ : tuple of str
    feature_size_ : tuple of int
        (h, w) of the feature maps.
    matcher_ : torch.nn.Module
        The fitted method: a ``KNNMatcher`` (memory of labelled features) or a
        ``ProbeClassifier``.
    n_labelled_ : int
    """

    _fitted_modules = ("backbone_", "matcher_")
    _parameter_constraints = {
        "backbone": "no_validation",
        "layers": [str, list, tuple, None],
        "method": [StrOptions(set(METHODS))],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_references": [Interval(Integral, 1, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "grid_size": [Interval(Integral, 2, None, closed="left"), None],
        "colour_weight": [Interval(Real, 0, None, closed="left")],
        "min_part_area": [Interval(Real, 0, 1, closed="left")],
        "hidden_units": [Interval(Integral, 0, None, closed="left")],
        "max_pixels": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
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
        n_neighbors=10,
        n_references=8,
        temperature=0.1,
        grid_size=None,
        colour_weight=0.5,
        min_part_area=0.002,
        hidden_units=64,
        max_pixels=200_000,
        random_state=None,
        device="auto",
        batch_size=None,
        verbose=False,
    ):
        self.backbone = backbone
        self.layers = layers
        self.method = method
        self.n_neighbors = n_neighbors
        self.n_references = n_references
        self.temperature = temperature
        self.grid_size = grid_size
        self.colour_weight = colour_weight
        self.min_part_area = min_part_area
        self.hidden_units = hidden_units
        self.max_pixels = max_pixels
        self.random_state = random_state
        self.device = device
        self.batch_size = batch_size
        self.verbose = verbose

    def _blocks(self, images):
        """Yield ``(slice, feature blocks)`` batch by batch."""
        return iter_feature_blocks(
            self.backbone_, self.layers_, images, self.device_, self.batch_size, self.colour_weight
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Store the features and part labels of the labelled images of ``X``.

        Parameters
        ----------
        X : PartImages
            Images of which at least one is labelled (mask not all -1).
        y : ignored

        Returns
        -------
        self : PartLabelTransfer
        """
        if self.backbone is None:
            raise ValueError(
                "PartLabelTransfer needs a feature network: PartLabelTransfer(backbone=model), e.g. the "
                "classifier you explain."
            )
        check_module(self.backbone, "backbone")
        X = as_part_images(X)
        labelled = X.labelled
        if not labelled.any():
            raise ValueError(
                "X has no labelled image: give part masks (ids >= 0) for at least one image; -1 marks "
                "unlabelled pixels."
            )
        self.device_ = resolve_device(self.device)
        self.backbone_ = prepare_module(self.backbone, self.device_)
        self.layers_ = (
            auto_layers(self.backbone_, X.images, self.device_)
            if self.layers is None
            else check_layers(self.backbone_, self.layers)
        )
        self.part_names_ = X.part_names
        self.feature_size_ = self._feature_size(X.shape[2:])
        reference = X[labelled]
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        if self.method == "knn":
            labels, weight = soft_labels(reference.masks, len(self.part_names_), self.feature_size_)
            features = [stack_blocks(blocks, self.feature_size_) for _, blocks in self._blocks(reference.images)]
            self.matcher_ = KNNMatcher(
                torch.cat(features),
                labels.to(self.device_),
                weight.to(self.device_),
                self.n_neighbors,
                self.n_references,
                self.temperature,
            )
        else:
            self.matcher_ = self._fit_probe(reference, seed)
        self.n_labelled_ = int(labelled.sum())
        self.image_shape_ = X.shape[1:]
        return self

    def _check_X(self, X):
        check_is_fitted(self)
        X = as_part_images(X)
        if X.shape[1:] != self.image_shape_:
            raise ValueError(f"X has images of shape {X.shape[1:]}, but the transfer was fitted on {self.image_shape_}.")
        if X.part_names != self.part_names_ and X.labelled.any():
            raise ValueError(f"X names parts {list(X.part_names)}, the transfer was fitted on {list(self.part_names_)}.")
        return X

    def _feature_size(self, image_size):
        height, width = image_size
        if self.grid_size is not None:
            return (self.grid_size, self.grid_size)
        if self.method == "knn":
            return (max(8, height // 2), max(8, width // 2))
        scale = min(1.0, PROBE_MAX_SIZE / max(height, width))
        return (max(1, round(height * scale)), max(1, round(width * scale)))

    def _fit_probe(self, reference, seed):
        """Train the per-pixel probe on (a sample of) the labelled pixels' features."""
        per_image = max(1, self.max_pixels // len(reference))
        rows, labels, block_dims = [], [], None
        masks = torch.as_tensor(reference.masks, dtype=torch.float32)[:, None]
        masks = F.interpolate(masks, size=self.feature_size_, mode="nearest")[:, 0].long().numpy()
        for batch, blocks in self._blocks(reference.images):
            block_dims = [b.shape[1] for b in blocks]
            features = stack_blocks(blocks, self.feature_size_, normalize=False)
            r, l = sample_pixels(features, masks[batch], per_image * len(features), seed + batch.start)
            rows.append(r)
            labels.append(l)
        torch.manual_seed(seed)
        probe = ProbeClassifier(block_dims, len(self.part_names_), self.hidden_units).to(self.device_)
        return probe.fit(torch.cat(rows), torch.cat(labels), len(self.part_names_), seed=seed)

    def _iter_proba(self, X):
        """Yield ``(slice, probabilities (B, P, H, W))`` batch by batch (streaming)."""
        size = X.shape[2:]
        batches = self._blocks(X.images)
        n_batches = -(-len(X) // default_batch_size(self.device_, self.batch_size))
        with torch.inference_mode():
            for batch, blocks in progress(batches, self.verbose and n_batches > 1, desc="part transfer", total=n_batches, unit="batch"):
                if self.method == "knn":
                    proba = self.matcher_(stack_blocks(blocks, self.feature_size_))
                else:
                    proba = self.matcher_(blocks, self.feature_size_)
                if tuple(proba.shape[2:]) != tuple(size):
                    proba = F.interpolate(proba, size=size, mode="bilinear", align_corners=False)
                    proba = proba.clamp(min=0)
                if self.min_part_area > 0:
                    proba = drop_small_parts(proba, self.min_part_area)
                yield batch, proba / proba.sum(dim=1, keepdim=True).clamp(min=1e-8)

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
            out[batch] = proba.argmax(dim=1).cpu().numpy()
        return out

    def transform(self, X):
        """``X`` with every unlabelled pixel (-1) filled by transfer; given labels are kept.

        Returns
        -------
        X_filled : PartImages
        """
        X = self._check_X(X)
        masks = X.masks.copy()
        needs = (masks == UNLABELLED).reshape(len(X), -1).any(axis=1)
        if needs.any():
            todo = np.flatnonzero(needs)
            predicted = self.predict(X[todo])
            sub = masks[todo]
            masks[todo] = np.where(sub == UNLABELLED, predicted, sub)
        return PartImages._from_validated(X.images, masks, self.part_names_)

    def score(self, X, y=None):
        """Mean IoU of the transferred masks against the masks ``X`` carries (labelled pixels only)."""
        X = self._check_X(X)
        if not X.labelled.any():
            raise ValueError("score needs images with ground-truth masks; X has no labelled image.")
        X = X[X.labelled]
        return mean_iou(X.masks, self.predict(X), len(self.part_names_))

    def set_output(self, *, transform=None):
        """Accepted for pipelines; the output of ``transform`` is always ``PartImages``."""
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags
