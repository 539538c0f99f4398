"""Attribution speed and cost: the coalition engine against the raw forward pass, skpartx
against Captum at equal evaluation budgets, and MSX search against exhaustive enumeration.

Usage: ``python benchmarks/attribution.py [--n-images 200] [--device auto]``
(needs ``pip install captum`` for the comparison; it is skipped otherwise).

Data and classifier are the demo's (64-px synthetic part objects, SmallCNN), so the
figures match ``skpartx demo``. All comparisons run in one process on one machine.
"""

import argparse
import math
import time

import numpy as np
import torch

from skpartx import PartAttributor, PartImages
from skpartx._core.part_images import part_presence
from skpartx._core.torch_utils import resolve_device, to_device_images
from skpartx.datasets import make_part_shapes
from skpartx.demo import DEMO_SETTINGS, default_cache_dir, trained_demo_model
from skpartx.models import SmallCNN

from common import forward_rate, synchronize


def interleaved_ratio(model, X, device, batch_size, n_batches=60, seed=0, baseline="zero"):
    """Engine evaluations/s over raw forward images/s, timed batch by batch in alternation.

    Each step times one raw forward pass on a batch of distinct images, then one engine
    pass on a batch of (image, random coalition) requests of the same size: drifts in the
    machine's speed hit both equally, so the ratio isolates the engine's own overhead
    (building composites on the device, reading out the class value; with
    ``baseline="inpaint"`` also filling removed parts in, per coalition).
    """
    from skpartx._engine.coalitions import CoalitionEngine

    model = model.to(device).eval()
    rng = np.random.RandomState(seed)
    mean_image = torch.as_tensor(X.images.mean(axis=(0, 2, 3))).view(-1, 1, 1)
    engine = CoalitionEngine(model, X.images, X.masks, np.zeros(len(X), int), len(X.part_names), baseline=baseline,
                             device=device, batch_size=batch_size, mean_image=mean_image)
    x = to_device_images(X.images, device)
    raw_time = engine_time = 0.0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    for step in range(n_batches + 2):
        idx = torch.as_tensor(rng.randint(0, len(X), batch_size), device=device)
        keep = torch.as_tensor(rng.rand(batch_size, len(X.part_names)) < 0.5, device=device)
        with torch.inference_mode(), autocast:
            synchronize(device)
            start = time.perf_counter()
            model(x[idx])
            synchronize(device)
            middle = time.perf_counter()
        engine._run(idx, keep, lambda logits, image_idx: logits)  # unmemoised: every request runs the model
        synchronize(device)
        if step >= 2:  # the first steps warm up
            raw_time += middle - start
            engine_time += time.perf_counter() - middle
    return raw_time / engine_time, n_batches * batch_size / raw_time


def engine_rate(model, X, device, batch_size):
    """Masked evaluations/s of exact part Shapley (all coalitions of each image's parts)."""
    attributor = PartAttributor(model, method="shapley", baseline="zero", device=device, batch_size=batch_size).fit(X)
    attributor.transform(X[:8])  # warm-up
    synchronize(device)
    start = time.perf_counter()
    explanations = attributor.explain(X)
    synchronize(device)
    evaluations = sum(e.n_evaluations for e in explanations)
    return evaluations / (time.perf_counter() - start), evaluations


def captum_comparison(model, X, device, n_images, batch_size):
    """Per-image seconds and largest value difference against Captum at equal budgets."""
    from captum.attr import FeatureAblation, ShapleyValueSampling

    model = model.to(device).eval()

    def probability(x):
        return torch.softmax(model(x), dim=1)

    X = X[:n_images]
    ours = {}
    for method in ("shapley", "occlusion"):
        attributor = PartAttributor(model, method=method, baseline="zero", device=device, batch_size=batch_size).fit(X)
        start = time.perf_counter()
        explanations = attributor.explain(X)
        synchronize(device)
        ours[method] = (time.perf_counter() - start, explanations, sum(e.n_evaluations for e in explanations))

    rows = {}
    present = part_presence(X.masks, len(X.part_names))
    for name, make, method in (
        ("ShapleyValueSampling", ShapleyValueSampling, "shapley"),
        ("FeatureAblation", FeatureAblation, "occlusion"),
    ):
        for per_eval in (1, 64):
            explainer = make(probability)
            differences, start = [], time.perf_counter()
            for i in range(len(X)):
                parts = np.flatnonzero(present[i])
                local = np.searchsorted(parts, X.masks[i])  # Captum wants feature ids 0..q-1
                x = to_device_images(X.images[i : i + 1], device)
                mask = torch.as_tensor(local, device=device)[None, None]
                target = ours[method][1][i].target
                kwargs = dict(target=target, feature_mask=mask, baselines=0.0, perturbations_per_eval=per_eval)
                if method == "shapley":
                    # Equal budget: exact Shapley evaluates 2**q coalitions; one sampled order
                    # costs q evaluations.
                    kwargs["n_samples"] = math.ceil(2 ** len(parts) / len(parts))
                with torch.inference_mode(False):
                    attribution = explainer.attribute(x, **kwargs)
                values = attribution[0, 0].detach().cpu().numpy()
                phi = np.array([values[local == k][0] for k in range(len(parts))])
                mine = np.array([ours[method][1][i].scores[X.part_names[p]] for p in parts])
                differences.append(np.abs(phi - mine).max())
            synchronize(device)
            seconds = time.perf_counter() - start
            rows[(name, per_eval)] = (seconds / len(X), float(np.max(differences)))
    return {m: (t / n_images, e / n_images) for m, (t, _, e) in ours.items()}, rows


def grid_masks(n, size, rows=3, cols=4):
    r = np.minimum(np.arange(size) * rows // size, rows - 1)
    c = np.minimum(np.arange(size) * cols // size, cols - 1)
    return np.repeat((r[:, None] * cols + c[None, :])[None], n, axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=200)
    parser.add_argument("--n-captum", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)

    s = DEMO_SETTINGS
    data = make_part_shapes(
        s["n_train"] + s["n_test"], image_size=s["image_size"], n_classes=s["n_classes"], random_state=s["random_state"]
    )
    model, _ = trained_demo_model(data.images[: s["n_train"]], data.target[: s["n_train"]], s, default_cache_dir())
    test = np.arange(s["n_train"], s["n_train"] + args.n_images)
    X = PartImages(data.images[test], data.masks[test], data.part_names)
    print(f"device {device}, batch size {args.batch_size}, {len(X)} images of {X.shape[2]} px, "
          f"{part_presence(X.masks, 10).sum(1).mean():.2f} parts per image")

    print("\n(a) coalition engine vs raw forward pass of the same model, batch size and dtype")
    wide = SmallCNN(s["n_classes"], width=64).eval()  # same architecture, 16x the compute
    for name, net in (("SmallCNN width 16 (demo)", model), ("SmallCNN width 64", wide)):
        ratio, raw = interleaved_ratio(net, X, device, args.batch_size)
        print(f"  {name:26s} engine / forward, batch by batch in alternation: {ratio:.2f} "
              f"(forward {raw:.0f} images/s)")
        ratio, raw = interleaved_ratio(net, X, device, args.batch_size, baseline="inpaint")
        print(f"  {'':26s} the same with baseline='inpaint' (removed parts filled in per coalition): {ratio:.2f} "
              f"(forward {raw:.0f} images/s)")
        # End to end: exact Shapley with everything around the engine (the forward pass that
        # finds each image's class, building coalitions, the cache), against a separately
        # timed forward rate; machine-speed drift makes this ratio vary by about ±0.15 here.
        forward_rate(net, data.images, device, args.batch_size)
        rate, n_eval = engine_rate(net, X, device, args.batch_size)
        raw = forward_rate(net, data.images, device, args.batch_size)
        print(f"  {'':26s} exact Shapley end to end: {rate:.0f} evaluations/s ({n_eval} evaluations), "
              f"forward {raw:.0f} images/s, ratio {rate / raw:.2f}")

    try:
        import captum  # noqa: F401
    except ImportError:
        print("\n(b) skipped: pip install captum")
    else:
        print(f"\n(b) skpartx vs Captum on {args.n_captum} images (probability of the predicted class, zero baseline)")
        ours, rows = captum_comparison(model, X, device, args.n_captum, args.batch_size)
        for (name, per_eval), (seconds, difference) in rows.items():
            method = "shapley" if name == "ShapleyValueSampling" else "occlusion"
            mine_seconds, evaluations = ours[method]
            print(f"  {name:21s} perturbations_per_eval={per_eval:<3d} {seconds * 1e3:9.1f} ms/image   "
                  f"skpartx {method} {mine_seconds * 1e3:7.2f} ms/image ({evaluations:.0f} evaluations)   "
                  f"speed-up {seconds / mine_seconds:8.1f}x   max |difference| {difference:.2e}")

    print("\n(c) MSX search: evaluations per image vs exhaustive enumeration (tau 0.9, mean baseline)")
    grid = PartImages(X.images, grid_masks(len(X), X.shape[2]), [f"cell{i}" for i in range(12)])
    for name, images in (("3x4 grid, P = 12", grid), ("object parts", X)):
        attributor = PartAttributor(model, method="msx", baseline="mean", device=device).fit(images)
        explanations = attributor.explain(images)
        sizes = part_presence(images.masks, len(images.part_names)).sum(axis=1)
        per_image = np.mean([e.n_evaluations for e in explanations])
        exhaustive = np.mean(2.0**sizes)
        n_msx = np.mean([len(e.msx) for e in explanations])
        length = np.mean([len(m) for e in explanations for m in e.msx])
        print(f"  {name:18s} {per_image:7.1f} evaluations/image vs 2^P = {exhaustive:7.1f} "
              f"({per_image / exhaustive:.1%}); {n_msx:.2f} MSXs per image of {length:.2f} parts")


if __name__ == "__main__":
    main()
