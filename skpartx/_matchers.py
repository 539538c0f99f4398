"""Label-transfer methods as small fitted modules: features of a target → part probabilities.

Each matcher holds what it learnt from the labelled images as buffers/parameters, so
moving, copying and pickling an estimator moves its matcher with it.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class KNNMatcher(nn.Module):
    """Dense kNN label propagation restricted to retrieved reference images.

    Parameters
    ----------
    features : tensor (n_refs, D, g, g)
        L2-normalised features of the labelled images.
    labels : tensor (n_refs, P, g, g)
        Soft part labels per cell.
    weight : tensor (n_refs, g, g)
        Share of labelled pixels per cell; cells without labels do not vote.
    """

    def __init__(self, features, labels, weight, n_neighbors, n_references, temperature):
        super().__init__()
        self.register_buffer("keys", features.flatten(2).transpose(1, 2).contiguous())
        self.register_buffer("values", labels.flatten(2).transpose(1, 2).contiguous())
        self.register_buffer("valid", weight.flatten(1) > 0)
        self.register_buffer("descriptors", F.normalize(self.keys.mean(dim=1), dim=1))
        self.n_neighbors = n_neighbors
        self.n_references = n_references
        self.temperature = temperature

    def forward(self, features):
        """Soft part labels ``(B, P, g, g)`` for target features ``(B, D, g, g)``."""
        queries = features.flatten(2).transpose(1, 2)  # (B, g*g, D)
        descriptors = F.normalize(queries.mean(dim=1), dim=1)
        n_refs = min(self.n_references, len(self.descriptors))
        refs = (descriptors @ self.descriptors.T).topk(n_refs, dim=1).indices  # (B, R)
        keys = self.keys[refs].flatten(1, 2)  # (B, R*g*g, D)
        values = self.values[refs].flatten(1, 2)  # (B, R*g*g, P)
        valid = self.valid[refs].flatten(1)
        similarity = torch.bmm(queries, keys.transpose(1, 2))
        similarity = similarity.masked_fill(~valid[:, None, :], float("-inf"))
        top = similarity.topk(min(self.n_neighbors, similarity.shape[2]), dim=2)
        weights = torch.softmax(top.values / self.temperature, dim=2)  # (B, g*g, k)
        picked = torch.gather(
            values[:, None, :, :].expand(-1, queries.shape[1], -1, -1),
            2,
            top.indices[..., None].expand(-1, -1, -1, values.shape[2]),
        )  # (B, g*g, k, P)
        votes = (weights[..., None] * picked).sum(dim=2)
        g = features.shape[2:]
        return votes.transpose(1, 2).reshape(len(features), -1, *g)


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
        """Part probabilities ``(B, P, h, w)`` from feature blocks (see :func:`feature_blocks`)."""
        first = self.net[0]
        weight = first.weight / self.scale  # fold the standardisation into the first layer
        bias = first.bias - weight @ self.mean
        hidden = bias.view(1, -1, 1, 1)
        for block, w in zip(blocks, weight.split(self.block_dims, dim=1)):
            h = torch.einsum("bchw,oc->bohw", block, w)
            if tuple(h.shape[2:]) != tuple(size):
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

    ``proba`` is ``(B, P, H, W)``; the pixels of a dropped part go to their next most
    probable part. Repeated until no part is small, since pixels handed on can make
    another small winner (at most P rounds; the most probable part always stays).
    """
    b, p, h, w = proba.shape
    for _ in range(p):
        winners = proba.argmax(dim=1)
        area = F.one_hot(winners.flatten(1), p).sum(dim=1).float() / (h * w)  # (B, P)
        small = (area > 0) & (area < min_area)
        if not small.any():
            break
        proba = proba.masked_fill(small[:, :, None, None], 0.0)
    return proba
