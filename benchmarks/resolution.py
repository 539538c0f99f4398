"""The pipeline at real resolution: 224-px images through ResNet-18- and ViT-S-shaped networks.

Usage::

    python benchmarks/resolution.py                         # about 6 minutes on 2 CPU cores
    python benchmarks/resolution.py --n-images 64 --device cuda

Each stage's images/s next to the raw forward rate of the same network in the same run
(random weights: speed depends on shapes, not on weights), measured at the batch size
skpartx uses (its default for the image size unless ``--batch-size`` is given); the best
raw rate over batch sizes 4-32 is printed too, so a ratio cannot hide a slow batch size. Stages: the model's decisions
(``predict_classes``), part-label transfer (probe fitted on 16 labelled images, then
``transform`` of the rest, the default method), exact part Shapley (evaluations/s against
the forward rate) and set-cover rules. Targets: transfer >= 0.7x and the attribution engine
>= 0.9x the forward rate.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import forward_rate, markdown_table, synchronize  # noqa: E402
from nets import resnet18, vit_small_16  # noqa: E402

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes  # noqa: E402
from skpartx._core.torch_utils import default_batch_size, resolve_device  # noqa: E402
from skpartx.datasets import make_part_shapes  # noqa: E402

N_LABELLED = 16


def timed(device, function):
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return result, time.perf_counter() - start


def run(name, model, X, n_shapley, device, batch_size):
    model = model.to(device).eval()
    labelled, rest = X[:N_LABELLED], X[N_LABELLED:]
    unlabelled = PartImages(rest.images, np.full_like(rest.masks, -1), rest.part_names)
    batch_size = default_batch_size(device, batch_size, rest.shape)
    forward = forward_rate(model, rest.images, device, batch_size)
    best_batch, best_forward = max(
        ((size, forward_rate(model, rest.images, device, size)) for size in (4, 8, 16, 32)), key=lambda pair: pair[1]
    )
    decisions, t_decide = timed(device, lambda: predict_classes(model, rest, batch_size=batch_size, device=device))
    transfer = PartLabelTransfer(backbone=model, device=device, batch_size=batch_size, random_state=0)
    _, t_fit = timed(device, lambda: transfer.fit(labelled))
    filled, t_transfer = timed(device, lambda: transfer.transform(unlabelled))
    attributor = PartAttributor(model, baseline="mean", device=device, batch_size=batch_size).fit(filled)
    explanations, t_shapley = timed(device, lambda: attributor.explain(filled[:n_shapley]))
    evaluations = sum(e.n_evaluations for e in explanations)
    scores = attributor.transform(filled[:n_shapley])
    _, t_rules = timed(device, lambda: GlobalRuleExplainer(binarize="fraction", candidates="subsets").fit(
        scores, decisions[:n_shapley]))
    n = len(rest)
    rows = [
        (name, f"raw forward (batch {batch_size})", f"{forward:.1f} images/s", "1.00"),
        (name, f"raw forward, best batch ({best_batch})", f"{best_forward:.1f} images/s", f"{best_forward / forward:.2f}"),
        (name, "decisions (predict_classes)", f"{n / t_decide:.1f} images/s", f"{n / t_decide / forward:.2f}"),
        (name, f"transfer fit ({N_LABELLED} labelled)", f"{t_fit:.1f} s", ""),
        (name, f"transfer transform, layers {transfer.layers_}", f"{n / t_transfer:.1f} images/s",
         f"{n / t_transfer / forward:.2f}"),
        (name, f"exact Shapley ({evaluations / n_shapley:.0f} evaluations/image)",
         f"{evaluations / t_shapley:.1f} evaluations/s", f"{evaluations / t_shapley / forward:.2f}"),
        (name, f"rules ({n_shapley} images)", f"{t_rules:.2f} s", ""),
    ]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=48, help="images transferred (besides the labelled ones)")
    parser.add_argument("--n-shapley", type=int, default=12, help="images explained with exact Shapley")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=None, help="default: skpartx's for the image size")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    data = make_part_shapes(args.n_images + N_LABELLED, image_size=args.image_size, random_state=0)
    X = PartImages(data.images, data.masks, data.part_names)
    rows = []
    for name, make in (("ResNet-18-shaped", resnet18), ("ViT-S/16-shaped", lambda n: vit_small_16(args.image_size, n))):
        rows += run(name, make(len(data.target_names)), X, args.n_shapley, device, args.batch_size)
    print(f"device {device}, torch {torch.__version__}, {args.image_size} px, {args.n_images} images "
          f"(+{N_LABELLED} labelled), {torch.get_num_threads()} threads\n")
    print("\n".join(markdown_table(("network", "stage", "rate", "/ forward"), rows)))


if __name__ == "__main__":
    main()
