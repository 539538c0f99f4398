"""Fitting a part-label transfer's matcher from the labelled images' features.

The probe is trained on a sample of labelled pixels; the matching methods (kNN, Hough)
keep every labelled image's features, soft labels and retrieval descriptor.
"""

import torch
import torch.nn.functional as F

from .._core.features import soft_labels
from .._core.torch_utils import fixed_cpu_threads, inference_context
from ._matchers import HoughMatcher, KNNMatcher, ProbeClassifier, sample_pixels

# The probe's map is at most 64 pixels a side: on 128-px images of both synthetic families it
# transferred as well as a 128-px map (mIoU 0.880 vs 0.874, 0.848 vs 0.846) at 2.5x the
# speed; the guided filter brings the edges back at full resolution (benchmarks/RESULTS.md).
PROBE_MAX_SIZE = 64


def feature_size(image_size, method, grid_size=None):
    """(h, w) of the feature map for images of ``image_size`` (H, W).

    ``grid_size`` when given; otherwise the image's size (at most ``PROBE_MAX_SIZE`` a side)
    for the probe, and half of it (at least 8) for the matching methods, whose cost grows
    with the square (kNN) or fourth power (Hough) of the side.
    """
    if grid_size is not None:
        return (grid_size, grid_size)
    height, width = image_size
    if method == "probe":
        scale = min(1.0, PROBE_MAX_SIZE / max(height, width))
        return (max(1, round(height * scale)), max(1, round(width * scale)))
    return (max(8, height // 2), max(8, width // 2))


def fit_probe(reader, reference, hidden_units, max_pixels, seed):
    """Train a :class:`ProbeClassifier` on (a sample of) the labelled pixels' features.

    Parameters
    ----------
    reader : FeatureReader
        How the images become features.
    reference : PartImages
        The labelled images.
    hidden_units : int
        Hidden width of the probe (0: linear).
    max_pixels : int
        Labelled pixels trained on, sampled evenly across images.
    seed : int
        Seed of the pixel sampling, the probe's initialisation and its training.

    Returns
    -------
    probe : ProbeClassifier
        On the reader's device.
    """
    # Hundreds of optimiser steps amplify the last bits of every sum: read at one fixed thread
    # count (the labelled images only) and trained at it, the probe is the same whatever
    # threads the caller runs with.
    with fixed_cpu_threads(reader.device):
        n_parts = len(reference.part_names)
        per_image = max(1, max_pixels // len(reference))
        rows, labels, block_dims = [], [], None
        masks = torch.as_tensor(reference.masks, dtype=torch.float32)[:, None]
        masks = F.interpolate(masks, size=reader.size, mode="nearest")[:, 0].long().numpy()
        for batch, _, blocks in reader.batches(reference.images):
            block_dims = [b.shape[1] for b in blocks]
            features = reader.stack(blocks, normalize=False)
            r, l = sample_pixels(features, masks[batch], per_image * len(features), seed + batch.start)
            rows.append(r)
            labels.append(l)
        torch.manual_seed(seed)
        probe = ProbeClassifier(block_dims, n_parts, hidden_units).to(reader.device)
        return probe.fit(torch.cat(rows), torch.cat(labels), n_parts, seed=seed)


def fit_reference_matcher(reader, reference, method, n_neighbors, n_references, temperature):
    """Memory of the labelled images' features, soft labels and retrieval descriptors.

    Parameters
    ----------
    reader : FeatureReader
        How the images become features and descriptors.
    reference : PartImages
        The labelled images.
    method : {"knn", "hpf"}
    n_neighbors : int or None
        Reference cells voting per target cell; ``None``: 10 for kNN, 1 for Hough.
    n_references : int
        Labelled images retrieved per target image.
    temperature : float
        Softmax temperature of the kNN vote.

    Returns
    -------
    matcher : KNNMatcher or HoughMatcher
    """
    features, descriptors = [], []
    for _, images, blocks in reader.batches(reference.images):
        with inference_context(reader.device):
            stacked = reader.stack(blocks)
            features.append(stacked)
            descriptors.append(reader.descriptors(images, stacked))
    labels, weight = soft_labels(reference.masks, len(reference.part_names), reader.size)
    memory = (
        torch.cat(features),
        labels.to(reader.device),
        weight.to(reader.device),
        torch.cat(descriptors),
        n_references,
    )
    if method == "knn":
        return KNNMatcher(*memory, n_neighbors or 10, temperature)
    return HoughMatcher(*memory, n_neighbors or 1)
