"""Global rules: held-out fidelity, coverage and size of every rule model on the demo's setup.

Usage: ``python benchmarks/rules.py [--baseline mean]``

Transfers parts from 10 labelled images per class, explains 500 training images with exact
part Shapley values, learns rules with each rule model, and scores them on 400 held-out
images. "not defining" counts the rules that require a part outside their class's planted
rule (negated conditions are not counted).
"""

import argparse
import time

import numpy as np

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx._imodels import IMODELS_LEARNERS
from skpartx.datasets import make_part_shapes
from skpartx.demo import DEMO_SETTINGS, default_cache_dir, trained_demo_model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="mean")
    parser.add_argument("--method", default="shapley")
    args = parser.parse_args(argv)

    s = DEMO_SETTINGS
    n_train = s["n_train"]
    data = make_part_shapes(
        n_train + s["n_test"], image_size=s["image_size"], n_classes=s["n_classes"], random_state=s["random_state"]
    )
    model, _ = trained_demo_model(data.images[:n_train], data.target[:n_train], s, default_cache_dir())
    decisions = predict_classes(model, data.images)
    rng = np.random.RandomState(0)
    labelled = np.concatenate([rng.permutation(np.flatnonzero(data.target[:n_train] == c))[:10] for c in data.rules])
    explain = np.concatenate([labelled, np.setdiff1d(np.random.RandomState(1).permutation(n_train), labelled)[:460]])
    test = np.arange(n_train, n_train + s["n_test"])
    masks = np.full_like(data.masks, -1)
    masks[labelled] = data.masks[labelled]
    X = PartImages(data.images, masks, data.part_names)

    transfer = PartLabelTransfer(backbone=model, random_state=0)
    X_train, X_test = transfer.fit_transform(X[explain]), transfer.transform(X[test])
    attributor = PartAttributor(model, method=args.method, baseline=args.baseline).fit(X_train)
    attributor.set_output(transform="pandas")
    F_train, F_test = attributor.transform(X_train), attributor.transform(X_test)
    print(f"{args.method} scores, {args.baseline} baseline; {len(explain)} explained, {len(test)} held-out images")
    print(f"{'rule model':26s} {'fidelity':>8s} {'coverage':>8s} {'rules':>5s} {'length':>6s} {'fit s':>6s} not defining")
    for rule_model in ("set_cover", "set_cover (decision list)") + IMODELS_LEARNERS:
        kwargs = dict(as_decision_list=True) if "decision list" in rule_model else {}
        explainer = GlobalRuleExplainer(rule_model.split(" ")[0], target_names=data.target_names, random_state=0, **kwargs)
        start = time.perf_counter()
        explainer.fit(F_train, decisions[explain])
        seconds = time.perf_counter() - start
        impure = [r for r in explainer.rules_ if not set(r.positive_features()) <= set(data.rules[r.target])]
        print(
            f"{rule_model:26s} {explainer.score(F_test, decisions[test]):8.3f} "
            f"{explainer.coverage(F_test, decisions[test]):8.3f} {len(explainer.rules_):5d} "
            f"{explainer.complexity_['total_length']:6d} {seconds:6.1f} {len(impure)}"
            + (f"  e.g. {str(impure[0]).split(' (')[0]}" if impure else "")
        )


if __name__ == "__main__":
    main()
