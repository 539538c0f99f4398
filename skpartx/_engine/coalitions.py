"""The coalition engine: model values of image/baseline composites under part keep-masks.

Every perturbation method in skpartx (occlusion, Shapley values, minimal sufficient
explanations, ...) is a question of the form "what does the model say when only these
parts of this image are kept and the rest is replaced by the baseline?". This module
answers such questions in batches across images and coalitions, builds composites on
the device, and memoises every (image, coalition) it has evaluated.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .._core.part_images import part_presence
from .._core.torch_utils import (
    batch_slices,
    call_model,
    check_logits,
    default_batch_size,
    inference_context,
    run_in_batches,
    to_device_images,
)

BASELINES = ("zero", "mean", "blur", "reference", "inpaint")
OUTPUTS = ("probability", "logit")


@dataclass(frozen=True, eq=False)
class ReferenceImages:
    """A reference set for the ``"reference"`` baseline: removed parts show the pixels of
    each reference image in turn, and a coalition's value is the mean over the references
    (the expected value over a background distribution, as in SHAP's interventional form).

    Attributes
    ----------
    images : ndarray of shape (K, C, H, W)
        Whole images in [0, 1], e.g. drawn from the images an attributor was fitted on.
    """

    images: np.ndarray


def class_value(logits, targets, output):
    """The explained class's softmax probability (``"probability"``) or logit (``"logit"``)."""
    logits = logits.float()
    if output == "logit":
        return logits.gather(1, targets[:, None])[:, 0]
    return torch.softmax(logits, dim=1).gather(1, targets[:, None])[:, 0]


def check_targets(targets, n_classes):
    """Raise a clear error unless every explained class is an output of the model."""
    low, high = int(targets.min()), int(targets.max())
    if low < 0 or high >= n_classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"target class {bad} is not an output of the model, which returns {n_classes} logits; give classes "
            f"0..{n_classes - 1} (or target=None for each image's predicted class)."
        )


def _gaussian_blur(images, sigma):
    """Separable Gaussian blur with reflect padding, per channel."""
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    pad = min(radius, images.shape[-1] - 1, images.shape[-2] - 1)
    if pad < radius:  # reflect padding needs the image to be larger than the kernel radius
        kernel = kernel[radius - pad : radius + pad + 1]
        kernel = kernel / kernel.sum()
        radius = pad
    out = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def fill_from_sources(values, weights, fallback):
    """``values`` with each pixel's colour filled in from the pixels around it, as far as
    ``weights`` (in [0, 1]) say it is unknown: pull-push interpolation over an image pyramid.

    Going down, each level averages colour and weight over 2×2 cells (a cell's colour is
    the weighted mean of its known pixels); coming up, a pixel keeps its own level's mean in
    proportion to its weight and takes the rest from the bilinearly upsampled coarser
    estimate. A hole thus takes the colour of what surrounds it, smoothly, at any size, in
    ``log2(H)`` pooling steps (Gortler et al., "The Lumigraph", 1996).

    Parameters
    ----------
    values : tensor (B, C, H, W)
    weights : tensor (B, 1, H, W)
        1 where a pixel's colour is known, 0 where it is to be filled; fractions blend.
    fallback : tensor broadcastable to (B, C, 1, 1)
        The fill of an image none of whose pixels is known.

    Returns
    -------
    filled : tensor (B, C, H, W)
        ``weights * values + (1 - weights) * fill``: known pixels keep their colour. Each
        filled pixel is a weighted mean of known pixels (or the fallback).
    """
    levels = []
    colour, weight = values * weights, weights
    while min(colour.shape[-2:]) > 1:
        levels.append((colour, weight))
        colour = F.avg_pool2d(colour, 2, ceil_mode=True)
        weight = F.avg_pool2d(weight, 2, ceil_mode=True)
    total = weight.sum(dim=(-2, -1), keepdim=True)
    estimate = torch.where(total > 0, colour.sum(dim=(-2, -1), keepdim=True) / total.clamp_min(1e-12),
                           fallback.expand(len(values), values.shape[1], 1, 1))
    for colour, weight in reversed(levels):
        upsampled = F.interpolate(estimate, size=colour.shape[-2:], mode="bilinear", align_corners=False)
        # colour is weight × (mean of the known pixels): keep that share, fill the rest from above.
        estimate = colour + (1 - weight) * upsampled
    return estimate


def _check_finite(values, what):
    """``values``, unless they hold NaN or infinite values: those would turn every score into NaN."""
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{what} NaN or infinite values; a baseline must be an image (or colour) in [0, 1].")
    return values


def make_baseline(baseline, images, mean_image=None, blur_sigma=None):
    """The replacement image for each image, ``(N, C, H, W)`` on the images' device, or for
    :class:`ReferenceImages` the K replacements of each image, ``(N, K, C, H, W)``.

    Parameters
    ----------
    baseline : {"zero", "mean", "blur", "inpaint"}, float, sequence of floats, array, tensor, callable or ReferenceImages
        ``"zero"``: black. ``"mean"``: ``mean_image`` (the training images' mean).
        ``"inpaint"``: ``mean_image`` too, which only a removed background shows: the
        :class:`CoalitionEngine` fills removed object parts in from what remains.
        ``"blur"``: the image blurred with a Gaussian of ``blur_sigma`` (default H / 8).
        A float or per-channel sequence: a constant colour. An array/tensor of shape
        (C, H, W) or (N, C, H, W): that image. A callable: ``baseline(images)`` must
        return a tensor of the images' shape. :class:`ReferenceImages`: each of them.
        The name ``"reference"`` needs the reference images, which a fitted
        ``PartAttributor`` passes as :class:`ReferenceImages`.
    """
    if isinstance(baseline, ReferenceImages):
        references = _check_finite(torch.as_tensor(np.asarray(baseline.images)).to(images), "the reference images hold")
        if references.ndim != 4 or references.shape[1:] != images.shape[1:] or not len(references):
            raise ValueError(f"reference images must have shape (K, {', '.join(map(str, images.shape[1:]))}), "
                             f"got {tuple(references.shape)}; the images explained must match those the "
                             "attributor was fitted on.")
        return references[None].expand(len(images), *references.shape)
    if isinstance(baseline, str):
        if baseline == "zero":  # one image shared by all (see CoalitionEngine.baseline_probabilities)
            return images.new_zeros((1, *images.shape[1:])).expand_as(images)
        if baseline in ("mean", "inpaint"):  # "inpaint": the canvas that replaces a removed background
            return mean_image.to(images).expand_as(images)
        if baseline == "blur":
            sigma = blur_sigma if blur_sigma is not None else images.shape[-2] / 8
            return _gaussian_blur(images, sigma)
        if baseline == "reference":
            raise ValueError("baseline='reference' needs reference images: give ReferenceImages (a fitted "
                             "PartAttributor draws them from the images it was fitted on).")
        raise ValueError(f"baseline={baseline!r} is unknown; use one of {BASELINES}, a colour, an image or a callable.")
    if callable(baseline):
        out = torch.as_tensor(baseline(images)).to(images)
        if out.shape != images.shape:
            raise ValueError(f"the baseline callable returned shape {tuple(out.shape)}, expected {tuple(images.shape)}.")
        return _check_finite(out, "the baseline callable returned")
    value = torch.as_tensor(np.asarray(baseline) if not torch.is_tensor(baseline) else baseline).to(images)
    _check_finite(value, "the baseline holds")
    if value.ndim <= 1:
        if value.numel() not in (1, images.shape[1]):
            raise ValueError(f"a constant baseline needs 1 or {images.shape[1]} values, got {value.numel()}.")
        return value.reshape(1, -1, 1, 1).expand_as(images)
    if value.ndim == 3:
        value = value.unsqueeze(0)
    if value.ndim != 4 or value.shape[1:] != images.shape[1:]:
        raise ValueError(f"a baseline image must have shape {tuple(images.shape[1:])}, got {tuple(value.shape)}.")
    if value.shape[0] == 1:
        return value.expand_as(images)
    if value.shape[0] != images.shape[0]:
        raise ValueError(f"per-image baselines must number {images.shape[0]}, got {value.shape[0]}.")
    return value


class CoalitionEngine:
    """Evaluate a model on composites of images and baselines under part coalitions.

    A coalition is a boolean vector over part ids: kept parts show the image, the other
    pixels show the baseline (with ``"inpaint"``: a removed background shows the mean
    image, removed object parts are filled in from what remains, see
    :func:`fill_from_sources`). A float vector in [0, 1] blends each part between baseline
    (0) and image (1), for fades. Pixels with id -1 (unlabelled) are always kept. With
    :class:`ReferenceImages` as baseline each request is a composite per reference image
    and its value the mean over them. Values
    are the softmax probability (``output="probability"``) or the logit
    (``output="logit"``) of each image's explained class; both are memoised, so a caller
    may ask for the other one (e.g. sufficiency is judged on probabilities) at no cost.

    Parameters
    ----------
    model : torch.nn.Module
        Prepared model (on ``device``, eval mode).
    images : ndarray (N, C, H, W)
    masks : ndarray (N, H, W)
    targets : ndarray (N,)
        Explained class per image.
    n_parts : int
    baseline : see :func:`make_baseline`
    device : torch.device
    batch_size : int or None
    output : {"probability", "logit"}
        The value :meth:`evaluate` returns by default.
    mean_image : tensor (C, H, W), optional
        Used by ``baseline="mean"`` and ``"inpaint"``.
    draw : callable, optional
        Composites drawn by the caller instead of filled in from a baseline:
        ``draw(image_idx, keep)`` with ``image_idx`` an int array ``(M,)`` and ``keep`` a bool
        array ``(M, n_parts)`` returns the images ``(M, C, H, W)``, e.g. scenes drawn again
        with the removed parts truly absent. ``baseline`` is then unused, and fades (float
        ``keep``) are refused.

    Notes
    -----
    Images, masks and baselines are moved to the device once. On an out-of-memory error
    the batch size is halved and the failed batch retried, so results do not depend on
    the batch size that finally fits.
    """

    def __init__(
        self,
        model,
        images,
        masks,
        targets,
        n_parts,
        baseline="zero",
        device=torch.device("cpu"),
        batch_size=None,
        output="probability",
        mean_image=None,
        draw=None,
    ):
        self._column(output)
        self.draw = draw
        self.model = model
        self.device = device
        self.output = output
        self.batch_size = default_batch_size(device, batch_size, np.shape(images))
        self.n_parts = int(n_parts)
        self.images = to_device_images(images, device)
        # Removed object parts are filled in per coalition; the canvas shows where the background is removed.
        self.inpaint = draw is None and isinstance(baseline, str) and baseline == "inpaint"
        baselines = make_baseline("zero" if draw is not None else baseline, self.images, mean_image=mean_image)
        # (N, K, C, H, W): K replacements per image whose values are averaged (K = 1 but for references).
        self.baselines = baselines if baselines.ndim == 5 else baselines.unsqueeze(1)
        # Shift ids by one so that unlabelled pixels (-1) index an always-kept slot 0.
        self.masks = torch.as_tensor(np.asarray(masks, dtype=np.int64) + 1, device=device).flatten(1)
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.int64), device=device)
        self.present = part_presence(masks, self.n_parts)
        self._cache = [dict() for _ in range(len(self.images))]  # key -> (probability, logit)
        self._baseline_probabilities = None
        self.evaluations = np.zeros(len(self.images), dtype=np.int64)  # model evaluations per image

    def __len__(self):
        return len(self.images)

    @property
    def n_references(self):
        """Replacements per image: each coalition costs this many forward passes."""
        return self.baselines.shape[1]

    @property
    def n_evaluations(self):
        """Model evaluations of composites so far (cached requests are not counted); each
        costs :attr:`n_references` forward passes."""
        return int(self.evaluations.sum())

    def _composites(self, image_idx, keep):
        """Images with non-kept parts replaced by their baseline, built on the device:
        ``(M * K, C, H, W)``, the K replacements of each request in a row."""
        if self.draw is not None:
            return self._drawn(image_idx, keep)
        slots = torch.cat([torch.ones(len(keep), 1, device=self.device), keep.float()], dim=1)
        if bool((image_idx == image_idx[0]).all()):
            # One image (exact values ask 2**P coalitions of each): broadcast it, gather nothing per request.
            first = image_idx[:1]
            pixel_keep = slots[:, self.masks[first][0]]
            images, baselines = self.images[first][:, None], self.baselines[first]
        else:
            pixel_keep = torch.gather(slots, 1, self.masks[image_idx])
            images, baselines = self.images[image_idx][:, None], self.baselines[image_idx]
        pixel_keep = pixel_keep.view(len(keep), 1, 1, *self.images.shape[2:])
        # One fused pass; a kept (1) or removed (0) pixel is exactly the image's or the baseline's.
        composite = torch.lerp(baselines, images, pixel_keep)
        if self.inpaint:
            composite = self._inpainted(image_idx, pixel_keep, images, composite)
        return composite.flatten(0, 1).contiguous(memory_format=torch.channels_last)

    def _drawn(self, image_idx, keep):
        """Composites drawn by the caller's ``draw`` (one per request)."""
        if not ((keep == 0) | (keep == 1)).all():
            raise ValueError("this engine draws its composites, which keep a part or leave it out: no fades.")
        drawn = self.draw(image_idx.cpu().numpy(), keep.bool().cpu().numpy())
        images = torch.as_tensor(np.asarray(drawn), dtype=self.images.dtype, device=self.device)
        if images.shape != (len(keep), *self.images.shape[1:]):
            raise ValueError(f"draw returned images of shape {tuple(images.shape)}, expected "
                             f"{(len(keep), *self.images.shape[1:])}.")
        return images.contiguous(memory_format=torch.channels_last)

    def _checked_requests(self, image_idx, keep):
        """``image_idx`` as int64 and ``keep`` checked (shape, values in [0, 1]), absent parts zeroed."""
        image_idx = np.asarray(image_idx, dtype=np.int64)
        keep = np.asarray(keep)
        if keep.shape != (len(image_idx), self.n_parts):
            raise ValueError(f"keep must have shape ({len(image_idx)}, {self.n_parts}), got {keep.shape}.")
        if keep.dtype != bool:
            keep = keep.astype(np.float32)
            if keep.size and (keep.min() < 0 or keep.max() > 1):
                raise ValueError("keep values must lie in [0, 1].")
        # Absent parts have no pixels: zeroing them makes equal composites share a key.
        present = self.present[image_idx]
        return image_idx, (keep * present if keep.dtype != bool else keep & present)

    def composite_images(self, image_idx, keep):
        """The images the model is shown for the given (image, keep-vector) requests.

        Parameters
        ----------
        image_idx, keep : as in :meth:`evaluate`

        Returns
        -------
        composites : ndarray of shape (M, K, C, H, W), float32
            K = :attr:`n_references` composites per request (one but for reference images).
        """
        image_idx, keep = self._checked_requests(image_idx, keep)
        with torch.no_grad():
            images = self._composites(torch.as_tensor(image_idx, device=self.device),
                                      torch.as_tensor(keep, dtype=torch.float32, device=self.device))
        return images.float().cpu().numpy().reshape(len(keep), self.n_references, *images.shape[1:])

    def _inpainted(self, image_idx, pixel_keep, images, composite):
        """``baseline="inpaint"``: removed object parts filled in from the pixels that remain
        (kept parts, unlabelled pixels and the background or the canvas that replaces it)."""
        background = (self.masks[image_idx] == 1).view_as(pixel_keep)  # slot 1: part id 0
        weights = torch.where(background, torch.ones_like(pixel_keep), pixel_keep)  # the background is known either way
        values = torch.where(background, composite, images)
        canvas = self.baselines[image_idx].mean(dim=(-2, -1), keepdim=True).flatten(0, 1)
        return fill_from_sources(values.flatten(0, 1), weights.flatten(0, 1), canvas).view_as(composite)

    @staticmethod
    def _column(output):
        """Position of ``output`` in a memoised ``(probability, logit)`` pair."""
        if output not in OUTPUTS:
            raise ValueError(f"output must be 'probability' or 'logit', got {output!r}.")
        return OUTPUTS.index(output)

    def _logits(self, image_idx, keep):
        """The model's logits ``(M, K, n_classes)`` on the composites of the requests, as float32."""
        logits = call_model(self.model, self._composites(image_idx, keep), image_idx)
        check_logits(logits, len(keep) * self.n_references, "composites")
        if getattr(self, "_n_classes", None) != logits.shape[1]:  # all targets, checked once
            check_targets(self.targets, logits.shape[1])
            self._n_classes = logits.shape[1]
        return logits.float().view(len(keep), self.n_references, -1)

    def _target_values(self, logits, image_idx):
        """``(M, 2)``: probability and logit of each request's explained class from its
        logits ``(M, K, n_classes)``, each the mean over the K replacements: the memoised pair."""
        k = logits.shape[1]
        targets = self.targets.to(logits.device)[image_idx].repeat_interleave(k)
        flat = logits.flatten(0, 1)
        return torch.stack([class_value(flat, targets, output).view(-1, k).mean(dim=1) for output in OUTPUTS], dim=1)

    def _run(self, image_idx, keep, head):
        """``head(logits, image_idx)`` of the requests, in batches, halving the batch on out-of-memory."""

        def run(start, stop):
            values = head(self._logits(image_idx[start:stop], keep[start:stop]), image_idx[start:stop])
            return values.cpu().numpy().astype(np.float64)

        # batch_size counts composites; each request makes one per replacement.
        per_batch = max(1, self.batch_size // self.n_references)
        with inference_context(self.device):
            out, fitted = run_in_batches(len(keep), per_batch, run, self.device, "composites")
        if fitted < per_batch:  # halved on out-of-memory
            self.batch_size = fitted * self.n_references
        return np.concatenate(out)

    def _keys(self, keep):
        """Cache keys of keep vectors: packed bits for 0/1 rows (so fades and coalitions share
        them), raw floats for other rows."""
        bits = [bytes(row) for row in np.packbits(keep.astype(bool), axis=1)]
        if keep.dtype == bool:
            return bits
        binary = np.isin(keep, (0.0, 1.0)).all(axis=1)
        return [bit if is_binary else b"f" + row.tobytes() for bit, is_binary, row in zip(bits, binary, keep)]

    def evaluate(self, image_idx, keep, output=None, memoise=True):
        """Values of the given (image, keep-vector) requests.

        Parameters
        ----------
        image_idx : array-like of int, shape (M,)
            Image of each request.
        keep : array-like of shape (M, n_parts), bool or float in [0, 1]
            How much of each part is kept: a coalition (bool), or the strength of each
            part in a fade (float; 0.25 shows 25% image and 75% baseline).
        output : {"probability", "logit"}, default=None
            The value returned; default: the engine's ``output``.
        memoise : bool, default=True
            ``False`` for coalitions asked once each (all ``2**P`` of an image, for exact
            values): only each image's empty and full coalitions go through the memo, the
            others are evaluated as given, without a per-request key — at the model's own
            rate, and without holding ``2**P`` values per image.

        Returns
        -------
        values : ndarray of shape (M,), float64
        """
        column = self._column(self.output if output is None else output)
        image_idx, keep = self._checked_requests(image_idx, keep)
        if not memoise:
            return self._evaluate_once(image_idx, keep, output, column)
        keys = self._keys(keep)
        values = np.empty(len(image_idx), dtype=np.float64)
        todo, todo_pos = {}, []
        for pos, (i, key) in enumerate(zip(image_idx.tolist(), keys)):
            cached = self._cache[i].get(key)
            if cached is not None:
                values[pos] = cached[column]
            else:
                todo_pos.append(pos)
                todo.setdefault((i, key), pos)
        if todo:
            first = np.fromiter(todo.values(), dtype=np.int64, count=len(todo))
            self.evaluations += np.bincount(image_idx[first], minlength=len(self.evaluations))
            new_values = []
            for batch in batch_slices(len(first), max(self.batch_size, 4096)):
                rows = first[batch]
                idx = torch.as_tensor(image_idx[rows], device=self.device)
                new_values.append(self._run(idx, torch.as_tensor(keep[rows], device=self.device), self._target_values))
            new_values = np.concatenate(new_values)
            for (i, key), value in zip(todo, new_values):
                self._cache[i][key] = tuple(value.tolist())
            for pos in todo_pos:
                values[pos] = self._cache[image_idx[pos]][keys[pos]][column]
        return values

    def _evaluate_once(self, image_idx, keep, output, column):
        """:meth:`evaluate` without the memo but for each image's empty and full coalitions."""
        keep = keep.astype(bool)
        corner = ~keep.any(axis=1) | (keep == self.present[image_idx]).all(axis=1)
        values = np.empty(len(image_idx), dtype=np.float64)
        if corner.any():
            values[corner] = self.evaluate(image_idx[corner], keep[corner], output)
        rest = np.flatnonzero(~corner)
        self.evaluations += np.bincount(image_idx[rest], minlength=len(self.evaluations))
        for batch in batch_slices(len(rest), max(self.batch_size, 4096)):
            rows = rest[batch]
            idx = torch.as_tensor(image_idx[rows], device=self.device)
            values[rows] = self._run(idx, torch.as_tensor(keep[rows], device=self.device), self._target_values)[:, column]
        return values

    def probabilities(self, image_idx, keep):
        """Softmax over every class of the composites of the given requests, ``(M, n_classes)``.

        Unlike :meth:`evaluate` this is not memoised and is not limited to the explained
        class: it serves paths that must know whether the decision changed.
        """
        if not len(keep):
            return np.zeros((0, 0))
        image_idx = np.asarray(image_idx, dtype=np.int64)
        probabilities = self._run(
            torch.as_tensor(image_idx, device=self.device),
            torch.as_tensor(np.asarray(keep, dtype=np.float32), device=self.device),
            lambda logits, _: torch.softmax(logits, dim=-1).mean(dim=1),
        )
        self.evaluations += np.bincount(image_idx, minlength=len(self.evaluations))
        return probabilities

    def _memoise(self, keep, logits):
        """Record the values of each image's composite under ``keep`` ``(N, n_parts)`` from its
        ``logits`` ``(N, K, n_classes)``."""
        values = self._target_values(torch.as_tensor(logits).float(), torch.arange(len(self)))
        for cache, key, value in zip(self._cache, self._keys(keep), values.numpy()):
            cache[key] = tuple(value.tolist())

    def memoise_full(self, logits):
        """Record each image's value with all its parts kept from ``logits`` of the whole
        images (e.g. the forward pass that chose the explained classes), so that no method
        evaluates the full image again. It counts as one model evaluation per image."""
        self._memoise(self.present, torch.as_tensor(logits)[:, None])
        self.evaluations += 1

    def baseline_probabilities(self):
        """Softmax over every class on each image's all-baseline composite (no part kept).

        Also memoises the empty coalition's values, so no method evaluates it again.
        Images whose composites are one and the same image — a baseline shared by all
        images (``"zero"``, ``"mean"``, a colour or a single image) and no unlabelled
        pixel, which would show the image — cost one model evaluation together (counted
        for the first of them); other images one each.

        Returns
        -------
        probabilities : ndarray of shape (n_images, n_classes), float64
        """
        if self._baseline_probabilities is None:
            n = len(self)
            shared = np.zeros(n, dtype=bool)
            if self.draw is None and n and (n == 1 or self.baselines.stride(0) == 0):
                shared = ~(self.masks == 0).any(dim=1).cpu().numpy()  # slot 0: unlabelled pixels
            own = np.flatnonzero(~shared)
            rows = np.concatenate([own, np.flatnonzero(shared)[:1]])
            logits = np.zeros((0, self.n_references, 0))
            if len(rows):
                logits = self._run(
                    torch.as_tensor(rows, device=self.device),
                    torch.zeros(len(rows), self.n_parts, device=self.device),
                    lambda logits, _: logits,
                )
            self.evaluations += np.bincount(rows, minlength=n)
            all_logits = np.empty((n, *logits.shape[1:]))
            all_logits[own] = logits[: len(own)]
            all_logits[shared] = logits[len(own) :]
            self._memoise(np.zeros((n, self.n_parts), dtype=bool), all_logits)
            # In float32 like the memoised values, so both judge sufficiency alike.
            probabilities = torch.softmax(torch.as_tensor(all_logits, dtype=torch.float32), dim=-1).mean(dim=1)
            self._baseline_probabilities = probabilities.numpy().astype(np.float64)
        return self._baseline_probabilities

    def touching_parts(self, image_idx):
        """Which parts touch in each image's mask: bool ``(len(image_idx), n_parts, n_parts)``,
        symmetric, for parts with pixels side by side (4-neighbourhood; unlabelled pixels
        touch nothing)."""
        image_idx = np.asarray(image_idx, dtype=np.int64)
        height, width = self.images.shape[2:]
        ids = self.masks[torch.as_tensor(image_idx, device=self.device)].view(-1, height, width)
        n = self.n_parts + 1  # slot 0: unlabelled
        touching = np.zeros((len(image_idx), self.n_parts, self.n_parts), dtype=bool)
        for a, b in ((ids[:, :, :-1], ids[:, :, 1:]), (ids[:, :-1, :], ids[:, 1:, :])):
            meet = (a != b) & (a > 0) & (b > 0)
            image = torch.arange(len(ids), device=ids.device).view(-1, 1, 1).expand_as(a)[meet]
            codes = torch.unique(image * n * n + a[meet] * n + b[meet]).cpu().numpy()
            k, first, second = codes // (n * n), codes // n % n - 1, codes % n - 1
            touching[k, first, second] = touching[k, second, first] = True
        return touching

    def full_and_empty(self, output=None):
        """Values of every image with all its parts kept and with none kept.

        ``output`` as in :meth:`evaluate`.
        """
        n = len(self.images)
        idx = np.repeat(np.arange(n), 2)
        coalitions = np.zeros((2 * n, self.n_parts), dtype=bool)
        coalitions[0::2] = self.present
        values = self.evaluate(idx, coalitions, output=output)
        return values[0::2], values[1::2]
