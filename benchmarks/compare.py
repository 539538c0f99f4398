"""Calibration of ``skpartx.compare``: null, seeds and power on both synthetic families.

Usage::

    python benchmarks/compare.py                       # both families (about 25 minutes on 2 cores)
    python benchmarks/compare.py --families shared --repetitions 200

Data and models per family (``make_part_shapes(family=...)``, 64 px): the demo's SmallCNN
with seed 0 and with seed 1 (same data, same settings), and for each class a model trained
with the same settings on data in which that class always stands before a background of its
own hue (``spurious=1.0``): a background shortcut. Part masks are the data's ground
truth, so that the comparison's own statistics are measured, not the transfer's errors.
Part scores: exact Shapley values of the probability with the mean baseline (the defaults
of ``compare_models``).

- **null**: one model, two random halves of the same held-out images (``compare_slices``'
  unpaired statistics), ``--repetitions`` times: the share of repetitions with any flagged
  cell, at margin 0 (the intervals' own calibration: stated level ``alpha``) and at the
  default margin. The attributions are computed once and split each time (the statistics
  are those ``compare_slices`` runs; three full ``compare_slices`` runs check it end to end).
- **seeds**: the seed-0 against the seed-1 model (``compare_models``, paired), on 100, 200
  and 400 images: flagged cells at margins 0, 0.02, 0.05 (default) and 0.1.
- **power**: the clean seed-0 model against a shortcut model, for each class in turn (one
  model each: that class always before a background of its own hue), on held-out images
  drawn with the shortcut, on 50 to 400 images: the shortcut class's background cell and its
  ``(baseline)`` cell (the all-baseline value; shift, interval, flagged up / down / not),
  every flagged background cell with its sign, the other flagged parts of the shortcut
  class, and how often the shortcut model decides that class on the baseline alone.
  ``--power-baseline zero`` repeats it against a black canvas (which classes a shortcut model
  decides on the blank canvas depends on the baseline), ``--power-baseline reference``
  against reference images (no canvas at all: removed parts show other held-out images).
"""

import argparse
import time
import warnings

import joblib
import numpy as np

from skpartx import PartAttributor, PartImages
from skpartx.compare._stats import flag_shifts, shift_intervals
from skpartx.cli.demo_classifier import train_demo_classifier
from skpartx.compare import DEFAULT_MARGIN, compare_models, compare_slices
from skpartx.datasets import make_part_shapes
from skpartx.demo import DEMO_SETTINGS, default_cache_dir, trained_demo_model

MARGINS = (0.0, 0.02, DEFAULT_MARGIN, 0.1)
ALPHA = 0.05


def models(family):
    """The family's class names, held-out images and its two seeds' models."""
    s = DEMO_SETTINGS
    n_train, n_test = s["n_train"], s["n_test"]
    data = make_part_shapes(n_train + n_test, image_size=s["image_size"], family=family, random_state=0)
    seeded = [trained_demo_model(data.images[:n_train], data.target[:n_train],
                                 {**s, "family": family, "random_state": seed}, default_cache_dir())[0]
              for seed in (0, 1)]
    held_out = PartImages(data.images[n_train:], data.masks[n_train:], data.part_names)
    return data.target_names, held_out, seeded


def shortcut_model(family, shortcut_class):
    """Held-out images drawn with a background shortcut for ``shortcut_class``, and a model trained with it."""
    s = DEMO_SETTINGS
    n_train, n_test = s["n_train"], s["n_test"]
    data = make_part_shapes(n_train + n_test, image_size=s["image_size"], family=family, spurious=1.0,
                            spurious_classes=[shortcut_class], random_state=0)
    train = joblib.Memory(default_cache_dir(), verbose=0).cache(train_demo_classifier)
    model = train(data.images[:n_train], data.target[:n_train], {**s, "random_state": 0})
    return PartImages(data.images[n_train:], data.masks[n_train:], data.part_names), model


def null_case(model, X, repetitions, rng, baseline):
    """Share of random half splits with any flag, at margin 0 and at the default margin."""
    attributor = PartAttributor(model, baseline=baseline, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # baseline notices: part of the data, not of the test
        values = np.asarray(attributor.transform(X), dtype=np.float64)
    decisions = attributor.explained_classes(X)
    classes = np.unique(decisions)
    any_flag = {0.0: 0, DEFAULT_MARGIN: 0}
    for _ in range(repetitions):
        half = rng.permutation(len(X)) < len(X) // 2
        stats = shift_intervals(values[half], values[~half], decisions[half], decisions[~half], classes,
                                paired=False, alpha=ALPHA, n_bootstrap=1000, min_images=10, rng=rng)
        for margin in any_flag:
            up, down = flag_shifts(stats["low"], stats["high"], margin)
            any_flag[margin] += bool((up | down).any())
    end_to_end = 0
    for seed in range(3):
        order = np.random.default_rng(100 + seed).permutation(len(X))
        report = compare_slices(model, X[np.sort(order[: len(X) // 2])], X[np.sort(order[len(X) // 2:])],
                                random_state=seed, n_bootstrap=1000, attributor=PartAttributor(None, baseline=baseline))
        end_to_end += int(report.shifts["flagged"].any())
    return {margin: count / repetitions for margin, count in any_flag.items()}, end_to_end, int(stats["tested"].sum())


def flags_by_margin(report):
    """Number of flagged cells of a report at each of ``MARGINS`` (the intervals do not depend on it)."""
    counts = []
    for margin in MARGINS:
        up, down = flag_shifts(report.shifts["low"].to_numpy(), report.shifts["high"].to_numpy(), margin)
        counts.append(int((up | down).sum()))
    return counts


def power_row(family, shortcut_name, n, report):
    """A row of the power table: the shortcut class's background cell, every flagged background, the class's parts."""
    flagged = report.flagged()
    background = flagged[flagged["part"] == "background"]
    own = flagged[(flagged["class"] == shortcut_name) & ~flagged["part"].isin(["background", "(baseline)"])]
    describe = lambda rows: ", ".join(f"{r['class']}/{r['part']} {r['shift']:+.2f}"  # noqa: E731
                                      for r in rows.to_dict("records")) or "none"
    def cell(part):
        row = report.shifts[(report.shifts["class"] == shortcut_name) & (report.shifts["part"] == part)].iloc[0]
        verdict = "up" if row["flagged"] and row["shift"] > 0 else ("down" if row["flagged"] else "not flagged")
        return f"{row['shift']:+.2f} [{row['low']:+.2f}, {row['high']:+.2f}] {verdict}"

    return (f"| {family} | {shortcut_name} | {n} | {report.agreement:.2f} | {cell('background')} | "
            f"{cell('(baseline)')} | {describe(background)} | {describe(own)} | "
            f"{report.baseline['shortcut'].get(shortcut_name, float('nan')):.2f} |")


def quiet_compare(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return compare_models(*args, **kwargs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["disjoint", "shared"])
    parser.add_argument("--repetitions", type=int, default=500, help="random half splits of the null case")
    parser.add_argument("--shortcut-classes", type=int, nargs="+", default=None,
                        help="classes given a shortcut in turn, one model each (default: every class)")
    parser.add_argument("--cases", nargs="+", default=["null", "seeds", "power"], choices=["null", "seeds", "power"])
    parser.add_argument("--baseline", default="mean",
                        help="baseline of the Shapley values of every case (compare_models' default: mean)")
    parser.add_argument("--power-baseline", default=None, help="baseline of the power case only (default: --baseline)")
    args = parser.parse_args(argv)
    power_baseline = args.power_baseline or args.baseline
    rng = np.random.default_rng(0)
    null_rows, seed_rows, power_rows = [], [], []
    for family in args.families:
        start = time.perf_counter()
        names, held_out, (model, model_seed1) = models(family)
        if "null" in args.cases:
            rates, end_to_end, n_cells = null_case(model, held_out, args.repetitions, rng, args.baseline)
            se = np.sqrt(ALPHA * (1 - ALPHA) / args.repetitions)
            null_rows.append(f"| {family} | {len(held_out)} (2 x {len(held_out) // 2}) | {n_cells} | {args.repetitions} | "
                         f"{rates[0.0]:.3f} (level {ALPHA}, binomial s.e. {se:.3f}) | {rates[DEFAULT_MARGIN]:.3f} | "
                             f"{end_to_end} of 3 |")
        for n in (100, 200, len(held_out)) if "seeds" in args.cases else ():
            report = quiet_compare(model, model_seed1, held_out[:n], random_state=0, n_bootstrap=1000,
                                   target_names=names, attributor=PartAttributor(None, baseline=args.baseline))
            changes = report.rules["change"].value_counts()
            seed_rows.append(f"| {family} | {n} | {report.agreement:.3f} | {int(report.shifts['tested'].sum())} | "
                             + " | ".join(str(c) for c in flags_by_margin(report))
                             + f" | {changes.get('kept', 0)} / {changes.get('lost', 0)} / {changes.get('gained', 0)} |")
        for shortcut_class in (args.shortcut_classes or range(len(names))) if "power" in args.cases else ():
            with_shortcut, shortcut = shortcut_model(family, shortcut_class)
            for n in (50, 100, 200, len(with_shortcut)):
                report = quiet_compare(model, shortcut, with_shortcut[:n], names=("clean", "shortcut"), random_state=0,
                                       n_bootstrap=1000, target_names=names,
                                       attributor=PartAttributor(None, baseline=power_baseline))
                power_rows.append(power_row(family, names[shortcut_class], n, report))
        print(f"{family}: {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\nalpha {ALPHA}, default margin {DEFAULT_MARGIN}, 1000 bootstrap resamples\n")
    print(f"Null: one model, two random halves of the same images (unpaired; {args.baseline} baseline)\n")
    print("| family | images | tested cells | repetitions | any flag, margin 0 | any flag, default margin | "
          "compare_slices runs with a flag |\n|---|---|---|---|---|---|---|")
    print("\n".join(null_rows))
    print(f"\nSeeds: the demo model with seed 0 against seed 1 (paired; {args.baseline} baseline)\n")
    print("| family | images | agreement | tested cells | " + " | ".join(f"flagged at {m:g}" for m in MARGINS)
          + " | rules kept / lost / gained |\n|---|---|---|---|" + "---|" * len(MARGINS) + "---|")
    print("\n".join(seed_rows))
    print("\nPower: the clean model against one trained with a background shortcut for one class "
          f"(images drawn with the shortcut; {power_baseline} baseline)\n")
    print("| family | shortcut class | images | agreement | its background: shift [interval] | its (baseline) | "
          "flagged background cells (B − A) | other flagged parts of the shortcut class | share of its images the "
          "shortcut model decides on the baseline |\n|---|---|---|---|---|---|---|---|---|")
    print("\n".join(power_rows))


if __name__ == "__main__":
    main()
