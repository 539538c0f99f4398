"""Worlds: the protocol skpartx's defaults are chosen on (development worlds) and reported on
(test worlds, never used to choose).

Per world (:func:`skpartx.datasets.sample_world`) and model variant, a small CNN is trained here
on 2,000 images of the world: ``plain``, and ``conjunctive``, which also sees 25% objects
with one part of their class's conjunction truly removed, labelled as no class (so that it
needs its conjunctions). The user's data are 40 images per class, 10 of them labelled; the
held-out images are 30 per class. On them:

- **Pipeline** (the settings given, today's defaults by default): ``PartLabelTransfer`` fitted
  on the labelled images fills the masks of the others; its mIoU is measured on the
  held-out images against their true masks. ``PartAttributor`` (Shapley values, and MSXs)
  explains the filled images; ``GlobalRuleExplainer`` learns rules from the user's images and
  is scored on the held-out ones: fidelity = share of held-out images whose rule prediction
  is the model's decision, coverage = share a rule of the model's class fires on.
- **Baselines against interventional truth**: on the first 24 held-out images (true masks,
  the model's class), each baseline's coalition values v(S) against the scenes drawn without
  the removed parts v*(S), over every coalition of an image's object parts (images with up to
  10 object parts), and the Spearman correlation of their Shapley values (>= 3 parts).
  :func:`skpartx.metrics.agreement_with_truth`. Besides the library's baselines:
  ``empty references`` (reference images = scenes of the user's images drawn without their
  object: what a user gets by photographing the scene without it) and ``background colour``
  (the mean colour of the background pixels of the labelled images).

Tables give per world and variant the figures, then the median and 10th percentile over worlds
(for errors, where smaller is better, the 90th percentile: the bad tail either way).
Trained models, transfers, attributions and truth agreements are cached under ``--cache``
(keyed by the settings and skpartx's version), so a sweep over rule settings costs seconds::

    python benchmarks/worlds.py --split test
    python benchmarks/worlds.py --split dev --rules binarize=relative min_precision=0.8
    python benchmarks/worlds.py --split dev --attributor baseline=mean --no-truth
    python benchmarks/worlds.py --split dev --rules-cv --no-truth
    python benchmarks/worlds.py --split dev --transfer method=knn --transfer-only
"""

import argparse
import ast
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import torch

import skpartx
from skpartx import (GlobalRuleExplainer, GlobalRuleExplainerCV, PartAttributor, PartImages, PartLabelTransfer,
                     predict_classes)
from skpartx.attribution import ReferenceImages
from skpartx.datasets import make_part_world, sample_world
from skpartx.metrics import agreement_with_truth, interventional_engine
from skpartx.models import SmallCNN, train_classifier

from common import markdown_table

# The protocol's worlds, stated once. Settings are chosen on DEV_WORLDS only; TEST_WORLDS are
# reported, never looked at while choosing.
DEV_WORLDS = tuple(range(100, 112))
TEST_WORLDS = tuple(range(200, 212))

N_TRAIN, EPOCHS = 2000, 10
VARIANTS = {"plain": 0.0, "conjunctive": 0.25}  # share of incomplete objects (no class) in training
USER_PER_CLASS, LABELLED_PER_CLASS, HELD_OUT_PER_CLASS = 40, 10, 30
TRUTH_IMAGES, TRUTH_MAX_PARTS, N_EMPTY_REFERENCES = 24, 10, 8
BASELINES = ("zero", "mean", "blur", "inpaint", "reference", "empty references", "background colour")
CACHE_VERSION = 1  # bump when what a cached file holds changes

# The rule settings --rule-grid compares (each beside the defaults), per attribution method.
RULE_GRID = {
    "shapley": [dict(binarize=b, threshold=t, min_precision=p, as_decision_list=d, closure=c)
                for b, t in (("fraction", 0.8), ("fraction", 0.9), ("fraction", 0.95), ("relative", 0.5),
                             ("relative", 0.3), ("relative", 0.1), ("positive", None))
                for p in (0.9, 0.8) for d in (False, True) for c in (0.05, 0.2)]
    + [dict(rule_model="scorecard", binarize=b, threshold=t, random_state=0)
       for b, t in (("fraction", 0.8), ("fraction", 0.95), ("relative", 0.5), ("relative", 0.1), ("positive", None))],
    "msx": [dict(min_precision=p, as_decision_list=d, max_rule_length=length)
            for p in (0.9, 0.8, 0.7) for d in (False, True) for length in (3, 4)]
    + [dict(rule_model="scorecard", random_state=0)],
}


def settings_key(**settings):
    """A short hash of what a cached result depends on."""
    return joblib.hash((CACHE_VERSION, skpartx.__version__, settings))[:12]


def write_whole(path, write):
    """``write(partial_path)``, then the file moved to ``path``: whole or not at all, so a run
    stopped while writing leaves no broken cache entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    write(partial)
    partial.replace(path)


def cached(path, compute):
    """``compute()``, stored in ``path`` (joblib) and read back on later runs."""
    if path.exists():
        return joblib.load(path)
    result = compute()
    write_whole(path, lambda partial: joblib.dump(result, partial))
    return result


def trained_model(path, n_classes, training_data, device):
    """A ``SmallCNN`` trained by the protocol's recipe on ``training_data()`` (images, target),
    stored in ``path`` and read back on later runs; the seconds spent training (0 when read)."""
    start = time.perf_counter()
    if not path.exists():
        images, target = training_data()
        model = train_classifier(images, target, epochs=EPOCHS, device=device, random_state=0)
        write_whole(path, lambda partial: torch.save(model.cpu().state_dict(), partial))
    seconds = time.perf_counter() - start
    model = SmallCNN(n_classes)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval(), seconds


class World:
    """One world's data for one model variant, and its expensive results, cached."""

    def __init__(self, seed, variant, cache, device):
        self.seed, self.variant, self.device = seed, variant, device
        self.world = sample_world(seed)
        self.n_classes = len(self.world.class_names)
        self.folder = Path(cache) / f"world{seed}"
        self.timings = {}
        self.user = make_part_world(USER_PER_CLASS * self.n_classes, world=self.world, random_state=2)
        self.held = make_part_world(HELD_OUT_PER_CLASS * self.n_classes, world=self.world, random_state=3)
        labelled = np.concatenate([np.flatnonzero(self.user.target == c)[:LABELLED_PER_CLASS]
                                   for c in range(self.n_classes)])
        masks = np.full_like(self.user.masks, -1)
        masks[labelled] = self.user.masks[labelled]
        self.labelled = labelled
        self.X_user = PartImages(self.user.images, masks, self.world.part_names)
        self.X_held = PartImages(self.held.images, np.full_like(self.held.masks, -1), self.world.part_names)
        self.X_held_true = PartImages(self.held.images, self.held.masks, self.world.part_names)
        self.model = self._model()
        self.y_user = predict_classes(self.model, self.user.images, device=device)
        self.y_held = predict_classes(self.model, self.held.images, device=device)

    def _timed(self, stage, compute):
        def run():
            start = time.perf_counter()
            result = compute()
            self.timings[stage] = time.perf_counter() - start
            return result
        return run

    def _model(self):
        key = settings_key(seed=self.seed, n=N_TRAIN, epochs=EPOCHS, incomplete=VARIANTS[self.variant])

        def training_data():
            train = make_part_world(N_TRAIN, world=self.world, incomplete=VARIANTS[self.variant], random_state=1)
            return train.images, train.target

        model, seconds = trained_model(self.folder / f"model-{self.variant}-{key}.pt", self.n_classes, training_data,
                                       self.device)
        if seconds > 1:  # trained here, not read from the cache
            self.timings["train"] = seconds
        return model

    def accuracy(self):
        """The model's accuracy on the held-out images (all complete objects)."""
        return float((self.y_held == self.held.target).mean())

    def transfer(self, params):
        """Filled masks of the user's and held-out images, and the held-out mIoU."""
        key = settings_key(seed=self.seed, variant=self.variant, params=params)

        def compute():
            transfer = PartLabelTransfer(backbone=self.model, device=self.device, random_state=0, **params)
            transfer.fit(self.X_user)
            return {"user": transfer.transform(self.X_user).masks, "held": transfer.transform(self.X_held).masks,
                    "miou": transfer.score(self.X_held_true)}

        return cached(self.folder / f"transfer-{self.variant}-{key}.joblib", self._timed("transfer", compute))

    def scores(self, transfer_params, params):
        """Part scores (a DataFrame) of the user's and held-out images, on the transferred masks."""
        key = settings_key(seed=self.seed, variant=self.variant, transfer=transfer_params, params=params)

        def compute():
            filled = self.transfer(transfer_params)
            attributor = PartAttributor(self.model, device=self.device, random_state=0, **params)
            with warnings.catch_warnings(record=True) as caught:  # kept with the scores, not printed per world
                warnings.simplefilter("always")
                attributor.fit(PartImages(self.user.images, filled["user"], self.world.part_names))
                attributor.set_output(transform="pandas")
                scores = {name: attributor.transform(PartImages(images, filled[name], self.world.part_names))
                          for name, images in (("user", self.user.images), ("held", self.held.images))}
            scores["warnings"] = sorted({str(w.message) for w in caught if w.category is not FutureWarning})
            return scores

        return cached(self.folder / f"scores-{self.variant}-{key}.joblib",
                      self._timed(f"attribution ({params.get('method', 'shapley')})", compute))

    def rules(self, transfer_params, attributor_params, rule_params, cv=False):
        """Held-out fidelity and coverage of rules learned on the user's images (by
        ``GlobalRuleExplainerCV`` with ``cv``)."""
        scores = self.scores(transfer_params, attributor_params)
        explainer = self.fit_rules(scores, rule_params, cv)
        return {"fidelity": explainer.score(scores["held"], self.y_held),
                "coverage": explainer.coverage(scores["held"], self.y_held),
                "rules": len(explainer.rules_)}

    def rule_grid(self, transfer_params, attributor_params, settings):
        """Held-out fidelity of rules learned with each of ``settings`` (None: by
        ``GlobalRuleExplainerCV`` with its default grid), on the cached scores."""
        scores = self.scores(transfer_params, attributor_params)
        return [self.fit_rules(scores, setting or {}, cv=setting is None).score(scores["held"], self.y_held)
                for setting in settings]

    def fit_rules(self, scores, rule_params, cv=False):
        """Rules learned on the user's images' ``scores`` (``GlobalRuleExplainerCV`` with ``cv``)."""
        with warnings.catch_warnings():  # the defaults' announcement, once per world otherwise
            warnings.filterwarnings("ignore", "GlobalRuleExplainer's default", FutureWarning)
            learner = GlobalRuleExplainerCV if cv else GlobalRuleExplainer
            return learner(**rule_params).fit(scores["user"], self.y_user)

    def baseline(self, name):
        """The attributor baseline ``name`` names, for this world's user data."""
        if name == "empty references":
            scenes = self.user.scenes[:N_EMPTY_REFERENCES]
            keep = np.zeros(len(self.world.part_names), dtype=bool)
            keep[0] = True
            return ReferenceImages(self.world.render(scenes, keep)[0])
        if name == "background colour":
            images, masks = self.user.images[self.labelled], self.user.masks[self.labelled]
            background = (masks == 0)[:, None]
            return (images * background).sum(axis=(0, 2, 3)) / background.sum(axis=(0, 2, 3))
        return name

    def truth_agreement(self, name):
        """Per held-out image: value error and Spearman of baseline ``name`` against the truth."""
        key = settings_key(seed=self.seed, variant=self.variant, baseline=name, n=TRUTH_IMAGES,
                           max_parts=TRUTH_MAX_PARTS)

        def compute():
            idx = np.arange(TRUTH_IMAGES)
            X = self.X_held_true[idx]
            targets = self.y_held[idx]
            if not hasattr(self, "_truth"):  # one truth engine for every baseline: its drawings are memoised
                self._truth = interventional_engine(self.model, self.world, self.held.scenes[idx], targets,
                                                    device=self.device)
            attributor = PartAttributor(self.model, baseline=self.baseline(name), device=self.device, random_state=0)
            engine = attributor.fit(self.X_user).coalition_engine(X, targets)
            return agreement_with_truth(engine, self._truth, max_parts=TRUTH_MAX_PARTS)

        return cached(self.folder / f"truth-{self.variant}-{key}.joblib", self._timed(f"truth ({name})", compute))


def parse_params(pairs):
    """``["key=value", ...]`` as a dict, values read as Python literals where they are ones."""
    params = {}
    for pair in pairs or ():
        key, _, value = pair.partition("=")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def summary(values, worse="low"):
    """``median (bad tail)``: 10th percentile where low is worse, 90th where high is."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        return "-"
    tail = np.percentile(values, 10 if worse == "low" else 90)
    return f"{np.median(values):.3f} ({tail:.3f})"


def print_rule_grid(grid, rule_params, args):
    """Per method, every setting's held-out fidelity over worlds, the most robust first
    (10th percentile over worlds and variants, then the median)."""
    for method in args.methods:
        settings = RULE_GRID[method]
        names = [f"given: {rule_params or 'defaults'}", *(
            " ".join(f"{k}={v}" for k, v in setting.items()) for setting in settings), "GlobalRuleExplainerCV()"]
        part = grid[grid.method == method]
        lines = []
        for k, name in enumerate(names):
            fidelity = part[part.setting == k]
            line = [name, summary(fidelity.fidelity)]
            line += [summary(fidelity.loc[fidelity.variant == v, "fidelity"]) for v in args.variants]
            tail, middle = np.percentile(fidelity.fidelity, 10), np.median(fidelity.fidelity)
            lines.append(((-tail, -middle, k), line))
        print(f"\n## {method} rules: every setting of RULE_GRID, over the {args.split} worlds and variants: "
              "median (10th percentile), the most robust first\n")
        print("\n".join(markdown_table(["setting", "all", *args.variants], [line for _, line in sorted(lines)])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test"), default="test",
                        help="dev: worlds to choose settings on; test: worlds to report on")
    parser.add_argument("--worlds", type=int, help="only the first N worlds of the split (a quick look)")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--methods", nargs="+", choices=tuple(RULE_GRID), default=list(RULE_GRID),
                        help="the attribution methods whose rules are learned (e.g. only msx, to sweep tau)")
    parser.add_argument("--transfer", nargs="*", metavar="KEY=VALUE", help="PartLabelTransfer parameters")
    parser.add_argument("--attributor", nargs="*", metavar="KEY=VALUE",
                        help="PartAttributor parameters of the Shapley and MSX pipelines")
    parser.add_argument("--rules", nargs="*", metavar="KEY=VALUE", help="GlobalRuleExplainer parameters")
    parser.add_argument("--rules-cv", action="store_true",
                        help="rules by GlobalRuleExplainerCV (--rules: its parameters) instead")
    parser.add_argument("--no-truth", action="store_true", help="skip the baselines against interventional truth")
    parser.add_argument("--rule-grid", action="store_true",
                        help="held-out fidelity of every rule setting of RULE_GRID (and of the defaults and the "
                             "cross-validated explainer) on the attributions, median and 10th percentile over worlds")
    parser.add_argument("--transfer-only", action="store_true",
                        help="only the transfer's mIoU (a sweep over transfer settings without attributing)")
    parser.add_argument("--cache", default=str(Path(__file__).parent / ".cache" / "worlds"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    seeds = (DEV_WORLDS if args.split == "dev" else TEST_WORLDS)[: args.worlds]
    transfer_params, attributor_params, rule_params = (
        parse_params(args.transfer), parse_params(args.attributor), parse_params(args.rules))
    print(f"{args.split} worlds {seeds[0]}-{seeds[-1]}, device {args.device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; transfer {transfer_params or 'defaults'}, attributor "
          f"{attributor_params or 'defaults'}, rules{' (cross-validated)' if args.rules_cv else ''} "
          f"{rule_params or 'defaults'}", flush=True)
    rows, truth_rows, grid_rows, costs = [], [], [], []
    start = time.perf_counter()
    for seed in seeds:
        for variant in args.variants:
            w = World(seed, variant, args.cache, args.device)
            row = {"world": seed, "variant": variant, "classes": w.n_classes,
                   "parts": len(w.world.part_names) - 1, "accuracy": w.accuracy(),
                   "mIoU": w.transfer(transfer_params)["miou"]}
            for method in () if args.transfer_only else args.methods:
                figures = w.rules(transfer_params, {**attributor_params, "method": method}, rule_params, args.rules_cv)
                row.update({f"{method} {k}": v for k, v in figures.items()})
            rows.append(row)
            if args.rule_grid:
                for method in args.methods:
                    grid = RULE_GRID[method]
                    settings = [rule_params, *grid, None]
                    fidelity = w.rule_grid(transfer_params, {**attributor_params, "method": method}, settings)
                    grid_rows += [{"variant": variant, "method": method, "setting": k, "fidelity": f}
                                  for k, f in enumerate(fidelity)]
            if not (args.no_truth or args.transfer_only):
                for name in BASELINES:
                    agreement = w.truth_agreement(name)
                    truth_rows.append({"world": seed, "variant": variant, "baseline": name,
                                       "value error": np.nanmean(agreement["value_error"]),
                                       "spearman": np.nanmean(agreement["spearman"]),
                                       "images": int(np.isfinite(agreement["value_error"]).sum())})
            costs.append({"world": seed, "variant": variant, **w.timings})
            print(f"world {seed} {variant}: " + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items() if k not in ("world", "variant"))
                + f"  [{', '.join(f'{k} {v:.0f} s' for k, v in w.timings.items())}]", flush=True)
    frame = pd.DataFrame(rows)
    metrics = ["accuracy", "mIoU"] + ([] if args.transfer_only else [
        f"{method} {figure}" for method in args.methods for figure in ("fidelity", "coverage")])
    print("\n## Pipeline on each world (held-out images)\n")
    print("\n".join(markdown_table(list(frame.columns), [
        [f"{v:.3f}" if isinstance(v, float) else str(v) for v in r] for r in frame.itertuples(index=False)])))
    print(f"\n## Over the {args.split} worlds: median (10th percentile)\n")
    print("\n".join(markdown_table(["variant", *metrics], [
        [variant, *(summary(frame.loc[frame.variant == variant, m]) for m in metrics)] for variant in args.variants])))
    if grid_rows:
        print_rule_grid(pd.DataFrame(grid_rows), rule_params, args)
    if truth_rows:
        truth = pd.DataFrame(truth_rows)
        print(f"\n## Baselines against interventional truth, over the {args.split} worlds: median (bad tail)\n")
        print("Per world: mean over images of |v(S) - v*(S)| (mean over coalitions) and of the Spearman "
              "correlation of Shapley values; over worlds the median and the 90th percentile of the error, "
              "the 10th of Spearman.\n")
        header = ["baseline"] + [f"{v} {m}" for v in args.variants for m in ("value error", "Spearman")]
        table = []
        for name in BASELINES:
            line = [name]
            for variant in args.variants:
                part = truth[(truth.baseline == name) & (truth.variant == variant)]
                line += [summary(part["value error"], worse="high"), summary(part["spearman"])]
            table.append(line)
        print("\n".join(markdown_table(header, table)))
        compared = truth.groupby("variant")["images"].mean()
        print(f"\nImages compared per world: the first {TRUTH_IMAGES} held-out ones with <= {TRUTH_MAX_PARTS} object "
              "parts, on average " + ", ".join(f"{v} {n:.1f}" for v, n in compared.items()) + ".")
    cost = pd.DataFrame(costs).drop(columns=["world", "variant"])
    print(f"\nWall time {time.perf_counter() - start:.0f} s; seconds per world and variant spent computing "
          f"(not read from the cache): " + ", ".join(f"{k} {v:.0f}" for k, v in cost.mean().items()))


if __name__ == "__main__":
    main()
