"""Every GPU figure in one run: engine vs forward, exact Shapley, Captum, ViT transfer, scaling.

Usage::

    python benchmarks/gpu.py --out gpu.md      # on a GPU: about 4 minutes
    python benchmarks/gpu.py --quick           # on the CPU at toy sizes (the test suite runs it)

Rows (full sizes; ``--quick`` shrinks every network and count):

1. The coalition engine against the raw forward pass of a ResNet-50-shaped network at 224 px
   in bf16 (random weights), timed batch by batch in alternation (``attribution.py``), with the
   zero baseline and with ``"inpaint"`` (removed parts filled in per coalition).
2. Exact part Shapley with 8 parts per image (256 coalitions): images/s and evaluations/s.
3. Captum's ShapleyValueSampling and FeatureAblation on the same model and images (logits,
   zero baseline): at equal budget (as many model evaluations as exact Shapley), and at equal
   accuracy (sampling doubled until its largest error is at most 2% of the largest exact
   value). Skipped with a note when Captum is not installed.
4. Part-label transfer with a ViT-S/14-shaped backbone at 518 px: predict images/s against the
   backbone's forward rate.
5. The whole pipeline (decisions, transfer, Shapley, rules) on 10,000 synthetic images read
   from disk (``pipeline.py``), extrapolated linearly to 100,000 (the target is 30 minutes).

The table is printed as Markdown and, with ``--out``, written to that file.
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attribution import grid_masks, interleaved_ratio  # noqa: E402
from common import forward_rate, markdown_table, synchronize  # noqa: E402
from nets import ResNet, ViT, resnet50, vit_small_14  # noqa: E402
from pipeline import measure, write_data_set  # noqa: E402

from skpartx import PartAttributor, PartImages, PartLabelTransfer  # noqa: E402
from skpartx._core.torch_utils import resolve_device, to_device_images  # noqa: E402
from skpartx.datasets import make_part_shapes  # noqa: E402

FULL = dict(
    resnet=lambda: resnet50(n_classes=10), image_size=224, batch_size=256, engine_images=512, shapley_images=128,
    captum_images=8, vit=lambda: vit_small_14(518, n_classes=10), vit_size=518, transfer_images=128,
    pipeline_images=10_000, pipeline_size=64, pipeline_train=2000, pipeline_epochs=6,
)
QUICK = dict(
    resnet=lambda: ResNet(10, depths=(1, 1, 1, 1), base=8), image_size=32, batch_size=16, engine_images=32,
    shapley_images=4, captum_images=2, vit=lambda: ViT(56, patch=14, dim=32, depth=2, heads=2, n_classes=10),
    vit_size=56, transfer_images=8, pipeline_images=24, pipeline_size=32, pipeline_train=100, pipeline_epochs=1,
)
ACCURACY = 0.02  # equal accuracy: largest sampling error at most this share of the largest exact value
MAX_SAMPLING_FACTOR = 64  # stop doubling Captum's samples here (then the row says it did not get there)


def eight_part_images(n, size, seed=0):
    """Random images whose masks split each image into a 2 x 4 grid: 8 parts everywhere."""
    rng = np.random.RandomState(seed)
    images = rng.rand(n, 3, size, size).astype(np.float32)
    return PartImages(images, grid_masks(n, size, rows=2, cols=4), [f"cell{i}" for i in range(8)])


def engine_rows(model, X, n_shapley, device, batch_size):
    """Engine vs forward on all of ``X``; exact Shapley on its first ``n_shapley`` images."""
    ratio, raw = interleaved_ratio(model, X, device, batch_size, n_batches=20)
    inpaint_ratio, inpaint_raw = interleaved_ratio(model, X, device, batch_size, n_batches=20, baseline="inpaint")
    X = X[:n_shapley]
    attributor = PartAttributor(model, method="shapley", baseline="zero", output="logit", device=device,
                                batch_size=batch_size).fit(X)
    attributor.transform(X[:2])  # warm-up
    synchronize(device)
    start = time.perf_counter()
    explanations = attributor.explain(X)
    synchronize(device)
    seconds = time.perf_counter() - start
    evaluations = sum(e.n_evaluations for e in explanations)
    rows = [
        ("coalition engine / raw forward (ResNet-50-shaped, bf16 on CUDA)", f"{ratio:.2f}",
         f"forward {raw:.0f} images/s, batch {batch_size}"),
        ("the same with baseline='inpaint' (removed parts filled in per coalition)", f"{inpaint_ratio:.2f}",
         f"forward {inpaint_raw:.0f} images/s"),
        ("exact 8-part Shapley", f"{len(X) / seconds:.1f} images/s",
         f"{evaluations / seconds:.0f} evaluations/s = {evaluations / seconds / raw:.2f} x forward"),
    ]
    return rows, explanations, seconds / len(X)


def captum_rows(model, X, device, batch_size, exact, exact_seconds):
    """Captum at equal budget and equal accuracy; ``exact_seconds``: skpartx's seconds for ``X``."""
    try:
        from captum.attr import FeatureAblation, ShapleyValueSampling
    except ImportError:
        return [("Captum", "skipped", "captum is not installed on this machine (pip install captum)")]
    model = model.to(device).eval()
    occlusion = PartAttributor(model, method="occlusion", baseline="zero", output="logit", device=device,
                               batch_size=batch_size).fit(X)
    start = time.perf_counter()
    ours_occlusion = occlusion.explain(X)
    synchronize(device)
    occlusion_seconds = time.perf_counter() - start

    def run(make, n_samples=None):
        """Seconds and largest error relative to the largest exact value, over the images."""
        explainer, worst, start = make(model), 0.0, time.perf_counter()
        for i in range(len(X)):
            mask = torch.as_tensor(X.masks[i], device=device)[None, None]
            kwargs = dict(target=exact[i].target, feature_mask=mask, baselines=0.0,
                          perturbations_per_eval=min(batch_size, 64))
            if n_samples is not None:
                kwargs["n_samples"] = n_samples
            with torch.inference_mode(False):
                values = explainer.attribute(to_device_images(X.images[i : i + 1], device), **kwargs)[0, 0]
            values = values.detach().float().cpu().numpy()
            reference = exact[i] if n_samples is not None else ours_occlusion[i]
            mine = np.array([reference.scores[name] for name in X.part_names])
            theirs = np.array([values[X.masks[i] == p][0] for p in range(len(X.part_names))])
            worst = max(worst, np.abs(theirs - mine).max() / max(np.abs(mine).max(), 1e-12))
        synchronize(device)
        return time.perf_counter() - start, worst

    rows = []
    budget = math.ceil(2**8 / 8)  # one sampled permutation costs 8 evaluations; exact costs 2**8
    seconds, error = run(ShapleyValueSampling, budget)
    rows.append(("Captum ShapleyValueSampling, equal budget", f"skpartx {seconds / exact_seconds:.1f} x faster",
                 f"{budget} permutations, largest error {error:.1%} of the largest value"))
    samples = budget
    while error > ACCURACY and samples < MAX_SAMPLING_FACTOR * budget:
        samples *= 2
        seconds, error = run(ShapleyValueSampling, samples)
    reached = "" if error <= ACCURACY else f" (not reached by {samples} permutations)"
    rows.append(("Captum ShapleyValueSampling, equal accuracy", f"skpartx {seconds / exact_seconds:.1f} x faster",
                 f"{samples} permutations, largest error {error:.1%}{reached}"))
    seconds, error = run(FeatureAblation)
    rows.append(("Captum FeatureAblation (= occlusion)", f"skpartx {seconds / occlusion_seconds:.1f} x faster",
                 f"largest difference {error:.1e} of the largest value"))
    return rows


def transfer_row(vit, size, n_images, device, batch_size):
    data = make_part_shapes(n_images + 16, image_size=size, random_state=0)
    X = PartImages(data.images, data.masks, data.part_names)
    transfer = PartLabelTransfer(backbone=vit, device=device, random_state=0).fit(X[:16])
    transfer.predict(X[16:18])  # warm-up
    synchronize(device)
    start = time.perf_counter()
    transfer.predict(X[16:])
    synchronize(device)
    rate = n_images / (time.perf_counter() - start)
    raw = forward_rate(vit, data.images[16:], device, batch_size)
    return ("transfer predict, ViT-S/14-shaped backbone", f"{rate:.1f} images/s at {size} px",
            f"{rate / raw:.2f} x the backbone's forward ({raw:.1f} images/s); layers {transfer.layers_}")


def pipeline_row(n_images, size, device, n_train, epochs):
    with tempfile.TemporaryDirectory() as folder:
        write_data_set(folder, n_images, size)
        figures = measure(folder, size, "shapley", device.type, n_train=n_train, epochs=epochs)
    per_100k = figures["total s"] / n_images * 100_000
    return ("pipeline on on-disk images", f"{figures['pipeline images/s']:.0f} images/s over {n_images:,}",
            f"100,000 images in {per_100k / 60:.1f} min (extrapolated; target 30); fidelity {figures['fidelity']:.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes, for a check on the CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    device = resolve_device("cpu" if args.quick and args.device == "auto" else args.device)
    c = QUICK if args.quick else FULL
    torch.manual_seed(0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    started = time.perf_counter()
    rows = []

    resnet = c["resnet"]().to(device).eval()
    X = eight_part_images(c["engine_images"], c["image_size"])
    engine, exact, seconds_per_image = engine_rows(resnet, X, c["shapley_images"], device, c["batch_size"])
    rows += engine
    n_captum = c["captum_images"]
    rows += captum_rows(resnet, X[:n_captum], device, c["batch_size"], exact[:n_captum], seconds_per_image * n_captum)
    rows.append(transfer_row(c["vit"]().to(device).eval(), c["vit_size"], c["transfer_images"], device, c["batch_size"]))
    rows.append(pipeline_row(c["pipeline_images"], c["pipeline_size"], device, c["pipeline_train"], c["pipeline_epochs"]))

    lines = [
        f"device: {name}; torch {torch.__version__}; {'quick (toy sizes)' if args.quick else 'full sizes'}; "
        f"{time.perf_counter() - started:.0f} s",
        "",
        *markdown_table(("figure", "value", "detail"), rows),
    ]
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
