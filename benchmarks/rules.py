"""Global rules on both synthetic families: every rule model, by local method and baseline.

Usage::

    python benchmarks/rules.py                      # the full table (about two hours on 2 cores)
    python benchmarks/rules.py --training conjunctive --rule-models set_cover
    python benchmarks/rules.py --seeds 0 --baselines mean --rule-models set_cover figs
    python benchmarks/rules.py --methods shapley --rule-models set_cover --closure 0   # unclosed picks
    python benchmarks/rules.py --training conjunctive --removals --rule-models set_cover   # parts removed?

For each data family (``make_part_shapes(family=...)``: "disjoint", each class one conjunction
of its own two parts; "shared", classes sharing parts, with disjunctions) and each model seed:
the demo's data (64 px, 3,000 training and 400 held-out images), a SmallCNN trained with the
demo's settings and that seed, parts transferred (probe) from 10 labelled images per class,
local explanations of 500 training images (including the labelled ones) and of the held-out
images, rules learnt from the training explanations, all figures on the held-out images:

- fidelity, coverage: ``score`` and ``coverage`` (an image counts as covered only when the rule
  that decides it is of its class);
- rules, conditions: number of rules and of conditions in them;
- planted-only: share of rules whose required parts lie within their class's planted DNF (the
  body and background, drawn on every image, allowed);
- planted: classes with a rule whose required parts, besides body and background, are exactly
  one of the class's planted conjunctions;
- subsumed: set-cover rules that another rule of their class, at least as general on the
  training images and at least as precise, subsumes (0 expected);
- json: share of held-out images on which ``apply_rules(rules.json)`` equals ``predict``;
- learner: for imodels learners, share of held-out images on which the printed rules decide
  as the fitted learner's own ``predict`` does (1.00 expected: the rules are the learner);
- empty: share of held-out images whose explanation is empty (for MSXs: the baseline alone
  keeps ≥ tau of the model's confidence).

Two trainings of the models (``--training``):

- plain: the demo's classifier, trained on the classes' images only. Nothing in such data tells
  a model that one part of a class's conjunction is not enough, and these models do decide
  most disjoint-family classes from one part alone;
- conjunctive: the same network, seed and images plus a third as many images of none of the
  classes (``make_part_shapes(incomplete=...)``: one part of a planted conjunction and
  distractors), trained towards equal probabilities on those: models that need whole
  conjunctions, against which the planted conjunctions can be checked.

"partial p" is each model's mean top probability on 200 held-out images of none of the classes:
near 1 when one part decides a class, near 1/4 when a model needs whole conjunctions.

The closing table gives, per training × family × method × baseline × rule model, the minimum over
seeds.
"""

import argparse
import itertools
import json
import time
import warnings

import joblib
import numpy as np
import pandas as pd
import torch

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.rules._imodels import IMODELS_LEARNERS
from skpartx.datasets import make_part_shapes
from skpartx.demo import DEMO_SETTINGS, default_cache_dir, trained_demo_model
from skpartx.models import predict_logits, train_classifier
from skpartx.report import baseline_summary
from skpartx.rules import apply_rules

# The benchmark measures the default binarisation; its change-of-default notice would repeat.
warnings.filterwarnings("ignore", message="GlobalRuleExplainer's defaults for part scores", category=FutureWarning)
EVERYWHERE = {"body", "background"}
RULE_MODELS = ("set_cover", "set_cover (decision list)") + IMODELS_LEARNERS


def none_of_the_classes(family, n, random_state):
    """``n`` images of none of the classes: one part of a planted conjunction, and distractors."""
    data = make_part_shapes(2 * n + 100, image_size=DEMO_SETTINGS["image_size"], family=family, incomplete=0.5,
                            random_state=random_state)
    return data.images[data.target == -1][:n]


def conjunctive_classifier(images, target, family, seed):
    """The demo's network and settings, trained also on a third as many images of none of the classes."""
    s = DEMO_SETTINGS
    partial = none_of_the_classes(family, len(images) // 3, random_state=1)
    return train_classifier(np.concatenate([images, partial]), np.concatenate([target, np.full(len(partial), -1)]),
                            epochs=s["epochs"], width=s["width"], learning_rate=s["learning_rate"], random_state=seed)


def explained_data(family, seed, training="plain", n_explain=500):
    """Training and held-out explanations' inputs of one family, model seed and training."""
    s = {**DEMO_SETTINGS, "random_state": seed}
    n_train = s["n_train"]
    data = make_part_shapes(n_train + s["n_test"], image_size=s["image_size"], family=family, random_state=0)
    if training == "plain":
        model, _ = trained_demo_model(data.images[:n_train], data.target[:n_train], {**s, "family": family},
                                      default_cache_dir())
    else:
        memory = joblib.Memory(default_cache_dir(), verbose=0)
        model = memory.cache(conjunctive_classifier)(data.images[:n_train], data.target[:n_train], family, seed)
    decisions = predict_classes(model, data.images)
    rng = np.random.RandomState(0)
    labelled = np.concatenate([rng.permutation(np.flatnonzero(data.target[:n_train] == c))[:10] for c in data.dnf])
    others = np.setdiff1d(np.random.RandomState(1).permutation(n_train), labelled)[: n_explain - len(labelled)]
    explain = np.concatenate([labelled, others])
    test = np.arange(n_train, n_train + s["n_test"])
    masks = np.full_like(data.masks, -1)
    masks[labelled] = data.masks[labelled]
    X = PartImages(data.images, masks, data.part_names)
    # Cached on disk (keyed by weights, parameters and images): reruns redo only the rules.
    transfer = PartLabelTransfer(backbone=model, random_state=0, memory=default_cache_dir())
    X_train, X_test = transfer.fit_transform(X[explain]), transfer.transform(X[test])
    accuracy = float((decisions[test] == data.target[test]).mean())
    logits = predict_logits(model, none_of_the_classes(family, 200, random_state=2))
    partial_p = float(torch.softmax(torch.from_numpy(logits), dim=1).max(dim=1).values.mean())
    return data, model, decisions[explain], decisions[test], X_train, X_test, accuracy, partial_p


def planted_figures(explainer, dnf):
    """(planted-only share of rules, classes with a planted conjunction as a rule)."""
    pure, recovered = [], set()
    for rule in explainer.rules_:
        parts = set(explainer.rule_parts(rule)) - EVERYWHERE
        allowed = set().union(*map(set, dnf[rule.target]))
        pure.append(parts <= allowed)
        if any(parts == set(conjunction) for conjunction in dnf[rule.target]):
            recovered.add(rule.target)
    return (float(np.mean(pure)) if pure else 0.0), len(recovered)


def subsumed_rules(explainer, F_train):
    """Rules that another rule of the same class fires on a superset of (training) and is as precise."""
    symbols = explainer.symbols(F_train)
    fired = [np.all([symbols[f].to_numpy() == t for f, _, t in r.conditions], axis=0) for r in explainer.rules_]
    count = 0
    for b, rule_b in enumerate(explainer.rules_):
        count += any(
            a != b and rule_a.target == rule_b.target and not (fired[b] & ~fired[a]).any()
            and rule_a.precision >= rule_b.precision
            for a, rule_a in enumerate(explainer.rules_)
        )
    return count


def empty_share(explainer, F):
    """Held-out share of images whose explanation is empty."""
    space = explainer.symbol_space_
    return float(np.mean([sets == [frozenset()] for sets in space.explanations(np.asarray(F, dtype=float))]))


def evaluate(rule_model, F_train, y_train, F_test, y_test, dnf, target_names, closure=None):
    kwargs = dict(as_decision_list=True) if "decision list" in rule_model else {}
    if closure is not None:
        kwargs["closure"] = closure
    explainer = GlobalRuleExplainer(rule_model.split(" ")[0], target_names=target_names, random_state=0, **kwargs)
    start = time.perf_counter()
    explainer.fit(F_train, y_train)
    seconds = time.perf_counter() - start
    pure, recovered = planted_figures(explainer, dnf)
    spec = json.loads(explainer.report("json"))
    return {
        "fidelity": explainer.score(F_test, y_test),
        "coverage": explainer.coverage(F_test, y_test),
        "rules": len(explainer.rules_),
        "conditions": explainer.complexity_["total_length"],
        "planted-only": pure,
        "planted": recovered,
        "subsumed": subsumed_rules(explainer, F_train) if rule_model == "set_cover" else np.nan,
        "json": float(np.mean(apply_rules(spec, F_test) == explainer.predict(F_test))),
        "learner": np.nan if explainer.learner_ is None else float(np.mean(
            explainer.learner_.predict(explainer.symbols(F_test).to_numpy().astype(float)) == explainer.predict(F_test)
        )),
        "empty": empty_share(explainer, F_test),
        "fit s": seconds,
    }


def removal_figures(data, model, baselines, n_images=200):
    """Mean probability of each class on its held-out images, whole and with one part of its
    planted conjunctions removed (over the images that show it), by baseline: does a baseline
    remove the part for the model?"""
    s = DEMO_SETTINGS
    test = np.arange(s["n_train"], s["n_train"] + s["n_test"])
    X = PartImages(data.images[test], data.masks[test], data.part_names)
    attributors = {baseline: PartAttributor(model, method="occlusion", baseline=baseline, random_state=0).fit(X)
                   for baseline in baselines}
    lines = []
    for c, terms in data.dnf.items():
        shown = np.flatnonzero(data.target[test] == c)[:n_images]
        present = data.present[test[shown]]
        parts = sorted({part for term in terms for part in term})
        cells = {}
        for baseline, attributor in attributors.items():
            explanations = attributor.explain(X[shown], target=np.full(len(shown), c))
            full = np.mean([e.full_score for e in explanations])
            cells[baseline] = [full] + [  # over the images that show the part
                np.mean([e.full_score - e.scores[p] for e, shows in zip(explanations, present[:, data.part_names.index(p)])
                         if shows]) for p in parts]
        header = ["whole"] + [f"-{p}" for p in parts]
        lines.append(f"#   {data.target_names[c]} ({len(shown)} images), probability: " + "; ".join(
            f"{b}: " + ", ".join(f"{h} {v:.2f}" for h, v in zip(header, values)) for b, values in cells.items()))
    return lines


def empty_scene_figures(data, model, n_images=200):
    """Mean class probabilities on held-out scenes with their object removed (every part but
    the background filled in from it, as ``baseline="inpaint"`` shows them): what the model
    decides on no object at all."""
    s = DEMO_SETTINGS
    test = np.arange(s["n_train"], s["n_train"] + n_images)
    X = PartImages(data.images[test], data.masks[test], data.part_names)
    engine = PartAttributor(model, method="occlusion", baseline="inpaint").fit(X).coalition_engine(X)
    background_only = np.zeros((len(X), len(data.part_names)), dtype=bool)
    background_only[:, 0] = True
    scenes = engine.composite_images(np.arange(len(X)), background_only)[:, 0]
    probabilities = torch.softmax(torch.from_numpy(predict_logits(model, scenes)), dim=1).numpy().mean(axis=0)
    return "#   scenes without their object, mean probability: " + ", ".join(
        f"{name} {p:.2f}" for name, p in zip(data.target_names, probabilities))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["disjoint", "shared"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--training", nargs="+", choices=["plain", "conjunctive"], default=["plain", "conjunctive"])
    parser.add_argument("--methods", nargs="+", default=["shapley", "msx"])
    parser.add_argument("--baselines", nargs="+", default=["zero", "mean", "blur"])
    parser.add_argument("--rule-models", nargs="+", default=list(RULE_MODELS))
    parser.add_argument("--imodels-baselines", nargs="+", default=None,
                        help="baselines on which the imodels learners run (default: all of --baselines)")
    parser.add_argument("--closure", type=float, default=None,
                        help="GlobalRuleExplainer's closure (default: its own default); 0 for the most general picks")
    parser.add_argument("--csv", default=None, help="also write every row to this CSV file")
    parser.add_argument("--removals", action="store_true",
                        help="also print each class's probability with one planted part removed, by baseline")
    args = parser.parse_args(argv)
    imodels_baselines = args.imodels_baselines or args.baselines

    rows = []
    header = (f"{'training':11s} {'family':8s} {'seed':>4s} {'method':7s} {'baseline':8s} {'rule model':26s} "
              f"{'fidelity':>8s} {'coverage':>8s} {'rules':>5s} {'conds':>5s} {'pure':>5s} {'plant':>5s} "
              f"{'subs':>4s} {'json':>5s} {'lrn':>5s} {'empty':>5s}")
    print(header)
    for training, family, seed in itertools.product(args.training, args.families, args.seeds):
        data, model, y_train, y_test, X_train, X_test, accuracy, partial_p = explained_data(family, seed, training)
        dnf = {c: tuple(map(tuple, terms)) for c, terms in data.dnf.items()}
        print(f"# {training}, {family}, seed {seed}: model accuracy {accuracy:.3f} (held-out), "
              f"mean top probability on images of none of the classes {partial_p:.2f}")
        if args.removals:
            print("\n".join(removal_figures(data, model, args.baselines) + [empty_scene_figures(data, model)]), flush=True)
        for baseline in args.baselines:
            for method in args.methods:
                # Seeded where it draws reference images (the other baselines' cached results predate the seed).
                seeded = {"random_state": 0} if baseline == "reference" else {}
                attributor = PartAttributor(model, method=method, baseline=baseline, memory=default_cache_dir(), **seeded)
                attributor.fit(X_train)
                attributor.set_output(transform="pandas")
                F_train, F_test = attributor.transform(X_train), attributor.transform(X_test)
                if method == args.methods[0]:
                    lines, _ = baseline_summary(attributor.baseline_report(X_test), data.target_names)
                    print(f"#   {baseline} baseline, held-out: " + "; ".join(lines))
                for rule_model in args.rule_models:
                    if rule_model in IMODELS_LEARNERS and baseline not in imodels_baselines:
                        continue
                    row = {"training": training, "family": family, "seed": seed, "method": method, "baseline": baseline,
                           "rule model": rule_model, "accuracy": accuracy, "partial p": partial_p}
                    row.update(evaluate(rule_model, F_train, y_train, F_test, y_test, dnf, data.target_names,
                                        args.closure))
                    rows.append(row)
                    print(
                        f"{training:11s} {family:8s} {seed:4d} {method:7s} {baseline:8s} {rule_model:26s} "
                        f"{row['fidelity']:8.3f} "
                        f"{row['coverage']:8.3f} {row['rules']:5d} {row['conditions']:5d} "
                        f"{row['planted-only']:5.2f} {row['planted']:3d}/{len(dnf)} "
                        f"{row['subsumed']:4.0f} {row['json']:5.2f} {row['learner']:5.2f} {row['empty']:5.2f}",
                        flush=True,
                    )
    frame = pd.DataFrame(rows)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    keys = ["training", "family", "method", "baseline", "rule model"]
    worst = frame.groupby(keys, sort=False).agg(
        fidelity=("fidelity", "min"), coverage=("coverage", "min"), rules=("rules", "max"),
        conditions=("conditions", "max"), planted_only=("planted-only", "min"), planted=("planted", "min"),
        subsumed=("subsumed", "max"), json=("json", "min"), learner=("learner", "min"), empty=("empty", "max"),
        partial_p=("partial p", "min"),
    ).reset_index()
    print(f"\nMinimum over seeds {args.seeds} (maximum for rules, conditions, subsumed, empty):\n")
    print("| " + " | ".join(worst.columns) + " |")
    print("|" + "---|" * len(worst.columns))
    for values in worst.itertuples(index=False):
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in values) + " |")


if __name__ == "__main__":
    main()
