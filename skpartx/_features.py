"""Dense features from the intermediate layers of any torch backbone ("hyperpixels")."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from ._torch import default_batch_size, forward_images, inference_context, iter_image_batches, logits_of, to_device_images

MIN_GRID = 4
MAX_AUTO_LAYERS = 4


def _as_grid(output, name):
    """A layer output as a ``(B, C, h, w)`` map; ViT tokens ``(B, T, D)`` become a grid.

    Leading class/register tokens are dropped: the largest square number of trailing
    tokens forms the grid.
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not torch.is_tensor(output):
        raise ValueError(f"layer {name!r} returned {type(output).__name__}, not a tensor; choose another layer.")
    if output.ndim == 4:
        return output
    if output.ndim == 3:
        tokens = output.shape[1]
        side = math.isqrt(tokens)
        if side < 2:
            raise ValueError(f"layer {name!r} returned {tokens} tokens, too few to form a spatial grid.")
        grid = output[:, tokens - side * side :, :]
        return grid.transpose(1, 2).reshape(output.shape[0], output.shape[2], side, side)
    raise ValueError(
        f"layer {name!r} returned shape {tuple(output.shape)}, which is not spatial; dense features need "
        "(B, C, h, w) maps or (B, tokens, D) ViT outputs."
    )


def _capture(backbone, names, images):
    """Run ``backbone`` once and return the outputs of the named modules."""
    modules = dict(backbone.named_modules())
    captured = {}
    handles = [
        modules[name].register_forward_hook(lambda m, i, o, name=name: captured.__setitem__(name, o))
        for name in names
    ]
    try:
        forward_images(backbone, images)
    finally:
        for handle in handles:
            handle.remove()
    silent = [name for name in names if name not in captured]
    if silent:
        raise ValueError(
            f"layers {silent} did not run in the backbone's forward pass, so their outputs cannot be read "
            "(scripted or exported models inline their layers); use a regular torch.nn.Module backbone."
        )
    return captured


def auto_layers(backbone, images, device):
    """Pick hyperpixel layers: the deepest module output at each spatial resolution.

    Runs one forward pass on a few images with hooks on every named module, groups the
    4-d outputs by their spatial size, and keeps, for each size of at least 4×4, the
    module that ran last; the ``MAX_AUTO_LAYERS`` smallest such sizes are used (deep
    layers see parts, shallow ones see edges).
    """
    names = [name for name, _ in backbone.named_modules() if name]
    order = []
    modules = dict(backbone.named_modules())
    handles = [
        modules[name].register_forward_hook(lambda m, i, o, name=name: order.append((name, o)))
        for name in names
    ]
    try:
        with inference_context(device):
            forward_images(backbone, to_device_images(images[:2], device))
    finally:
        for handle in handles:
            handle.remove()
    last_at = {}
    for name, out in order:
        if torch.is_tensor(out) and out.ndim == 4 and min(out.shape[2:]) >= MIN_GRID:
            last_at[tuple(out.shape[2:])] = name
    if not last_at:
        raise ValueError(
            "could not find a spatial layer in the backbone automatically; pass layers=[...] with the names "
            "of modules that output (B, C, h, w) maps or ViT tokens."
        )
    sizes = sorted(last_at, key=lambda s: s[0] * s[1])[:MAX_AUTO_LAYERS]
    return [last_at[s] for s in sorted(sizes, key=lambda s: -s[0] * s[1])]


def hookable(module):
    """Whether forward hooks on the module's layers fire: not for TorchScript, nor for
    exported graphs that inline their layers."""
    if isinstance(module, torch.jit.ScriptModule):
        return False
    graph = getattr(module, "graph", None)
    if isinstance(module, torch.fx.GraphModule) and graph is not None:
        # Exported graphs call only internal helpers (such as their guards) as modules.
        return any(node.op == "call_module" and not str(node.target).startswith("_") for node in graph.nodes)
    return True


def check_layers(backbone, layers):
    """Layer names as a list, each a module of the backbone."""
    layers = [layers] if isinstance(layers, str) else list(layers)
    if not layers:
        raise ValueError("layers must name at least one module of the backbone.")
    known = dict(backbone.named_modules())
    missing = [name for name in layers if name not in known]
    if missing:
        candidates = [name for name in known if name][:12]
        raise ValueError(f"the backbone has no module named {missing}; some of its modules: {candidates}.")
    return layers


def feature_blocks(backbone, layers, x, colour_weight=0.0):
    """Per-layer feature maps of a batch at their own resolution, L2-normalised over channels.

    The image's colour, scaled by ``colour_weight``, is appended as a last block when
    ``colour_weight > 0``. Must run inside :func:`inference_context`.
    """
    captured = _capture(backbone, layers, x)
    blocks = [F.normalize(_as_grid(captured[name], name).float(), dim=1) for name in layers]
    if colour_weight > 0:
        blocks.append(colour_weight * x.float())
    return blocks


def stack_blocks(blocks, size, normalize=True):
    """Resize blocks bilinearly to ``size`` and concatenate them over channels.

    With ``normalize`` each position's vector is L2-normalised, so dot products are
    cosine similarities.
    """
    resized = [
        block if tuple(block.shape[2:]) == tuple(size) else F.interpolate(block, size=size, mode="bilinear", align_corners=False)
        for block in blocks
    ]
    stacked = torch.cat(resized, dim=1)
    return F.normalize(stacked, dim=1) if normalize else stacked


def iter_feature_blocks(backbone, layers, images, device, batch_size=None, colour_weight=0.0):
    """Yield ``(slice, batch images, blocks)`` for consecutive batches of ``images``
    (N×C×H×W: an array or ``LazyImages``, read one batch ahead).

    Each batch is computed in its own inference context, so the consumer's code between
    batches does not run in inference mode (a context held across ``yield`` would leak).
    """
    for batch, batch_images in iter_image_batches(images, default_batch_size(device, batch_size), device):
        with inference_context(device):
            blocks = feature_blocks(backbone, layers, to_device_images(batch_images, device), colour_weight)
        yield batch, batch_images, blocks


def extract_features(backbone, layers, images, size, device, batch_size=None, colour_weight=0.0, normalize=True):
    """Hyperpixel features on a map of ``size`` (h, w) for a stack of images.

    Each layer's map is L2-normalised over channels at its own resolution and resized
    bilinearly to ``size``; the layers are concatenated with equal weight, and the
    image's colour (weighted by ``colour_weight``) joins as one more block. With
    ``normalize`` each position's vector is then L2-normalised.

    Returns
    -------
    features : float32 tensor (N, D, h, w) on ``device``
    """
    out = [
        stack_blocks(blocks, size, normalize).contiguous()
        for _, _, blocks in iter_feature_blocks(backbone, layers, images, device, batch_size, colour_weight)
    ]
    return torch.cat(out) if out else torch.zeros(0)


def soft_labels(masks, n_parts, grid):
    """Share of each part in each grid cell, over labelled pixels: ``(N, n_parts, grid, grid)``.

    Also returns the share of labelled pixels per cell, so cells without labels can be
    left out of the memory.
    """
    masks = torch.as_tensor(np.asarray(masks, dtype=np.int64))
    labelled = (masks >= 0).float()
    onehot = F.one_hot(masks.clamp(min=0), n_parts).permute(0, 3, 1, 2).float() * labelled[:, None]
    pooled = F.adaptive_avg_pool2d(onehot, grid)
    weight = F.adaptive_avg_pool2d(labelled[:, None], grid)[:, 0]
    return pooled / weight.clamp(min=1e-8)[:, None], weight


def mean_descriptors(features):
    """Global descriptors: the mean feature over the map, L2-normalised. ``(B, D)``."""
    return F.normalize(features.flatten(2).mean(dim=2), dim=1)


def gradcam_maps(backbone, layer, x, targets=None, normalize=True):
    """Grad-CAM maps at ``layer``: ``(B, h, w)``, for ``targets`` (default: predicted class).

    The channel weights are the spatial means of the gradient of the target class's logit
    with respect to the layer's output; the map is the ReLU of the weighted sum of the
    channels (Selvaraju et al., 2017). With ``normalize`` each map sums to 1 (images
    whose map is zero everywhere get a uniform map).
    """
    captured = {}
    module = dict(backbone.named_modules())[layer]
    handle = module.register_forward_hook(lambda m, i, o: captured.__setitem__("out", o))
    try:
        with torch.inference_mode(False), torch.enable_grad():
            x = x.detach().clone().float().requires_grad_(True)
            logits = logits_of(forward_images(backbone, x))
            if logits.ndim != 2:
                raise ValueError(
                    f"Grad-CAM needs a classifier returning (B, n_classes) logits; it returned shape "
                    f"{tuple(logits.shape)}."
                )
            activation = _as_grid(captured["out"], layer)
            if targets is None:
                targets = logits.argmax(dim=1)
            score = logits.gather(1, torch.as_tensor(targets, device=logits.device).view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(score, activation)
    finally:
        handle.remove()
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * activation).sum(dim=1)).detach().float()
    if not normalize:
        return cam
    total = cam.flatten(1).sum(dim=1)
    cam = torch.where(total[:, None, None] > 0, cam, torch.ones_like(cam))
    return cam / cam.flatten(1).sum(dim=1)[:, None, None]


def gradcam_descriptors(features, cam):
    """Features pooled under Grad-CAM maps (resized to the feature grid), L2-normalised."""
    cam = F.interpolate(cam[:, None], size=features.shape[2:], mode="bilinear", align_corners=False)
    cam = cam / cam.flatten(1).sum(dim=1).clamp(min=1e-12)[:, None, None, None]
    return F.normalize((features * cam).flatten(2).sum(dim=2), dim=1)
