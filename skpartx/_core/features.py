"""Dense features from the intermediate layers of any torch backbone ("hyperpixels")."""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .torch_utils import default_batch_size, forward_images, inference_context, iter_image_batches, logits_of, to_device_images

MIN_GRID = 4
MAX_AUTO_LAYERS = 4
# Class, distillation and register tokens precede the patch tokens: at most one class and
# one distillation token and 16 registers in the models that use them.
MAX_EXTRA_TOKENS = 18
# Depths (as fractions of the block count) of the transformer blocks picked automatically:
# a quarter, half, three quarters and the last block, mixing shallower and deeper blocks as
# hyperpixels do. On both families of `benchmarks/transfer.py --layer-study` this set and
# {middle, last} tie (0.655 and 0.652 mIoU) and the last block alone leads by 0.018 (0.026 on
# the disjoint family); see benchmarks/RESULTS.md.
TOKEN_DEPTHS = (0.25, 0.5, 0.75, 1.0)
# Fewer numbered siblings than this are not "repeated blocks" (a lone attention layer on
# top of a CNN does not make it a transformer).
MIN_TOKEN_BLOCKS = 2
_NUMBERED = re.compile(r"^(.*)\.(\d+)$")


def _first_tensor(output):
    """The tensor in a module's output: itself, the first element of a tuple or list, or
    the first tensor value of a mapping (a Hugging Face ``ModelOutput``)."""
    if isinstance(output, (tuple, list)) and output:
        return output[0]
    if isinstance(output, Mapping):
        return next((value for value in output.values() if torch.is_tensor(value)), output)
    return output


def token_grid(n_tokens, image_size=None):
    """The patch grid ``(h, w)`` of a token sequence, and the number of extra leading tokens.

    The extra tokens (class, distillation, register tokens) come first and the patch
    tokens follow in row-major order. For an image of ``image_size`` (H, W), the grid is
    ``(H // p, W // p)`` (or the ceiling, for models that pad) for the patch size ``p`` for
    which its cell count equals ``n_tokens`` minus the extra tokens, fewest extra tokens
    first. Without ``image_size`` the image is taken to be square. Grids need at least two
    cells per side.

    Parameters
    ----------
    n_tokens : int
    image_size : tuple of int, default=None
        (H, W) of the images the backbone was run on.

    Returns
    -------
    grid : tuple of int or None
        (h, w), or ``None`` when no grid fits.
    n_extra : int or None
    """
    for extra in range(min(MAX_EXTRA_TOKENS, n_tokens - 4) + 1):
        cells = n_tokens - extra
        if image_size is None:
            side = math.isqrt(cells)
            if side * side == cells:
                return (side, side), extra
            continue
        height, width = (int(v) for v in image_size)
        # The cell count falls as p grows, so p only needs to run until it drops below ``cells``.
        for patch in range(1, max(height, width) + 1):
            floor = (height // patch, width // patch)
            ceil = (-(-height // patch), -(-width // patch))
            for h, w in (floor, ceil):
                if h * w == cells and min(h, w) >= 2:
                    return (h, w), extra
            if ceil[0] * ceil[1] < cells:
                break
    return None, None


def _as_grid(output, name, image_size=None):
    """A layer output as a ``(B, C, h, w)`` map; transformer tokens ``(B, T, D)`` become a grid.

    Tokens are laid out on the patch grid of the image (see :func:`token_grid`): the
    leading class, distillation and register tokens are dropped and the patch tokens
    reshaped row by row.

    Parameters
    ----------
    output : tensor, tuple, list or mapping
        The module's output (its first tensor is used).
    name : str
        The layer's name, for error messages.
    image_size : tuple of int, default=None
        (H, W) of the input images; ``None`` assumes square images.
    """
    output = _first_tensor(output)
    if not torch.is_tensor(output):
        raise ValueError(f"layer {name!r} returned {type(output).__name__}, not a tensor; choose another layer.")
    if output.ndim == 4:
        return output
    if output.ndim == 3:
        tokens = output.shape[1]
        grid, _ = token_grid(tokens, image_size)
        if grid is None:
            shape = "square images" if image_size is None else "{}x{} images".format(*image_size)
            raise ValueError(
                f"layer {name!r} returned {tokens} tokens, which form no patch grid of {shape} after dropping up to "
                f"{MAX_EXTRA_TOKENS} leading class/register tokens; choose a layer whose output is a sequence of "
                "patch tokens (B, T, D) or a (B, C, h, w) map."
            )
        h, w = grid
        patches = output[:, tokens - h * w :, :]
        return patches.transpose(1, 2).reshape(output.shape[0], output.shape[2], h, w)
    raise ValueError(
        f"layer {name!r} returned shape {tuple(output.shape)}, which is not spatial; dense features need "
        "(B, C, h, w) maps or (B, tokens, D) transformer outputs."
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


def _depth_indices(n_blocks, depths=TOKEN_DEPTHS):
    """Indices of the blocks at fractional ``depths`` of ``n_blocks`` (block ``ceil(n·d)``, 1-based)."""
    return sorted({min(n_blocks, max(1, math.ceil(n_blocks * d - 1e-9))) - 1 for d in depths})


def _token_blocks(outputs, order, image_size):
    """The repeated transformer blocks among the module outputs, in forward order, or ``[]``.

    Candidates are groups of numbered siblings (``blocks.0, blocks.1, ...``, as in
    ``ModuleList`` and ``Sequential`` containers) of which at least ``MIN_TOKEN_BLOCKS``
    output token sequences ``(B, T, D)`` forming the image's patch grid. Groups inside a
    member of another group (a block's own numbered sub-layers) are left out; the longest
    group wins, and between equally long ones the one that ran last.
    """
    groups = {}
    for name in order:
        match = _NUMBERED.match(name)
        out = _first_tensor(outputs[name])
        if match and torch.is_tensor(out) and out.ndim == 3 and token_grid(out.shape[1], image_size)[0]:
            groups.setdefault(match.group(1), []).append(name)
    members = {name for names in groups.values() for name in names}
    groups = {
        prefix: names
        for prefix, names in groups.items()
        if len(names) >= MIN_TOKEN_BLOCKS and not any(prefix.startswith(m + ".") for m in members)
    }
    if not groups:
        return []
    position = {name: i for i, name in enumerate(order)}
    best = max(groups.values(), key=lambda names: (len(names), position[names[-1]]))
    return sorted(best, key=lambda name: int(_NUMBERED.match(name).group(2)))


def auto_layers(backbone, images, device):
    """Pick hyperpixel layers automatically from one forward pass on a few images.

    - **Transformers** (ViT, DeiT, DINOv2, with or without register tokens): when the
      backbone has repeated blocks whose outputs are token sequences ``(B, T, D)`` on the
      image's patch grid (numbered siblings such as ``blocks.N``, ``encoder.layer.N``,
      ``vit.layers.N``; the longest such group), the blocks at a quarter, half and three
      quarters of the depth and the last block (``TOKEN_DEPTHS``: blocks ``ceil(n/4)``,
      ``ceil(n/2)``, ``ceil(3n/4)`` and ``n`` of ``n``, so 3, 6, 9 and 12 of twelve).
    - **Otherwise** (CNNs): the 4-d outputs are grouped by spatial size and, for each size
      of at least 4×4, the module that ran last is kept; the ``MAX_AUTO_LAYERS`` smallest
      such sizes are used (deep layers see parts, shallow ones see edges).

    Returns
    -------
    layers : list of str
        Module names, shallowest first.
    """
    calls = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: calls.append((name, o)))
        for name, module in backbone.named_modules()
        if name
    ]
    try:
        with inference_context(device):
            x = to_device_images(images[:2], device)
            forward_images(backbone, x)
    finally:
        for handle in handles:
            handle.remove()
    # A module run several times counts with its last output, where it ran last.
    outputs = dict(calls)
    last_call = {name: i for i, (name, _) in enumerate(calls)}
    order = sorted(outputs, key=last_call.get)
    blocks = _token_blocks(outputs, order, tuple(x.shape[2:]))
    if blocks:
        return [blocks[i] for i in _depth_indices(len(blocks))]
    last_at = {}
    for name, out in calls:
        if torch.is_tensor(out) and out.ndim == 4 and min(out.shape[2:]) >= MIN_GRID:
            last_at[tuple(out.shape[2:])] = name
    if not last_at:
        raise ValueError(
            "could not find a spatial layer in the backbone automatically; pass layers=[...] with the names "
            "of modules that output (B, C, h, w) maps or transformer tokens (B, T, D)."
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


def resolve_layers(backbone, layers, images, device):
    """``layers`` as a checked list (:func:`check_layers`), or chosen by :func:`auto_layers`
    from ``images`` when ``None``."""
    return auto_layers(backbone, images, device) if layers is None else check_layers(backbone, layers)


def feature_blocks(backbone, layers, x, colour_weight=0.0):
    """Per-layer feature maps of a batch at their own resolution, L2-normalised over channels.

    The image's colour, scaled by ``colour_weight``, is appended as a last block when
    ``colour_weight > 0``. Must run inside :func:`inference_context`.
    """
    captured = _capture(backbone, layers, x)
    size = tuple(x.shape[2:])
    blocks = [F.normalize(_as_grid(captured[name], name, size).float(), dim=1) for name in layers]
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
    for batch, batch_images in iter_image_batches(images, default_batch_size(device, batch_size, images.shape), device):
        with inference_context(device):
            blocks = feature_blocks(backbone, layers, to_device_images(batch_images, device), colour_weight)
        yield batch, batch_images, blocks


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
            # Differentiate with respect to the tensor the layer returned (a token grid is
            # a view of it that the logits do not depend on), then lay the gradient out alike.
            raw = _first_tensor(captured["out"])
            if not torch.is_tensor(raw):
                raise ValueError(f"layer {layer!r} returned {type(raw).__name__}, not a tensor; choose another layer.")
            if targets is None:
                targets = logits.argmax(dim=1)
            score = logits.gather(1, torch.as_tensor(targets, device=logits.device).view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(score, raw)
            size = tuple(x.shape[2:])
            activation, grad = _as_grid(raw, layer, size), _as_grid(grad, layer, size)
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


@dataclass(frozen=True)
class FeatureReader:
    """How images are read through a backbone into hyperpixel features on one map.

    Parameters
    ----------
    backbone : torch.nn.Module
        On ``device``, in eval mode.
    layers : list of str
        Modules whose outputs are the features; the last one is Grad-CAM's layer.
    size : tuple of int
        (h, w) of the map the blocks are stacked on.
    device : torch.device
    batch_size : int or None, default=None
        Images per forward pass (see :func:`iter_feature_blocks`).
    colour_weight : float, default=0.0
        Weight of the image's colour block.
    retrieval : {"mean", "gradcam"}, default="mean"
        Global descriptor of an image: its mean feature, or its features pooled under the
        Grad-CAM map of the backbone's predicted class.
    """

    backbone: torch.nn.Module
    layers: list
    size: tuple
    device: torch.device
    batch_size: int | None = None
    colour_weight: float = 0.0
    retrieval: str = "mean"

    def batches(self, images):
        """Yield ``(slice, batch images, blocks)`` batch by batch (see :func:`iter_feature_blocks`)."""
        return iter_feature_blocks(self.backbone, self.layers, images, self.device, self.batch_size, self.colour_weight)

    def stack(self, blocks, normalize=True):
        """The blocks on the map: see :func:`stack_blocks`."""
        return stack_blocks(blocks, self.size, normalize)

    def descriptors(self, images, features):
        """Retrieval descriptors ``(B, D)`` of a batch: its images (numpy) and stacked features."""
        if self.retrieval == "mean":
            return mean_descriptors(features)
        cam = gradcam_maps(self.backbone, self.layers[-1], to_device_images(images, self.device))
        return gradcam_descriptors(features, cam)
