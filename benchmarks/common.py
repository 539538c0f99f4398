"""What the benchmark scripts share: the raw forward rate a stage is compared with, device
synchronisation, and printing a Markdown table."""

import time

import torch

from skpartx._torch import to_device_images


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def forward_rate(model, images, device, batch_size, n_images=4096):
    """Images/s of the plain forward pass over distinct images at ``batch_size``.

    Same memory format (channels-last) and dtype (bf16 autocast on CUDA) as skpartx feeds
    the model, and inputs already on the device, so a ratio to it measures skpartx's own
    overhead.
    """
    device = torch.device(device)
    model = model.to(device).eval()
    x = to_device_images(images[:n_images], device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    with torch.inference_mode(), autocast:
        model(x[:batch_size])
        synchronize(device)
        start = time.perf_counter()
        for begin in range(0, len(x), batch_size):
            model(x[begin : begin + batch_size])
        synchronize(device)
    return len(x) / (time.perf_counter() - start)


def markdown_table(header, rows):
    """Lines of a Markdown table with the column names ``header`` and ``rows`` of strings."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(row) + " |" for row in rows)]
