"""Exact Shapley values at many parts: the engine's rate against the raw forward pass, and
where exact values stop paying against the default approximator.

Usage: ``python benchmarks/exact_parts.py [--images 4] [--rate-images 1] [--seeds 5] [--device auto]``

Games: the first images of ``make_part_shapes(8, family="disjoint", random_state=7)`` (the
development images of ``benchmarks/many_parts.py``), explained by the shipped demo classifier
with a 4 x 4 grid of 16-px cells as parts and the mean colour as baseline.

1. **Rate.** ``PartAttributor(method="shapley", max_exact_parts=16)`` computes each image's
   exact values from all 65,536 coalitions; its composites per second are compared with the
   plain forward pass over distinct images at the same batch size (``common.forward_rate``).
2. **Crossover.** From each image's table of all coalition values, sub-games of the first
   ``q`` cells (the others always kept) give the evaluations the default approximator
   (``"adjusted"``, touching cells as pairs) needs for a median relative squared error of
   1e-3 and 1e-4 over images x seeds, read off a log-log interpolation, against the ``2**q``
   of exact values. Exact values pay where ``2**q`` is below those counts: this is what
   ``max_exact_parts``' default follows.
"""

import argparse
import time

import numpy as np
import torch

from skpartx import PartAttributor, PartImages
from skpartx._core.torch_utils import resolve_device
from skpartx.attribution import estimate_shapley
from skpartx.datasets import make_part_shapes
from skpartx.demo import shipped_demo_model, shipped_weights

from common import forward_rate, markdown_table, synchronize

GRID = 4  # cells per side: 16 parts
SIZES = (8, 10, 12, 14, 16)
LEVELS = (1e-3, 1e-4)


def grid_images(n_images):
    """The development images with a 4 x 4 grid of cells as their part masks."""
    data = make_part_shapes(8, family="disjoint", random_state=7)
    size = data.images.shape[-1]
    cell = (np.arange(size)[:, None] * GRID // size) * GRID + np.arange(size)[None, :] * GRID // size
    masks = np.repeat(cell[None], n_images, axis=0).astype(np.int32)
    return PartImages(data.images[:n_images], masks, [f"cell{k}" for k in range(GRID * GRID)])


def touching_cells(q):
    """Pairs of the first ``q`` cells that share an edge."""
    pairs = [(k, k + 1) for k in range(q) if (k + 1) % GRID and k + 1 < q]
    return np.array(pairs + [(k, k + GRID) for k in range(q) if k + GRID < q]).reshape(-1, 2)


def rate(model, X, n_timed, device):
    """Composites/s of the exact path on the first ``n_timed`` images and of the raw forward
    pass, seconds per image, and the attributor (mean colour of all of ``X``)."""
    attributor = PartAttributor(model, method="shapley", baseline="mean", max_exact_parts=GRID * GRID,
                                device=device).fit(X)
    X = X[:n_timed]
    start = time.perf_counter()
    explanations = attributor.explain(X)
    synchronize(attributor.device_)
    seconds = time.perf_counter() - start
    evaluations = sum(e.n_evaluations for e in explanations)
    batch_size = attributor.coalition_engine(X[:1]).batch_size  # the engine's own batch size
    raw = forward_rate(model, X.images[:1].repeat(4096, axis=0), attributor.device_, batch_size)
    return evaluations / seconds, raw, seconds / len(X), attributor


def coalition_tables(attributor, X):
    """Values of all 2**16 coalitions of each image (in subset-code order), from the engine."""
    q = GRID * GRID
    codes = np.arange(2**q)
    keep = ((codes[:, None] >> np.arange(q)) & 1).astype(bool)
    engine = attributor.coalition_engine(X)
    return np.stack([engine.evaluate(np.full(2**q, i), keep, memoise=False) for i in range(len(X))])


def exact_values(table):
    """Shapley values of a table of all coalition values, from the definition's weights."""
    q = int(np.log2(len(table)))
    codes = np.arange(len(table))
    sizes = np.array([bin(c).count("1") for c in codes])
    from math import factorial

    weight = np.array([factorial(s) * factorial(q - s - 1) / factorial(q) for s in range(q)])
    phi = np.empty(q)
    for i in range(q):
        without = codes[(codes >> i) & 1 == 0]
        phi[i] = np.sum(weight[sizes[without]] * (table[without | (1 << i)] - table[without]))
    return phi


def needed(budgets, errors, level):
    """Evaluations to reach ``level``, interpolated in log-log on the median curve (inf: never)."""
    below = np.flatnonzero(errors <= level)
    if not len(below):
        return np.inf
    k = below[0]
    if k == 0:
        return float(budgets[0])
    x0, x1, y0, y1 = np.log(budgets[k - 1]), np.log(budgets[k]), np.log(errors[k - 1]), np.log(errors[k])
    return float(np.exp(x0 + (np.log(level) - y0) * (x1 - x0) / (y1 - y0)))


def crossover(tables, n_seeds):
    rows = []
    for q in SIZES:
        kept = sum(1 << k for k in range(q, GRID * GRID))  # the other cells always kept
        games = [t[np.arange(2**q) | kept] for t in tables]
        truths = [exact_values(g) for g in games]
        budgets = np.unique(np.geomspace(2 * q + 2, 2**q, 12).astype(int))
        medians = []
        for budget in budgets:
            errors = []
            for game, truth in zip(games, truths):
                lookup = lambda keep, g=game: g[keep.astype(np.int64) @ (1 << np.arange(keep.shape[1]))]  # noqa: E731
                for seed in range(n_seeds):
                    phi = estimate_shapley(lookup, q, max_evals=int(budget), pairs=touching_cells(q),
                                           random_state=seed).values
                    errors.append(np.sum((phi - truth) ** 2) / np.sum(truth**2))
            medians.append(np.median(errors))
        reads = [needed(budgets, np.array(medians), level) for level in LEVELS]
        rows.append([str(q), f"{2**q:,}", *(f"{r:,.0f}" if np.isfinite(r) else f"> {2**q:,}" for r in reads)])
        print(f"q={q} done", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images of the crossover")
    parser.add_argument("--rate-images", type=int, default=1, help="images whose exact values are timed")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    model = shipped_demo_model(shipped_weights()["disjoint"]["settings"]).to(device).eval()
    X = grid_images(args.images)
    engine_rate, raw_rate, per_image, attributor = rate(model, X, args.rate_images, device)
    print(f"## Exact Shapley values at 16 parts ({device}, {torch.get_num_threads()} threads)\n")
    print("\n".join(markdown_table(
        ["exact path (composites/s)", "raw forward (images/s)", "ratio", "seconds per image"],
        [[f"{engine_rate:,.0f}", f"{raw_rate:,.0f}", f"{engine_rate / raw_rate:.2f}", f"{per_image:.1f}"]],
    )))
    tables = coalition_tables(attributor, X)
    rows = crossover(tables, args.seeds)
    print("\n## Exact against the default approximator: evaluations per image\n")
    print("\n".join(markdown_table(["parts q", "exact (2^q)", *(f"adjusted to {level:g}" for level in LEVELS)], rows)))


if __name__ == "__main__":
    main()
