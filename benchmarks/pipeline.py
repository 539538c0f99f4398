"""Whole-pipeline throughput: transfer + attribution + rules, against the model's raw forward rate.

For each data-set size N (each in a fresh process, so peak memory is its own), prints the
seconds and images/s of every stage, the pipeline's images/s as a share of the raw forward
rate of the same model, and the process's peak resident memory.

    python benchmarks/pipeline.py --sizes 1000 4000 --image-size 40
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.models import train_classifier


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def forward_rate(model, images, device, batch_size=256):
    """Images/s of the bare model on ``images`` (no gradient), after one warm-up batch."""
    model = model.to(device).eval()
    x = torch.as_tensor(images[:batch_size]).to(device)
    with torch.inference_mode():
        model(x)
        start, seen = time.perf_counter(), 0
        for begin in range(0, len(images), batch_size):
            model(torch.as_tensor(images[begin : begin + batch_size]).to(device))
            seen += min(batch_size, len(images) - begin)
        if device == "cuda":
            torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def measure(n_images, image_size, method, device, labelled_per_class=10):
    """One run over ``n_images`` explained images: a dict of figures."""
    train = make_part_shapes(2000, image_size=image_size, random_state=0)
    model = train_classifier(train.images, train.target, epochs=6, random_state=0)
    data = make_part_shapes(n_images, image_size=image_size, random_state=1)
    masks = np.full_like(data.masks, -1)
    rng = np.random.RandomState(0)
    labelled = np.concatenate(
        [rng.permutation(np.flatnonzero(data.target == c))[:labelled_per_class] for c in data.rules]
    )
    masks[labelled] = data.masks[labelled]
    X = PartImages(data.images, masks, data.part_names)
    decisions, t_decide = timed(lambda: predict_classes(model, X, device=device))

    transfer = PartLabelTransfer(backbone=model, device=device, random_state=0)
    filled, t_transfer = timed(lambda: transfer.fit(X[labelled]).transform(X))
    attributor = PartAttributor(model, method=method, baseline="mean", device=device, random_state=0)
    scores, t_attribute = timed(lambda: attributor.fit(filled).set_output(transform="pandas").transform(filled))
    rules, t_rules = timed(lambda: GlobalRuleExplainer().fit(scores, decisions))
    total = t_decide + t_transfer + t_attribute + t_rules
    forward = forward_rate(model, data.images, device)
    return {
        "n_images": n_images,
        "forward images/s": forward,
        "decisions s": t_decide,
        "transfer s": t_transfer,
        "attribution s": t_attribute,
        "rules s": t_rules,
        "pipeline images/s": n_images / total,
        "pipeline / forward": n_images / total / forward,
        "fidelity": rules.score(scores, decisions),
        "peak RSS MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--image-size", type=int, default=40)
    parser.add_argument("--method", default="shapley")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.image_size, args.method, args.device)))
        return
    print(f"device {args.device}, torch {torch.__version__}, {args.image_size}-px images, method {args.method}")
    rows = []
    for n in args.sizes:
        command = [sys.executable, __file__, "--one", str(n), "--image-size", str(args.image_size),
                   "--method", args.method, "--device", args.device]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
