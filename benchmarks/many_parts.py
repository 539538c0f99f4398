"""Shapley values of games with many parts under a budget of model evaluations: skpartx's
estimators against shap, Captum and shapiq.

Usage: ``python benchmarks/many_parts.py [--split test] [--parts 16 24 32] [--images 6]
[--seeds 5] [--model-seeds 3] [--budgets 2 4 8 16 32 64] [--reference-budget 2048]``
(shap, Captum and shapiq are compared where installed: ``pip install shap captum shapiq``).

A game is one image of ``make_part_shapes(family="disjoint")`` explained by the shipped demo
classifier: its players are the cells of a grid over the image (4 x 4, 4 x 6 or 4 x 8 cells
for P = 16, 24, 32), a coalition keeps its cells' pixels and fills the other cells with the
image's mean colour, and its value is the probability of the class the model predicts on the
full image. Every method is given the same value function on keep-vectors, which counts every
row it is asked for (the empty and full coalitions and repeated rows included), so methods are
compared at the evaluations they really used, not at their budget arguments.

The truth is exact for P = 16: the values of all 2^16 coalitions of each image are computed
once and cached under ``benchmarks/.cache/many_parts``, and every method reads them from the
table. For larger P it is a reference estimate of skpartx's leverage estimator at a large
budget (``--reference-budget`` times P evaluations), whose estimated relative error is
printed; there the model runs on demand, each coalition once per image (the values are cached
too, so a second run of the script costs little).

The error of an estimate is ||phi_hat - phi||^2 / ||phi||^2; tables give its median and 90th
percentile over images x seeds at each budget, the evaluations each method needs to reach a
relative error of 1e-2 and 1e-3 (read off its median curve, interpolated in log-log), and a
summary of skpartx's default estimator against the best of shap and Captum and of shapiq.
Budgets are multiples of P (2 stands for 2P + 2: one antithetic pair of permutations), plus
each library's own default budget where it has one. Defaults are chosen on ``--split dev``
(the first 4 of 8 images drawn with random_state=7); figures are reported on ``--split test``
(the first 6 of 8 drawn with random_state=11).
"""

import argparse
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from skpartx.datasets import make_part_shapes
from skpartx.demo import shipped_demo_model, shipped_weights

from common import markdown_table

try:
    from skpartx.attribution import estimate_shapley
except ImportError:  # an older skpartx: its methods and the reference for large P are skipped
    estimate_shapley = None

# random_state and number of images of a split: the first of N_GENERATED images drawn with it
# (how many are drawn changes the images, so that count stays fixed).
SPLITS = {"dev": (7, 4), "test": (11, 6)}
N_GENERATED = 8
GRIDS = {16: (4, 4), 24: (4, 6), 32: (4, 8)}  # players: (rows, columns) of cells
MAX_TABULATED = 16  # up to this many players every coalition is evaluated once: exact truth
TARGETS = (1e-2, 1e-3)
CACHE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache", "many_parts")


# ----------------------------------------------------------------------------- games


def coalition_codes(keep):
    """Integer codes of keep-vectors ``(m, P)``: bit j set when player j is kept."""
    return keep.astype(np.int64) @ (np.int64(1) << np.arange(keep.shape[1], dtype=np.int64))


def coalitions_of(codes, n_players):
    """Keep-vectors ``(m, P)`` of integer codes (the inverse of :func:`coalition_codes`)."""
    return ((np.asarray(codes, dtype=np.int64)[:, None] >> np.arange(n_players)) & 1).astype(bool)


def grid_pairs(rows, cols):
    """Pairs of players whose cells share an edge (player = row * cols + column)."""
    right = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    down = [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    return np.array(right + down, dtype=int)


class GridGame:
    """The model's value of an image's grid cells: composites keep the coalition's cells and
    fill the others with the image's mean colour (per channel); the value is the softmax
    probability of the class the model predicts on the full image."""

    def __init__(self, model, image, rows, cols, batch_size=512):
        self.model, self.batch_size, self.n_forward = model, batch_size, 0
        self.n_players = rows * cols
        self.image = torch.as_tensor(image, dtype=torch.float32)
        self.fill = self.image.mean(dim=(1, 2), keepdim=True)
        height, width = self.image.shape[1:]
        row_edges = np.linspace(0, height, rows + 1).round().astype(int)  # 4 x 6 cells of 64 px: 10 or 11 px wide
        col_edges = np.linspace(0, width, cols + 1).round().astype(int)
        cell = np.empty((height, width), dtype=int)
        for r in range(rows):
            for c in range(cols):
                cell[row_edges[r] : row_edges[r + 1], col_edges[c] : col_edges[c + 1]] = r * cols + c
        self.cells = torch.as_tensor(np.eye(self.n_players, dtype=np.float32)[cell.ravel()].T.copy())  # (P, H*W)
        with torch.inference_mode():
            self.target = int(model(self._composites(torch.ones(1, self.n_players))).argmax(1))

    def _composites(self, keep):
        height, width = self.image.shape[1:]
        kept = (keep @ self.cells).view(-1, 1, height, width)
        return (self.fill + kept * (self.image - self.fill)).contiguous(memory_format=torch.channels_last)

    def forward(self, keep):
        """Values ``(m,)`` of keep-vectors ``(m, P)``, one model evaluation per row."""
        values = np.empty(len(keep))
        self.n_forward += len(keep)
        with torch.inference_mode():
            for start in range(0, len(keep), self.batch_size):
                batch = torch.as_tensor(keep[start : start + self.batch_size], dtype=torch.float32)
                probabilities = torch.softmax(self.model(self._composites(batch)), 1)
                values[start : start + len(batch)] = probabilities[:, self.target].numpy()
        return values


class TableGame:
    """A game read from the table of all its coalitions' values (index = coalition code)."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)

    def __call__(self, keep):
        return self.table[coalition_codes(keep)]


class MemoGame:
    """A :class:`GridGame` evaluated on demand, each coalition once: the methods run on one
    image share its values, and the values are kept on disk for the next run."""

    def __init__(self, game, path):
        self.game, self.path, self.memo = game, path, {}
        if os.path.exists(path):
            with np.load(path) as saved:
                self.memo = dict(zip(saved["codes"].tolist(), saved["values"].tolist()))
        self.n_saved = len(self.memo)

    def __call__(self, keep):
        codes = coalition_codes(keep).tolist()
        missing = sorted(set(codes).difference(self.memo))
        if missing:
            values = self.game.forward(coalitions_of(missing, keep.shape[1]))
            self.memo.update(zip(missing, values.tolist()))
        return np.array([self.memo[c] for c in codes])

    def save(self):
        if len(self.memo) > self.n_saved:
            tmp = self.path + ".tmp.npz"  # np.savez appends .npz to other names
            np.savez(tmp, codes=np.fromiter(self.memo.keys(), np.int64),
                     values=np.fromiter(self.memo.values(), np.float64))
            os.replace(tmp, self.path)
            self.n_saved = len(self.memo)


class CountedGame:
    """The value function every method is given: keep-vectors ``(m, P)`` (or one alone) to
    values ``(m,)``, counting every row asked for."""

    def __init__(self, game):
        self.game, self.n_evaluations = game, 0

    def __call__(self, keep):
        # shap and Captum pass 0/1 floats, shapiq booleans, and shapiq's permutation sampler one row alone.
        keep = np.atleast_2d(np.asarray(keep)) != 0
        self.n_evaluations += len(keep)
        return self.game(keep)


def value_table(game, path, batch_size=2048):
    """Values of all 2^P coalitions of ``game`` (a :class:`GridGame`), cached at ``path``."""
    if os.path.exists(path):
        return np.load(path)
    codes = np.arange(2**game.n_players, dtype=np.int64)
    table = np.empty(len(codes), dtype=np.float32)  # the model's outputs are float32: storing them so loses nothing
    for start in tqdm(range(0, len(codes), batch_size), desc="value table", leave=False, file=sys.stderr):
        keep = coalitions_of(codes[start : start + batch_size], game.n_players)
        table[start : start + batch_size] = game.forward(keep)
    np.save(path + ".tmp.npy", table)
    os.replace(path + ".tmp.npy", path)
    return table


def exact_shapley(table, n_players):
    """Shapley values from the table of all coalitions' values: for each player, the
    marginal contributions to every coalition without it, weighted by 1 / (P * C(P-1, |S|))."""
    table = np.asarray(table, dtype=np.float64)
    codes = np.arange(2**n_players, dtype=np.int64)
    sizes = coalitions_of(codes, n_players).sum(1)
    weights = np.array([1.0 / (n_players * math.comb(n_players - 1, s)) for s in range(n_players)])
    phi = np.empty(n_players)
    for j in range(n_players):
        without = codes[(codes >> j) & 1 == 0]
        phi[j] = weights[sizes[without]] @ (table[without | (1 << j)] - table[without])
    return phi


# ----------------------------------------------------------------------------- methods


@dataclass
class Method:
    """An estimator: ``run(game, n_players, budget, seed, pairs)`` gives Shapley values;
    ``budget=None`` asks for the library's own default (when ``has_default``)."""

    name: str
    library: str
    run: Callable
    has_default: bool = False


def skpartx_methods():
    def method(approximator):
        def run(game, n_players, budget, seed, pairs):
            # Neighbouring cells are the interactions "adjusted" models, as the attributor does with part masks.
            kwargs = {} if budget is None else {"max_evals": budget}
            result = estimate_shapley(game, n_players, approximator=approximator,
                                      pairs=pairs if approximator == "adjusted" else None, random_state=seed, **kwargs)
            return result.values

        return Method(f"skpartx {approximator}", "skpartx", run, True)

    return [method("adjusted"), method("leverage"), method("permutation")]


def shap_methods():
    import shap

    def permutation(game, n_players, budget, seed, pairs):
        # The instance keeps every cell, the one background row none: masking a feature drops its cell.
        masker = shap.maskers.Independent(np.zeros((1, n_players)), max_samples=1)
        explainer = shap.explainers.Permutation(game, masker, seed=seed)
        kwargs = {} if budget is None else {"max_evals": budget}  # it uses (max_evals // (2P + 1)) antithetic pairs
        return explainer(np.ones((1, n_players)), silent=True, **kwargs).values[0]

    def kernel(game, n_players, budget, seed, pairs):
        np.random.seed(seed)  # KernelExplainer samples from NumPy's global generator
        explainer = shap.KernelExplainer(game, np.zeros((1, n_players)))  # evaluates the background row once
        # It also evaluates the instance once, then nsamples coalitions.
        nsamples = "auto" if budget is None else max(budget - 2, 1)
        values = explainer.shap_values(np.ones((1, n_players)), nsamples=nsamples, l1_reg=False, silent=True)
        return np.asarray(values).reshape(n_players)

    return [Method("shap Permutation", "shap", permutation, True), Method("shap Kernel", "shap", kernel, True)]


def captum_methods():
    from captum.attr import KernelShap, ShapleyValueSampling

    def forward_of(game):
        return lambda keep: torch.as_tensor(game(keep.detach().numpy()))

    def attribute(explainer, n_players, n_samples):
        # Input all kept, baseline none kept; batches as large as the samples, for the model's sake.
        attribution = explainer.attribute(torch.ones(1, n_players), baselines=torch.zeros(1, n_players),
                                          n_samples=n_samples, perturbations_per_eval=4096)
        return attribution.numpy().reshape(n_players)

    def sampling(game, n_players, budget, seed, pairs):
        torch.manual_seed(seed)  # Captum draws its permutations from torch's generator
        # Each permutation costs P evaluations, plus one of the baseline per call.
        n_samples = 25 if budget is None else max(1, (budget - 1) // n_players)
        return attribute(ShapleyValueSampling(forward_of(game)), n_players, n_samples)

    def kernel(game, n_players, budget, seed, pairs):
        torch.manual_seed(seed)
        n_samples = 25 if budget is None else budget  # one evaluation per sample, nothing else
        return attribute(KernelShap(forward_of(game)), n_players, n_samples)

    return [Method("Captum ShapleyValueSampling", "Captum", sampling, True),
            Method("Captum KernelShap", "Captum", kernel, True)]


# shapiq's Shapley-value approximators and their settings: the pairing of complementary
# coalitions for KernelSHAP (on the dev split it lowers KernelSHAP's error several-fold; it makes
# kADDSHAP's values KernelSHAP's and does not help SVARM or UnbiasedKernelSHAP, left at their
# defaults). SVARM is SVARM-IQ for the Shapley value. Other versions of shapiq name RegressionMSR
# and LeverageSHAP, which 1.4 lacks; its SPEX targets sparse games of hundreds of players and
# ProxySPEX needs lightgbm.
SHAPIQ_APPROXIMATORS = {"KernelSHAP": {"pairing_trick": True}, "kADDSHAP": {}, "RegressionMSR": {}, "LeverageSHAP": {},
                        "SVARM": {}, "UnbiasedKernelSHAP": {}, "PermutationSamplingSV": {}}


def shapiq_methods():
    import shapiq.approximator

    def method(cls, kwargs):
        def run(game, n_players, budget, seed, pairs):
            result = cls(n_players, random_state=seed, **kwargs).approximate(budget=budget, game=game)
            return np.array([result[(j,)] for j in range(n_players)])

        return Method(f"shapiq {cls.__name__}", "shapiq", run)

    methods = [method(getattr(shapiq.approximator, name), kwargs) for name, kwargs in SHAPIQ_APPROXIMATORS.items()
               if hasattr(shapiq.approximator, name)]
    return methods, [name for name in SHAPIQ_APPROXIMATORS if not hasattr(shapiq.approximator, name)]


def all_methods(selected):
    """The methods of the libraries that import, and notes on what is left out."""
    methods, notes = [], []
    if estimate_shapley is not None:
        methods += skpartx_methods()
    else:
        notes.append("skpartx.attribution.estimate_shapley is missing: skpartx's estimators are skipped.")
    for library, make in (("shap", shap_methods), ("captum", captum_methods)):
        try:
            methods += make()
        except ImportError:
            notes.append(f"{library} is not installed: skipped.")
    try:
        found, missing = shapiq_methods()
        methods += found
        if missing:
            notes.append(f"shapiq {shapiq_version()} has no {', '.join(missing)}.")
    except ImportError:
        notes.append("shapiq is not installed: skipped.")
    if selected:
        methods = [m for m in methods if any(s.lower() in m.name.lower() for s in selected)]
    return methods, notes


def shapiq_version():
    from importlib.metadata import version

    return version("shapiq")


# ----------------------------------------------------------------------------- runs


def relative_error(estimate, truth):
    return float(np.sum((np.asarray(estimate, dtype=np.float64) - truth) ** 2) / np.sum(truth**2))


def budget_of(multiple, n_players):
    """Evaluations of a budget written as a multiple of P; 2 is 2P + 2, what one antithetic
    pair of permutations costs."""
    return 2 * n_players + 2 if multiple == 2 else multiple * n_players


def run_method(method, game, n_players, budget, seed, pairs, truth):
    """(evaluations counted, relative error, seconds) of one run."""
    counted = CountedGame(game)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the libraries warn about small budgets; the error says how it went
        estimate = method.run(counted, n_players, budget, seed, pairs)
    return counted.n_evaluations, relative_error(estimate, truth), time.perf_counter() - start


def reference_shapley(game, n_players, budget, seed):
    """skpartx's leverage estimate at a large budget, and its estimated relative error."""
    counted = CountedGame(game)
    result = estimate_shapley(counted, n_players, max_evals=budget, approximator="leverage", random_state=seed)
    values = np.asarray(result.values, dtype=np.float64)
    return values, float(np.sum(np.asarray(result.standard_errors) ** 2) / np.sum(values**2)), counted.n_evaluations


def forward_rate(game, n=2048, repeats=2):
    """Composites/s of ``game`` on random coalitions (best of ``repeats``): what one evaluation costs."""
    keep = np.random.RandomState(0).rand(n, game.n_players) < 0.5
    game.forward(keep[: game.batch_size])  # warm-up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        game.forward(keep)
        best = max(best, n / (time.perf_counter() - start))
    return best


def benchmark_parts(n_players, model, images, methods, args, key):
    """Runs every method on every image at every budget; returns the truths and the runs."""
    rows, cols = GRIDS[n_players]
    pairs = grid_pairs(rows, cols)
    tabulated = n_players <= MAX_TABULATED
    n_seeds = args.seeds if tabulated else args.model_seeds
    budgets = [budget_of(b, n_players) for b in args.budgets]
    labels = [str(b) for b in budgets] + (["default"] if args.defaults else [])
    games, truths, grids = [], [], []
    for i, image in enumerate(tqdm(images, desc=f"P={n_players} truth", leave=False, file=sys.stderr)):
        grid = GridGame(model, image, rows, cols, args.batch_size)
        grids.append(grid)
        stem = os.path.join(args.cache_dir, f"{args.split}-image{i}-P{n_players}-{key}")
        if tabulated:
            start = time.perf_counter()
            table = value_table(grid, stem + ".npy")
            game, truth = TableGame(table), exact_shapley(table, n_players)
            info = dict(evals=2**n_players, error="exact", seconds=time.perf_counter() - start)
        else:
            game = MemoGame(grid, stem + ".npz")
            start = time.perf_counter()
            truth, error, evals = reference_shapley(game, n_players, args.reference_budget * n_players, 10**6 + i)
            game.save()
            info = dict(evals=evals, error=f"{error:.1e}", seconds=time.perf_counter() - start, reference_error=error)
        info.update(target=grid.target, empty=float(game(np.zeros((1, n_players), bool))[0]),
                    full=float(game(np.ones((1, n_players), bool))[0]), norm=float(np.linalg.norm(truth)))
        games.append(game)
        truths.append((truth, info))
    runs = {m.name: {label: [] for label in labels if label != "default" or m.has_default} for m in methods}
    n_runs = len(images) * n_seeds * sum(len(r) for r in runs.values())
    progress = tqdm(total=n_runs, desc=f"P={n_players}", file=sys.stderr)
    for i, (game, (truth, _)) in enumerate(zip(games, truths)):
        for s in range(n_seeds):
            seed = 1000 * i + s  # distinct across images and seeds, the same for every method
            for method in methods:
                for label in runs[method.name]:
                    budget = None if label == "default" else int(label)
                    runs[method.name][label].append(run_method(method, game, n_players, budget, seed, pairs, truth))
                    progress.update()
        if isinstance(game, MemoGame):
            game.save()
    progress.close()
    return truths, runs, labels, sum(grid.n_forward for grid in grids)


# ----------------------------------------------------------------------------- reading


def summary(records):
    """Mean evaluations, median and 90th percentile of the error, mean seconds of runs."""
    evals, errors, seconds = np.array(records).T
    return evals.mean(), np.median(errors), np.percentile(errors, 90), seconds.mean()


def evaluations_to_reach(points, target):
    """Evaluations at which the median curve ``[(evaluations, error), ...]`` first reaches
    ``target``, interpolated in log-log; ``None`` when it does not, ``(n, "<=")`` when its
    cheapest point already does."""
    points = sorted(points)
    for k, (n, error) in enumerate(points):
        if error <= target:
            if k == 0:
                return n, "<="
            (n0, e0) = points[k - 1]
            if error == e0:
                return n, ""
            t = (math.log(target) - math.log(e0)) / (math.log(error) - math.log(e0))
            return math.exp(math.log(n0) + t * (math.log(n) - math.log(n0))), ""
    return None


def reading_text(reading, points):
    if reading is None:
        return f"> {max(n for n, _ in points):.0f}"
    n, sign = reading
    return f"<= {n:.0f}" if sign else f"{n:.0f}"


def ratio_text(mine, theirs, my_points, their_points):
    """skpartx's evaluations over a competitor's, bounded where one of them does not reach the target."""
    if mine is not None and theirs is not None:
        sign = {("", ""): "", ("<=", ""): "<= ", ("", "<="): ">= "}.get((mine[1], theirs[1]), "~ ")
        return f"{sign}{mine[0] / theirs[0]:.2f}"
    if mine is not None:
        return f"< {mine[0] / max(n for n, _ in their_points):.2f}"
    if theirs is not None:
        return f"> {max(n for n, _ in my_points) / theirs[0]:.2f}"
    return "-"


def report_parts(n_players, truths, runs, labels, methods):
    """Prints the tables of one P; returns each method's median curve."""
    tabulated = n_players <= MAX_TABULATED
    print(f"\n## P = {n_players} ({'x'.join(map(str, GRIDS[n_players]))} cells)\n")
    if tabulated:
        print(f"Truth: exact Shapley values from the table of all {2**n_players} coalitions per image.\n")
    else:
        print("Truth: skpartx leverage estimate; its estimated relative error is sum(se^2) / ||phi||^2.\n")
    header = ["image", "class", "v(empty)", "v(full)", "||phi||", "truth evaluations", "truth rel. error", "truth s"]
    rows = [[str(i), str(info["target"]), f"{info['empty']:.3f}", f"{info['full']:.3f}", f"{info['norm']:.3f}",
             str(info["evals"]), info["error"], f"{info['seconds']:.0f}"] for i, (_, info) in enumerate(truths)]
    print("\n".join(markdown_table(header, rows)))
    if not tabulated:
        worst = max(info["reference_error"] for _, info in truths)
        # A method's measured error is its own plus the reference's (independent samples).
        print(f"\nThe reference adds up to {worst:.1e} to every measured error"
              f"{': raise --reference-budget to read 1e-3 reliably' if worst > 0.2 * min(TARGETS) else ''}.")

    print("\nRelative error, median (90th percentile) over images x seeds, by budget (evaluations):\n")
    rows, curves = [], {}
    for method in methods:
        cells, points = [], []
        for label in labels:
            if label not in runs[method.name]:
                cells.append("")
                continue
            evals, median, p90, _ = summary(runs[method.name][label])
            cells.append(f"{median:.1e} ({p90:.1e})")
            points.append((evals, median))
        rows.append([method.name, *cells])
        curves[method.name] = points
    print("\n".join(markdown_table(["method", *labels], rows)))

    print("\nMean evaluations counted, by budget:\n")
    rows = [[m.name, *(f"{summary(runs[m.name][label])[0]:.0f}" if label in runs[m.name] else "" for label in labels)]
            for m in methods]
    print("\n".join(markdown_table(["method", *labels], rows)))

    print("\nEvaluations to reach a median relative error (log-log interpolation; > max: not reached):\n")
    largest = labels[-2] if labels[-1] == "default" else labels[-1]
    rows = [[m.name, *(reading_text(evaluations_to_reach(curves[m.name], t), curves[m.name]) for t in TARGETS),
             f"{summary(runs[m.name][largest])[3]:.3f}"] for m in methods]
    print("\n".join(markdown_table(["method", *(f"to {t:g}" for t in TARGETS), f"s per run at {largest}"], rows)))
    if not tabulated:
        print("\n(Seconds include the model's forward passes for coalitions no earlier run had asked for.)")
    return curves


def report_summary(all_curves, methods):
    """skpartx's default estimator against the best of shap + Captum and the best of shapiq, per P."""
    by_library = {m.name: m.library for m in methods}

    def best(curves, libraries, target):
        found = [(evaluations_to_reach(points, target), name) for name, points in curves.items()
                 if by_library[name] in libraries]
        reached = [(r, name) for r, name in found if r is not None]
        if reached:
            return min(reached, key=lambda item: item[0][0])
        if found:  # none reaches: the bound is the largest budget any of them tried
            name = max(found, key=lambda item: max(n for n, _ in curves[item[1]]))[1]
            return None, name
        return None, None

    print("\n## Summary: evaluations to reach a median relative error\n")
    header = ["P", "target", "skpartx adjusted", "best shap / Captum", "best shapiq", "skpartx / shap-Captum",
              "skpartx / shapiq"]
    rows = []
    for n_players, curves in all_curves.items():
        for target in TARGETS:
            mine_points = curves.get("skpartx adjusted")
            mine = evaluations_to_reach(mine_points, target) if mine_points else None
            row = [str(n_players), f"{target:g}", reading_text(mine, mine_points) if mine_points else "-"]
            ratios = []
            for libraries in (("shap", "Captum"), ("shapiq",)):
                reading, name = best(curves, libraries, target)
                if name is None:
                    row.append("-")
                    ratios.append("-")
                    continue
                row.append(f"{reading_text(reading, curves[name])} ({name})")
                ratios.append(ratio_text(mine, reading, mine_points, curves[name]) if mine_points else "-")
            rows.append(row + ratios)
    print("\n".join(markdown_table(header, rows)))


# ----------------------------------------------------------------------------- main


def demo_classifier():
    """The shipped classifier of the disjoint family, and a short key of its weights (the
    cached values depend on them)."""
    entry = shipped_weights().get("disjoint")
    if entry is None:
        raise SystemExit("the shipped demo classifier for family 'disjoint' is missing; reinstall skpartx")
    return fast_inference(shipped_demo_model(entry["settings"]).eval()), entry["sha256"][:10]


def fast_inference(model):
    """``model`` frozen for inference (batch norms folded into the convolutions, oneDNN
    layouts): about twice the eager forward rate on CPU, the same outputs up to float rounding
    (1e-5), and every method sees the same values."""
    try:
        with torch.inference_mode():
            return torch.jit.optimize_for_inference(torch.jit.script(model))
    except Exception:  # a torch build without TorchScript or oneDNN: the eager model, channels-last
        return model.to(memory_format=torch.channels_last)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="test")
    parser.add_argument("--parts", type=int, nargs="+", choices=sorted(GRIDS), default=sorted(GRIDS))
    parser.add_argument("--images", type=int, default=None,
                        help="images of the split (default: all, 4 on dev, 6 on test)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per image where the truth is exact (P = 16)")
    parser.add_argument("--model-seeds", type=int, default=3, help="seeds per image where the model runs (P > 16)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[2, 4, 8, 16, 32, 64],
                        help="budgets as multiples of P (2 is 2P + 2)")
    parser.add_argument("--defaults", action=argparse.BooleanOptionalAction, default=True,
                        help="also run each library at its own default budget")
    parser.add_argument("--reference-budget", type=int, default=2048,
                        help="the reference's evaluations over P (P > 16)")
    parser.add_argument("--methods", nargs="+", default=None, help="only methods whose names contain one of these")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--cache-dir", default=CACHE_DIR)
    args = parser.parse_args()
    args.budgets = sorted(set(args.budgets))

    random_state, n_split = SPLITS[args.split]
    n_images = n_split if args.images is None else args.images
    # The split's images do not depend on --images: fewer are the first of them.
    data = make_part_shapes(max(n_images, N_GENERATED), family="disjoint", random_state=random_state)
    images = data.images[:n_images]
    model, key = demo_classifier()
    os.makedirs(args.cache_dir, exist_ok=True)
    methods, notes = all_methods(args.methods)
    parts = list(args.parts)
    if estimate_shapley is None and any(p > MAX_TABULATED for p in parts):
        notes.append(f"no reference without skpartx's estimate_shapley: P > {MAX_TABULATED} skipped.")
        parts = [p for p in parts if p <= MAX_TABULATED]

    print(f"# Shapley values of many-part games at a budget of evaluations ({args.split} split)\n")
    print(f"{n_images} image(s) of make_part_shapes(family='disjoint', random_state={random_state}); shipped demo "
          f"classifier; {torch.get_num_threads()} torch threads. Budgets: {', '.join(map(str, args.budgets))} x P "
          f"(2 x P stands for 2P + 2){' and library defaults' if args.defaults else ''}.")
    rate = forward_rate(GridGame(model, images[0], *GRIDS[max(parts)], args.batch_size))
    print(f"Forward rate: {rate:.0f} composites/s (batch {args.batch_size}).")
    for note in notes:
        print(f"Note: {note}")

    all_curves, start = {}, time.perf_counter()
    for n_players in parts:
        part_start = time.perf_counter()
        truths, runs, labels, n_forward = benchmark_parts(n_players, model, images, methods, args, key)
        all_curves[n_players] = report_parts(n_players, truths, runs, labels, methods)
        print(f"\n(P = {n_players}: {time.perf_counter() - part_start:.0f} s, {n_forward} composites through the "
              f"model; values cached before are read.)")
    report_summary(all_curves, methods)
    print(f"\nTotal {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
