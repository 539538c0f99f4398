"""What the benchmark scripts share: the raw forward rate a stage is compared with, device
synchronisation, and printing a Markdown table."""

import time

import torch

from skpartx._core.torch_utils import to_device_images


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def forward_rate(model, images, device, batch_size, n_images=4096, min_seconds=1.0, repeats=3):
    """Images/s of the plain forward pass over distinct images at ``batch_size``.

    Same memory format (channels-last) and dtype (bf16 autocast on CUDA) as skpartx feeds
    the model, and inputs already on the device, so a ratio to it measures skpartx's own
    overhead. The images are passed over until ``min_seconds`` have gone by, ``repeats``
    times, and the best rate is kept: a ratio against the fastest the hardware did is one
    that a noisy, slow measurement cannot flatter.
    """
    device = torch.device(device)
    model = model.to(device).eval()
    x = to_device_images(images[:n_images], device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    best = 0.0
    with torch.inference_mode(), autocast:
        model(x[:batch_size])
        for _ in range(repeats):
            synchronize(device)
            start, done = time.perf_counter(), 0
            while done == 0 or time.perf_counter() - start < min_seconds:
                for begin in range(0, len(x), batch_size):
                    model(x[begin : begin + batch_size])
                done += len(x)
                synchronize(device)
            best = max(best, done / (time.perf_counter() - start))
    return best


def markdown_table(header, rows):
    """Lines of a Markdown table with the column names ``header`` and ``rows`` of strings."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(row) + " |" for row in rows)]
