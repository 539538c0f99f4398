"""Label-transfer methods as small fitted modules: target features → part probabilities.

Each matcher keeps what it learnt from the labelled images as buffers or parameters, so
moving, copying and pickling an estimator moves its matcher with it. Matching methods
(kNN, Hough) first retrieve, per target image, the most similar labelled images and
compare cells with those only: cost and memory grow with ``n_references``, not with the
number of labelled images.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Largest number of similarity entries (targets × references × cells²) held at once.
_MAX_PAIRS = 2**25


class ReferenceMatcher(nn.Module):
    """Memory of labelled images shared by the matching methods.

    Parameters
    ----------
    features : tensor (n_refs, D, h, w)
        L2-normalised features of the labelled images.
    labels : tensor (n_refs, P, h, w)
        Soft part labels per cell (share of each part).
    weight : tensor (n_refs, h, w)
        Share of labelled pixels per cell; cells without labels never match.
    descriptors : tensor (n_refs, D')
        Global descriptors for retrieval (L2-normalised).
    n_references : int
        Labelled images retrieved per target image.
    """

    def __init__(self, features, labels, weight, descriptors, n_references):
        super().__init__()
        self.register_buffer("keys", features.flatten(2).transpose(1, 2).contiguous())  # (n, h*w, D)
        self.register_buffer("values", labels.flatten(2).transpose(1, 2).contiguous())  # (n, h*w, P)
        self.register_buffer("valid", weight.flatten(1) > 0)
        self.register_buffer("descriptors", descriptors)
        self.n_references = n_references

    def retrieve(self, descriptors):
        """Indices ``(B, R)`` of the most similar labelled images, best first."""
        n_refs = min(self.n_references, len(self.descriptors))
        return (descriptors @ self.descriptors.T).topk(n_refs, dim=1).indices

    def _chunks(self, n_targets, cells):
        """Target slices small enough that a chunk's similarity tensor stays bounded."""
        per_target = max(1, min(self.n_references, len(self.descriptors)) * cells * self.keys.shape[1])
        step = max(1, _MAX_PAIRS // per_target)
        return [slice(s, min(s + step, n_targets)) for s in range(0, n_targets, step)]

    def forward(self, features, descriptors):
        """Soft part labels ``(B, P, h, w)`` for target features ``(B, D, h, w)``."""
        b, _, h, w = features.shape
        out = []
        for chunk in self._chunks(b, h * w):
            queries = features[chunk].flatten(2).transpose(1, 2)  # (b, h*w, D)
            refs = self.retrieve(descriptors[chunk])
            out.append(self._match(queries, refs, (h, w)))
        votes = torch.cat(out)
        return votes.transpose(1, 2).reshape(b, -1, h, w)

    def _match(self, queries, refs, grid):
        raise NotImplementedError


def _weighted_vote(scores, refs, values, k):
    """Average the soft labels of each query's ``k`` best-scoring reference cells.

    ``scores`` is ``(B, Q, R*cells)`` with ``-inf`` for cells that may not vote; the
    labels are weighted by ``softmax(scores)`` over the chosen cells.
    """
    top = scores.topk(min(k, scores.shape[2]), dim=2)
    weights = torch.softmax(top.values, dim=2)  # (B, Q, k)
    candidates = values[refs].flatten(1, 2)  # (B, R*cells, P)
    picked = torch.gather(
        candidates[:, None].expand(-1, scores.shape[1], -1, -1),
        2,
        top.indices[..., None].expand(-1, -1, -1, candidates.shape[2]),
    )  # (B, Q, k, P)
    return (weights[..., None] * picked).sum(dim=2)


class KNNMatcher(ReferenceMatcher):
    """Dense kNN label propagation: each target cell takes the softmax(cos / T)-weighted
    vote of its ``n_neighbors`` most similar cells among the retrieved references."""

    def __init__(self, features, labels, weight, descriptors, n_references, n_neighbors, temperature):
        super().__init__(features, labels, weight, descriptors, n_references)
        self.n_neighbors = n_neighbors
        self.temperature = temperature

    def _match(self, queries, refs, grid):
        keys = self.keys[refs].flatten(1, 2)  # (B, R*cells, D)
        similarity = torch.bmm(queries, keys.transpose(1, 2)) / self.temperature
        similarity = similarity.masked_fill(~self.valid[refs].flatten(1)[:, None, :], float("-inf"))
        return _weighted_vote(similarity, refs, self.values, self.n_neighbors)


def gaussian_kernel(sigma):
    """Normalised 2-d Gaussian kernel of radius ``ceil(2 sigma)``."""
    radius = max(1, math.ceil(2 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = g[:, None] * g[None, :]
    return kernel / kernel.sum()


class HoughMatcher(ReferenceMatcher):
    """GEPC's matching: Hyperpixel Flow's regularised Hough matching (Min et al., 2019).

    For a target image and one retrieved reference, the appearance similarity of target
    cell j and reference cell i is ``clamp(cos, 0) ** exponent``. Every pair votes with
    that similarity for its offset (position of j minus position of i) in a Hough space;
    the space is smoothed with a Gaussian of ``sigma`` cells, so offsets agreed on by many
    confident pairs — the geometric transformation between the two objects — collect the
    most votes. A pair's weight is its appearance × the smoothed votes of its offset, and
    each target cell takes the soft label of its ``n_neighbors`` best-weighted reference
    cells (1 = the single best match, as in HPF) across the retrieved references.
    """

    def __init__(self, features, labels, weight, descriptors, n_references, n_neighbors, exponent=3.0, sigma=1.0):
        super().__init__(features, labels, weight, descriptors, n_references)
        self.n_neighbors = n_neighbors
        self.exponent = exponent
        self.register_buffer("kernel", gaussian_kernel(sigma)[None, None])

    def _match(self, queries, refs, grid):
        h, w = grid
        cells = h * w
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        ys, xs = ys.flatten().to(queries.device), xs.flatten().to(queries.device)
        # Offset bin of every (target j, reference i) pair: (dy, dx) shifted to be >= 0.
        offset = (ys[:, None] - ys[None, :] + h - 1) * (2 * w - 1) + (xs[:, None] - xs[None, :] + w - 1)
        b, r = refs.shape
        keys = self.keys[refs]  # (B, R, cells, D)
        appearance = torch.einsum("bqd,brkd->brqk", queries, keys).clamp(min=0) ** self.exponent
        appearance = appearance * self.valid[refs][:, :, None, :]
        votes = torch.zeros(b, r, (2 * h - 1) * (2 * w - 1), device=queries.device)
        votes.scatter_add_(2, offset.flatten().expand(b, r, -1), appearance.flatten(2))
        votes = F.conv2d(
            votes.view(b * r, 1, 2 * h - 1, 2 * w - 1), self.kernel, padding=self.kernel.shape[-1] // 2
        ).view(b, r, -1)
        weight = appearance * votes.gather(2, offset.flatten().expand(b, r, -1)).view(b, r, cells, cells)
        scores = weight.permute(0, 2, 1, 3).reshape(b, cells, r * cells)  # (B, target cells, R*cells)
        valid = self.valid[refs].flatten(1)[:, None, :] & (scores > 0)
        # Log weights: the vote among the best matches is proportional to their weights.
        scores = torch.where(valid, scores.clamp(min=1e-30).log(), torch.full_like(scores, float("-inf")))
        votes = _weighted_vote(scores, refs, self.values, self.n_neighbors)
        return torch.nan_to_num(votes)  # cells with no positive match vote for nothing


class ProbeClassifier(nn.Module):
    """A per-pixel MLP (or linear) classifier on standardised frozen features.

    Trained on rows of concatenated feature blocks at one resolution; predicts from the
    blocks at their own resolutions: the first layer is linear and so is bilinear
    resizing, so applying the first layer block by block before resizing gives the same
    result while resizing only ``hidden_units`` channels.

    Parameters
    ----------
    block_dims : list of int
        Channels of each feature block, in order.
    n_parts : int
    hidden_units : int
        Width of the hidden layer; 0 makes the probe linear.
    """

    def __init__(self, block_dims, n_parts, hidden_units=64):
        super().__init__()
        self.block_dims = list(block_dims)
        n_features = sum(self.block_dims)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        first = nn.Linear(n_features, hidden_units or n_parts)
        self.net = nn.Sequential(first, nn.ReLU(), nn.Linear(hidden_units, n_parts)) if hidden_units else nn.Sequential(first)

    def logits(self, rows):
        return self.net((rows - self.mean) / self.scale)

    def forward(self, blocks, size):
        """Part probabilities ``(B, P, h, w)`` from feature blocks (see ``feature_blocks``)."""
        first = self.net[0]
        weight = first.weight / self.scale  # fold the standardisation into the first layer
        bias = first.bias - weight @ self.mean
        hidden = bias.view(1, -1, 1, 1)
        size = tuple(size)
        for block, w in zip(blocks, weight.split(self.block_dims, dim=1)):
            # Projecting and resizing commute (both linear), so each block does the cheaper
            # first: resize a block larger than the map (e.g. the colour) before projecting,
            # project a block of more channels than hidden units before resizing.
            resize_first = block.shape[2] * block.shape[3] > size[0] * size[1] or block.shape[1] < w.shape[0]
            if resize_first and tuple(block.shape[2:]) != size:
                block = F.interpolate(block, size=size, mode="bilinear", align_corners=False)
            h = F.conv2d(block, w[:, :, None, None])
            if tuple(h.shape[2:]) != size:
                h = F.interpolate(h, size=size, mode="bilinear", align_corners=False)
            hidden = hidden + h
        if len(self.net) > 1:
            out = self.net[2](torch.relu(hidden).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        else:
            out = hidden
        return torch.softmax(out, dim=1)

    def fit(self, rows, labels, n_parts, steps=400, batch_size=4096, learning_rate=1e-2, seed=0):
        """Train with AdamW on ``rows`` ``(n, D)`` and part ids ``labels`` ``(n,)``.

        The loss weighs each part by the inverse square root of its frequency, so small
        parts are not drowned by background and body.
        """
        self.mean.copy_(rows.mean(dim=0))
        self.scale.copy_(rows.std(dim=0).clamp(min=1e-6))
        counts = torch.bincount(labels, minlength=n_parts).float()
        class_weight = torch.where(counts > 0, counts.clamp(min=1).rsqrt(), torch.zeros_like(counts))
        class_weight = class_weight / (class_weight * counts).sum() * counts.sum()
        generator = torch.Generator(device="cpu").manual_seed(seed)
        optimizer = torch.optim.AdamW(self.net.parameters(), lr=learning_rate, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        with torch.enable_grad():
            self.train()
            for _ in range(steps):
                idx = torch.randint(len(rows), (min(batch_size, len(rows)),), generator=generator).to(rows.device)
                loss = F.cross_entropy(self.logits(rows[idx]), labels[idx], weight=class_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
            self.eval()
        return self


def sample_pixels(features, masks, max_pixels, seed):
    """Rows of labelled pixels and their part ids, subsampled to at most ``max_pixels``.

    ``features`` ``(N, D, h, w)`` and ``masks`` ``(N, h, w)`` (-1 = unlabelled).
    """
    d = features.shape[1]
    rows = features.permute(0, 2, 3, 1).reshape(-1, d)
    labels = torch.as_tensor(np.asarray(masks, dtype=np.int64)).reshape(-1).to(features.device)
    keep = torch.nonzero(labels >= 0).squeeze(1)
    if len(keep) > max_pixels:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        keep = keep[torch.randperm(len(keep), generator=generator)[:max_pixels].to(keep.device)]
    return rows[keep], labels[keep]


def drop_small_parts(proba, min_area):
    """Zero the probability of parts that win less than ``min_area`` of an image's pixels.

    ``proba`` is ``(B, P, H, W)``, zeroed in place; the pixels of a dropped part go to their next most
    probable part. Repeated until no part is small, since pixels handed on can make
    another small winner (at most P rounds; the most probable part always stays).

    Returns
    -------
    proba : tensor (B, P, H, W)
        The same tensor.
    winners : tensor (B, H, W), int64
        The most probable part of every pixel of the returned ``proba``, which the check
        needs anyway and callers would otherwise compute again.
    """
    b, p, h, w = proba.shape
    for _ in range(p):
        winners = proba.max(dim=1).indices  # max is ~10x faster than argmax over NCHW channels
        flat = winners.flatten(1)
        area = torch.zeros(b, p, device=proba.device).scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float32))
        area /= h * w  # (B, P)
        small = (area > 0) & (area < min_area)
        if not small.any():
            return proba, winners
        proba = proba.masked_fill_(small[:, :, None, None], 0.0)
    return proba, proba.max(dim=1).indices
