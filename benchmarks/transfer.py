"""Part transfer: held-out mIoU against labelled images per class, and speed against the backbone.

Usage: ``python benchmarks/transfer.py [--n-test 200] [--out benchmarks/figures]``

Uses the demo's data and classifier (trained once, then cached), so the figures match
``skpartx demo``. Prints one table row per (method, labels per class) and the images/s of
each method next to the raw forward rate of the backbone on the same machine, batch size
and memory format.
"""

import argparse
import os
import time

import numpy as np
import pandas as pd
import torch

from skpartx import PartImages, PartLabelTransfer
from skpartx.datasets import make_part_shapes
from skpartx.demo import DEMO_SETTINGS, default_cache_dir, trained_demo_model
from skpartx.metrics import mean_iou
from skpartx._torch import resolve_device, to_device_images


def forward_rate(model, images, device, batch_size=128, repeats=3):
    """Images/s of the model's plain forward pass (channels-last input, as skpartx feeds it)."""
    model = model.to(device).eval()
    x = to_device_images(images[:batch_size], device)
    with torch.inference_mode():
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return repeats * len(x) / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    parser.add_argument("--methods", nargs="+", default=["probe", "knn", "hpf"])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "figures"))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    s = DEMO_SETTINGS
    data = make_part_shapes(
        s["n_train"] + s["n_test"], image_size=s["image_size"], n_classes=s["n_classes"], random_state=s["random_state"]
    )
    train = slice(0, s["n_train"])
    model, _ = trained_demo_model(data.images[train], data.target[train], s, default_cache_dir())
    device = resolve_device(args.device)
    test = np.arange(s["n_train"], s["n_train"] + args.n_test)
    held_out = PartImages(data.images[test], data.masks[test], data.part_names)
    rng = np.random.RandomState(0)
    order = {c: rng.permutation(np.flatnonzero(data.target[train] == c)) for c in data.rules}

    rows = []
    for method in args.methods:
        for k in args.labels:
            labelled = np.concatenate([order[c][:k] for c in data.rules])
            X = PartImages(data.images[labelled], data.masks[labelled], data.part_names)
            start = time.perf_counter()
            transfer = PartLabelTransfer(backbone=model, method=method, random_state=0, device=device).fit(X)
            fit_seconds = time.perf_counter() - start
            start = time.perf_counter()
            predicted = transfer.predict(held_out)
            seconds = time.perf_counter() - start
            miou = mean_iou(held_out.masks, predicted, len(data.part_names))
            rows.append(
                dict(method=method, labelled_per_class=k, miou=miou, fit_s=fit_seconds, images_per_s=len(test) / seconds)
            )
            print(f"{method:6s} {k:3d} labelled/class  mIoU {miou:.3f}  fit {fit_seconds:5.1f}s  "
                  f"{len(test) / seconds:7.1f} images/s", flush=True)

    rate = forward_rate(model, data.images, device)
    frame = pd.DataFrame(rows)
    print(f"\nbackbone forward: {rate:.0f} images/s ({device})")
    speed = frame[frame.labelled_per_class == 10].set_index("method")["images_per_s"]
    for method, value in speed.items():
        print(f"{method:6s} transfer at 10 labelled/class: {value:.1f} images/s = {value / rate:.4f} x forward rate")
    print("\n" + frame.pivot(index="labelled_per_class", columns="method", values="miou").round(3).to_string())

    import matplotlib

    matplotlib.use("Agg")
    from skpartx.plotting import plot_miou_curve

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "transfer_miou.png")
    plot_miou_curve(frame).savefig(path, dpi=110)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
