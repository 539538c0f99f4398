"""Gradient-based pixel attributions (Grad-CAM, integrated gradients) pooled over parts."""

import numpy as np
import torch
import torch.nn.functional as F

from .._core.features import gradcam_maps
from .._core.torch_utils import batch_slices, call_model
from .._engine.coalitions import class_value


def pool_over_parts(pixel_scores, masks, n_parts, pooling):
    """Sum (or mean) of pixel scores ``(B, H, W)`` over each part of ``masks`` ``(B, H*W)``.

    ``masks`` are the engine's shifted ids (0 = unlabelled, part p at p + 1).
    """
    b = len(pixel_scores)
    flat = pixel_scores.reshape(b, -1).double()
    sums = torch.zeros(b, n_parts + 1, dtype=torch.float64, device=flat.device).scatter_add_(1, masks, flat)
    if pooling == "mean":
        counts = torch.zeros_like(sums).scatter_add_(1, masks, torch.ones_like(flat))
        sums = sums / counts.clamp(min=1)
    return sums[:, 1:].cpu().numpy()


def gradcam_part_scores(engine, layer, pooling):
    """Grad-CAM of each image's explained class, upsampled to pixels and pooled per part."""
    out = []
    for batch in batch_slices(len(engine), engine.batch_size):
        x = engine.images[batch]
        cam = gradcam_maps(engine.model, layer, x, targets=engine.targets[batch], normalize=False)
        cam = F.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
        out.append(pool_over_parts(cam, engine.masks[batch], engine.n_parts, pooling))
    return np.concatenate(out)


def integrated_gradients_part_scores(engine, n_steps, pooling):
    """Integrated gradients from the baseline to each image, summed over channels, pooled per part.

    The path integral uses the midpoint rule with ``n_steps`` points; attributions add up
    to (nearly) the value on the image minus the value on the baseline. With several
    replacements per image (reference images) they are the mean of the integrated
    gradients from each, the expected gradients of Erion et al. (2021), which add up to the
    value on the image minus the mean value on the references.
    """
    alphas = (torch.arange(n_steps, dtype=torch.float32, device=engine.device) + 0.5) / n_steps
    per_batch = max(1, engine.batch_size // n_steps)
    out = []
    for batch in batch_slices(len(engine), per_batch):
        x, targets = engine.images[batch], engine.targets[batch]
        pixel = torch.zeros(len(x), *x.shape[2:], device=x.device)
        for base in engine.baselines[batch].unbind(dim=1):
            with torch.inference_mode(False), torch.enable_grad():
                path = (base[None] + alphas.view(-1, 1, 1, 1, 1) * (x - base)[None]).flatten(0, 1)
                path = path.detach().clone().requires_grad_(True)
                logits = call_model(engine.model, path, np.arange(batch.start, batch.stop))
                value = class_value(logits, targets.repeat(n_steps), engine.output)
                (grad,) = torch.autograd.grad(value.sum(), path)
            grad = grad.view(n_steps, len(x), *x.shape[1:]).mean(dim=0)
            pixel += ((x - base) * grad).sum(dim=1).detach() / engine.n_references
        out.append(pool_over_parts(pixel, engine.masks[batch], engine.n_parts, pooling))
    return np.concatenate(out)
