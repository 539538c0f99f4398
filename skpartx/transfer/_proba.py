"""Per-pixel part probabilities of a fitted transfer: matcher, guided filter, clean-up.

The backbone sees whole batches; the per-pixel work after it (matcher, guided filter,
clean-up), memory-bound on large images, runs on chunks of bounded pixel count.
"""

import numpy as np
import torch.nn.functional as F

from .._core.progress import progress_bar
from .._core.torch_utils import batch_slices, inference_context, to_device_images
from ._matchers import ProbeClassifier, drop_small_parts
from ._refine import guided_filter

# Pixels per chunk of the per-pixel work after the backbone (the CPU's is one default batch):
# at full resolution every pass over the maps is memory-bound, and temporaries that stay in
# cache go several times faster (224-px images on a 2-core CPU: 24 images/s in chunks of 128,
# 53 in chunks of 8, more in chunks of 4 with the backbone's batches of 4).
CHUNK_PIXELS = {"cpu": 4 * 224 * 224, "cuda": 256 * 224 * 224}


def coarse_proba(reader, matcher, images, blocks):
    """Part probabilities ``(B, P, h, w)`` of a batch on the reader's map.

    Parameters
    ----------
    reader : FeatureReader
    matcher : ProbeClassifier, KNNMatcher or HoughMatcher
    images : ndarray (B, C, H, W)
    blocks : list of tensor
        The batch's feature blocks from ``reader.batches``.
    """
    if isinstance(matcher, ProbeClassifier):
        return matcher(blocks, reader.size)
    stacked = reader.stack(blocks)
    return matcher(stacked, reader.descriptors(images, stacked))


def refine_proba(proba, images, device, refine="guided", refine_radius=None, min_part_area=0.0):
    """Part probabilities at the images' resolution, refined, cleaned and normalised.

    Parameters
    ----------
    proba : tensor (B, P, h, w)
        Coarse probabilities; may be overwritten.
    images : ndarray (B, C, H, W)
        The guide of the filter.
    device : torch.device
    refine : {"guided", None}, default="guided"
        Colour guided filter, or plain bilinear upsampling.
    refine_radius : int, default=None
        Filter radius; ``None``: 1/16 of the image side (at least 1).
    min_part_area : float, default=0.0
        Parts winning less than this share of an image's pixels are dropped.

    Returns
    -------
    proba : tensor (B, P, H, W)
        Summing to 1 over parts at every pixel.
    winners : tensor (B, H, W) or None
        The most probable part of every pixel when the clean-up found it
        (``min_part_area > 0``), else ``None``; see :func:`most_probable_parts`.
    """
    size = images.shape[2:]
    if refine == "guided":
        # The filter takes the coarse maps as they are and brings them to pixels itself.
        guide = to_device_images(images, device)
        radius = refine_radius if refine_radius is not None else max(1, round(min(size) / 16))
        proba = guided_filter(guide, proba, radius, subsample=max(1, radius // 2))
    elif tuple(proba.shape[2:]) != tuple(size):
        proba = F.interpolate(proba, size=size, mode="bilinear", align_corners=False)
    # In place from here on: at full resolution every pass over the maps is memory-bound.
    proba, winners = proba.clamp_(min=0), None
    if min_part_area > 0:
        proba, winners = drop_small_parts(proba, min_part_area)
    # Dividing by each pixel's positive sum keeps its most probable part.
    return proba.div_(proba.sum(dim=1, keepdim=True).clamp_(min=1e-8)), winners


def iter_part_proba(reader, matcher, images, refine="guided", refine_radius=None, min_part_area=0.0, verbose=False):
    """Yield ``(slice, proba, winners)``: the part probabilities of consecutive images, on the device.

    Parameters
    ----------
    reader : FeatureReader
    matcher : ProbeClassifier, KNNMatcher or HoughMatcher
    images : ndarray or LazyImages (N, C, H, W)
    refine, refine_radius, min_part_area
        See :func:`refine_proba`.
    verbose : bool, default=False
        Show a progress bar.

    Yields
    ------
    indices : slice
        Images of ``images`` in this chunk.
    proba : tensor (chunk, P, H, W)
    winners : tensor (chunk, H, W) or None
        See :func:`refine_proba`.
    """
    budget = CHUNK_PIXELS["cuda" if reader.device.type == "cuda" else "cpu"]
    chunk = max(1, budget // int(np.prod(images.shape[2:])))
    with progress_bar(verbose, len(images), "part transfer", unit="image") as bar:
        for batch, batch_images, blocks in reader.batches(images):
            for part in batch_slices(len(batch_images), chunk):
                with inference_context(reader.device):
                    sub = batch_images[part]
                    proba = coarse_proba(reader, matcher, sub, [block[part] for block in blocks])
                    proba, winners = refine_proba(proba, sub, reader.device, refine, refine_radius, min_part_area)
                yield slice(batch.start + part.start, batch.start + part.stop), proba, winners
                bar.update(part.stop - part.start)


def most_probable_parts(proba, winners=None):
    """Each pixel's most probable part and its probability, ``(B, H, W)`` each.

    ``winners`` from :func:`refine_proba`, when it has them, spare a pass over all maps.
    """
    if winners is None:
        return proba.max(dim=1)
    return proba.gather(1, winners[:, None]).squeeze(1), winners
