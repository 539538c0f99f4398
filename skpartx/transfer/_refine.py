"""Edge-aware refinement of part probability maps with a colour guided filter.

He, Sun & Tang's guided filter fits, in every window, a linear model from the guide
image's colour to each probability map; averaging the models makes the maps follow
the image's edges. Transferred part maps come from coarse deep features, so this is
what snaps their boundaries to the parts' actual outlines.
"""

import torch
import torch.nn.functional as F

BILINEAR = {"mode": "bilinear", "align_corners": False}


def _box(x, radius):
    """Mean over a (2r+1)² window with edge replication, as two 1-d passes.

    Each pass adds 2r+1 shifted views: the filter fits its models at a radius of 2-3
    pixels (see ``subsample``), where this is five times faster than ``avg_pool2d``.
    """
    size = 2 * radius + 1
    for dim, pad in ((3, (radius, radius, 0, 0)), (2, (0, 0, radius, radius))):
        padded = F.pad(x, pad, mode="replicate")
        length = padded.shape[dim] - 2 * radius
        x = padded.narrow(dim, 0, length).clone()
        for shift in range(1, size):
            x += padded.narrow(dim, shift, length)
    return x.div_(size * size)


def _solve(matrix, rhs):
    """Solve ``matrix @ x = rhs`` per pixel: ``matrix`` (..., C, C) symmetric, ``rhs`` (..., C, P).

    For colour guides (C = 3) the inverse comes in closed form from the adjugate, several
    times faster than a batched LU solve over every pixel.
    """
    if matrix.shape[-1] != 3:
        return torch.linalg.solve(matrix, rhs)
    a, b, c = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 0, 2]
    d, e, f = matrix[..., 1, 1], matrix[..., 1, 2], matrix[..., 2, 2]
    adj = torch.stack(
        [
            torch.stack([d * f - e * e, c * e - b * f, b * e - c * d], dim=-1),
            torch.stack([c * e - b * f, a * f - c * c, b * c - a * e], dim=-1),
            torch.stack([b * e - c * d, b * c - a * e, a * d - b * b], dim=-1),
        ],
        dim=-2,
    )
    det = a * adj[..., 0, 0] + b * adj[..., 1, 0] + c * adj[..., 2, 0]
    return adj @ rhs / det[..., None, None]


def guided_filter(guide, source, radius, eps=1e-3, subsample=1):
    """Filter ``source`` maps so that they follow the edges of ``guide``.

    Parameters
    ----------
    guide : tensor (B, C, H, W)
        Guide images (colour), values in [0, 1].
    source : tensor (B, P, h, w)
        Maps to filter (e.g. per-part probabilities), at the guide's resolution or any
        other: they are resampled (averaged when larger, bilinear when smaller) to the
        resolution the local models are fitted at, so coarse maps need not be upsampled
        first.
    radius : int
        Window radius in pixels of the guide.
    eps : float
        Regularisation: larger values smooth more across weak edges.
    subsample : int, default=1
        Fit the local linear models on images shrunk by this factor and apply them at
        full resolution (He & Sun's fast guided filter): ``subsample²`` times less work
        for nearly the same result, since the models vary smoothly.

    Returns
    -------
    filtered : tensor (B, P, H, W)
    """
    full_guide = guide.float()
    size = tuple(full_guide.shape[2:])
    guide = full_guide
    if subsample > 1:
        guide = F.avg_pool2d(full_guide, subsample, ceil_mode=True)
        radius = max(1, round(radius / subsample))
    source = source.float()
    if tuple(source.shape[2:]) != tuple(guide.shape[2:]):
        shrink = source.shape[2] > guide.shape[2]  # averaging, as the guide was
        source = F.interpolate(source, size=guide.shape[2:], **({"mode": "area"} if shrink else BILINEAR))
    b, c, h, w = guide.shape
    p = source.shape[1]
    mean_i = _box(guide, radius)  # (B, C, h, w)
    mean_p = _box(source, radius)  # (B, P, h, w)
    cross = (guide[:, :, None] * source[:, None]).flatten(1, 2)
    cov_ip = _box(cross, radius).view(b, c, p, h, w) - mean_i[:, :, None] * mean_p[:, None]
    outer = (guide[:, :, None] * guide[:, None]).flatten(1, 2)
    var_i = _box(outer, radius).view(b, c, c, h, w) - mean_i[:, :, None] * mean_i[:, None]
    var_i = var_i + eps * torch.eye(c, device=guide.device).view(1, c, c, 1, 1)
    # Per pixel: a = Σ⁻¹ cov(I, p), one C×C solve for all P maps at once.
    a = _solve(var_i.permute(0, 3, 4, 1, 2), cov_ip.permute(0, 3, 4, 1, 2))  # (B, h, w, C, P)
    a = a.permute(0, 3, 4, 1, 2)  # (B, C, P, h, w): colour-major, so each colour's slopes are one block
    offset = mean_p - (a * mean_i[:, :, None]).sum(dim=1)
    # Box-averaged models, brought to full resolution in one call ((C + 1)·P maps).
    models = _box(torch.cat([a.flatten(1, 2), offset], dim=1), radius)
    if subsample > 1:
        # Channels-last: PyTorch's CPU kernel then interpolates all maps of a pixel at once,
        # about five times faster than map by map (the values are the same).
        models = F.interpolate(models.contiguous(memory_format=torch.channels_last), size=size, **BILINEAR)
    # q = Σ_c a_c · I_c + offset, accumulated in place into one compact tensor of the P maps:
    # at full resolution every pass is memory-bound, a (B, P, C, H, W) product would be the
    # largest tensor of the whole transfer, and working on the P maps inside the (C + 1)·P
    # channels-last ones would stream all of them on every pass (1.5x slower, same values).
    if subsample > 1:
        full_guide = full_guide.contiguous(memory_format=torch.channels_last)
    filtered = torch.addcmul(models[:, c * p :], models[:, :p], full_guide[:, :1])  # laid out as its inputs
    for channel in range(1, c):
        filtered.addcmul_(models[:, channel * p : (channel + 1) * p], full_guide[:, channel : channel + 1])
    return filtered
