"""Comparisons on worlds: how often ``compare_slices`` flags a shift where there is none (null),
and how often ``compare_models`` flags a planted background shortcut in its own class's row
(power), over the development or test worlds of ``benchmarks/worlds.py``.

- **null**: per world, its ``plain`` model and its held-out images (true part masks, so the
  comparison's own statistics are measured, not the transfer's errors). Shapley values are
  computed once per baseline; ``--splits`` random halves are then compared with the
  statistics ``compare_slices`` runs (unpaired, ``alpha`` 0.05 family-wise over the tested
  cells, the default margin), and one whole ``compare_slices`` run per world checks it end
  to end. A split with any flagged cell is a false flag.
- **power**: per world and shortcut form, a model trained as the world's ``plain`` one but on
  the world drawn with a background shortcut for class 0 (``sample_world(seed,
  shortcut=(0, rate, contrast))``), compared with the ``plain`` model by ``compare_models``
  on held-out images of the shortcut world. The shortcut is found when class 0's own row
  flags it with the right sign: its background cell up (the shortcut model leans on the
  background more), or its ``(baseline)`` cell up, the form the shortcut takes when the
  baseline keeps the cue (a blurred background keeps its hue) and the shortcut model calls
  the baseline images class 0. Also reported: the other flagged cells, and the share of
  class 0's images the shortcut model decides on the baseline alone.

Usage::

    python benchmarks/worlds_compare.py --split dev --worlds 4 --baselines blur mean
    python benchmarks/worlds_compare.py --split dev --seeds 102 --baselines reference
    python benchmarks/worlds_compare.py --split test --baselines mean
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from skpartx import PartAttributor, PartImages
from skpartx.compare import DEFAULT_MARGIN, compare_models, compare_slices
from skpartx.compare._stats import flag_shifts, shift_intervals
from skpartx.datasets import make_part_world, sample_world

from common import markdown_table
from worlds import (DEV_WORLDS, EPOCHS, HELD_OUT_PER_CLASS, N_TRAIN, TEST_WORLDS, World, cached, settings_key,
                    trained_model)

ALPHA, N_BOOTSTRAP = 0.05, 1000
SHORTCUT_CLASS, CONTRAST = 0, 0.2
FORMS = {"always": 1.0, "half": 0.5}  # share of the shortcut class's images on the cue's hue


def quiet(function, *args, **kwargs):
    """``function(...)`` without the baseline notices (part of what is measured, reported apart)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return function(*args, **kwargs)


def null_case(w, baseline, splits, rng):
    """False flags of random half splits of one world's held-out images, and one end-to-end run."""
    X = w.X_held_true

    def compute():
        attributor = PartAttributor(w.model, baseline=w.baseline(baseline), device=w.device, random_state=0).fit(X)
        values = np.asarray(quiet(attributor.transform, X), dtype=np.float64)
        order = np.random.default_rng(w.seed).permutation(len(X))
        halves = np.sort(order[: len(X) // 2]), np.sort(order[len(X) // 2:])
        report = quiet(compare_slices, w.model, X[halves[0]], X[halves[1]], random_state=0, n_bootstrap=N_BOOTSTRAP,
                       attributor=PartAttributor(None, baseline=w.baseline(baseline), device=w.device))
        return {"values": values, "decisions": attributor.explained_classes(X),
                "end-to-end flags": int(report.shifts["flagged"].sum())}

    key = settings_key(seed=w.seed, variant=w.variant, baseline=baseline, case="null")
    found = cached(w.folder / f"null-{w.variant}-{key}.joblib", compute)
    values, decisions = found["values"], found["decisions"]
    classes = np.unique(decisions)
    # At the default margin, and at 0: the intervals' own level.
    margins = {"false flags": DEFAULT_MARGIN, "false flags at margin 0": 0.0}
    counts, tested = dict.fromkeys(margins, 0), 0
    for _ in range(splits):
        half = rng.permutation(len(X)) < len(X) // 2
        stats = shift_intervals(values[half], values[~half], decisions[half], decisions[~half], classes,
                                paired=False, alpha=ALPHA, n_bootstrap=N_BOOTSTRAP, min_images=10, rng=rng)
        for name, margin in margins.items():
            up, down = flag_shifts(stats["low"], stats["high"], margin)
            counts[name] += bool((up | down).any())
        tested = int(stats["tested"].sum())
    return {"splits": splits, **counts, "tested cells": tested, "end-to-end flags": found["end-to-end flags"]}


def shortcut_model(w, rate):
    """The shortcut world (class 0's background on one hue at ``rate``), and a model trained on it."""
    world = sample_world(w.seed, shortcut=(SHORTCUT_CLASS, rate, CONTRAST))
    key = settings_key(seed=w.seed, n=N_TRAIN, epochs=EPOCHS, shortcut=(SHORTCUT_CLASS, rate, CONTRAST))

    def training_data():
        train = make_part_world(N_TRAIN, world=world, random_state=1)
        return train.images, train.target

    model, _ = trained_model(w.folder / f"model-shortcut-{key}.pt", w.n_classes, training_data, w.device)
    return world, model


def power_case(w, baseline, form):
    """``compare_models`` of the plain model against the shortcut model, on the shortcut world's images."""
    rate = FORMS[form]

    def compute():
        world, model = shortcut_model(w, rate)
        held = make_part_world(HELD_OUT_PER_CLASS * w.n_classes, world=world, random_state=3)
        X = PartImages(held.images, held.masks, world.part_names)
        report = quiet(compare_models, w.model, model, X, names=("plain", "shortcut"), random_state=0,
                       n_bootstrap=N_BOOTSTRAP, attributor=PartAttributor(None, baseline=w.baseline(baseline),
                                                                           device=w.device))
        shifts = report.shifts
        own = shifts[shifts["class"] == report.class_names[SHORTCUT_CLASS]]
        cell = {part: own[own["part"] == part].iloc[0].to_dict() for part in ("background", "(baseline)")
                if (own["part"] == part).any()}
        flagged = shifts[shifts["flagged"]]
        return {"cells": cell, "flagged": flagged[["class", "part", "shift"]].to_dict("records"),
                "agreement": report.agreement, "cue share": float(held.scenes.cue[held.target == SHORTCUT_CLASS].mean()),
                "on baseline": float(report.baseline["shortcut"].get(report.class_names[SHORTCUT_CLASS], np.nan))}

    key = settings_key(seed=w.seed, baseline=baseline, rate=rate, contrast=CONTRAST, case="power")
    return cached(w.folder / f"power-{key}.joblib", compute)


def describe(cell):
    if not cell:
        return "-"
    verdict = ("up" if cell["shift"] > 0 else "down") if cell["flagged"] else "not flagged"
    return f"{cell['shift']:+.2f} [{cell['low']:+.2f}, {cell['high']:+.2f}] {verdict}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--worlds", type=int, help="only the first N worlds of the split")
    parser.add_argument("--seeds", type=int, nargs="+", help="only these worlds of the split")
    parser.add_argument("--baselines", nargs="+", default=["mean"],
                        help="attributor baselines compared (compare_models' default from 0.3: mean)")
    parser.add_argument("--cases", nargs="+", choices=("null", "power"), default=["null", "power"])
    parser.add_argument("--forms", nargs="+", choices=tuple(FORMS), default=list(FORMS))
    parser.add_argument("--splits", type=int, default=200, help="random half splits per world (null)")
    parser.add_argument("--cache", default=str(Path(__file__).parent / ".cache" / "worlds"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    seeds = (DEV_WORLDS if args.split == "dev" else TEST_WORLDS)[: args.worlds]
    if args.seeds:
        unknown = sorted(set(args.seeds) - set(seeds))
        if unknown:
            parser.error(f"worlds {unknown} are not among the {args.split} worlds {seeds}")
        seeds = tuple(args.seeds)
    rng = np.random.default_rng(0)
    null_rows, power_rows = [], []
    start = time.perf_counter()
    for seed in seeds:
        w = World(seed, "plain", args.cache, args.device)
        for baseline in args.baselines:
            if "null" in args.cases:
                null_rows.append({"world": seed, "baseline": baseline, **null_case(w, baseline, args.splits, rng)})
            for form in args.forms if "power" in args.cases else ():
                found = power_case(w, baseline, form)
                up = {part: bool(cell["flagged"] and cell["shift"] > 0) for part, cell in found["cells"].items()}
                power_rows.append({"world": seed, "baseline": baseline, "form": form,
                                   "found": up.get("background", False) or up.get("(baseline)", False),
                                   "background": describe(found["cells"].get("background")),
                                   "(baseline)": describe(found["cells"].get("(baseline)")),
                                   "other flags": ", ".join(f"{r['class']}/{r['part']} {r['shift']:+.2f}"
                                                            for r in found["flagged"]
                                                            if not (r["class"] == w.world.class_names[SHORTCUT_CLASS]
                                                                    and r["part"] == "background")) or "none",
                                   "agreement": f"{found['agreement']:.2f}",
                                   "decided on baseline": f"{found['on baseline']:.2f}"})
        print(f"world {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    if null_rows:
        null = pd.DataFrame(null_rows)
        print(f"\n## Null over the {args.split} worlds: random halves of one model's held-out images "
              f"({args.splits} splits per world, alpha {ALPHA}, margin {DEFAULT_MARGIN})\n")
        table = []
        for baseline, part in null.groupby("baseline", sort=False):
            rate = part["false flags"].sum() / part["splits"].sum()
            at_zero = part["false flags at margin 0"].sum() / part["splits"].sum()
            table.append([baseline, str(len(part)), f"{part['tested cells'].median():.0f}", f"{rate:.3f}",
                          f"{part['false flags'].div(part['splits']).max():.3f}", f"{at_zero:.3f}",
                          f"{int((part['end-to-end flags'] > 0).sum())} of {len(part)}"])
        print("\n".join(markdown_table(["baseline", "worlds", "tested cells (median)", "false-flag rate per split",
                                        "worst world", "at margin 0", "compare_slices runs with a flag"], table)))
    if power_rows:
        power = pd.DataFrame(power_rows)
        print(f"\n## Power over the {args.split} worlds: plain model against one with a background shortcut for "
              f"class {SHORTCUT_CLASS} (contrast {CONTRAST})\n")
        print("\n".join(markdown_table(list(power.columns), [[str(v) for v in r] for r in power.itertuples(index=False)])))
        summary = power.groupby(["baseline", "form"], sort=False)["found"].mean()
        print("\nPower: share of worlds whose shortcut class's row flags its background or (baseline) up: " + ", ".join(
            f"{baseline} / {form} {share:.2f}" for (baseline, form), share in summary.items()))
    print(f"\nWall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
