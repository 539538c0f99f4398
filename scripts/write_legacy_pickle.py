"""Write ``tests/fixtures/flat-layout-0.2.dev0.joblib``: fitted estimators as an earlier skpartx pickled them.

The committed file was written by skpartx 0.2.0.dev0 at commit 89f0a50, whose private modules
all stood at the package's top level (``skpartx._matchers``, ``skpartx._symbols``, ...); a
pickle names each class by its module, so ``tests/test_layout.py`` checks that today's
:func:`skpartx.load` still reads those names. It holds every skpartx class a fitted estimator
keeps: the three transfer matchers, an attributor with reference images, rules from set cover
and from an imodels learner, a pipeline and a counterfactual explainer, with what each
computed. Run with today's layout, this script writes today's module paths: keep the
committed file as it is, and write a new one beside it when the layout changes again.

    python scripts/write_legacy_pickle.py tests/fixtures/flat-layout-0.2.dev0.joblib
"""

import sys

import joblib
import numpy as np
import torch
from sklearn.pipeline import make_pipeline

from skpartx import GlobalRuleExplainer, PartImages, PartAttributor, PartCounterfactualExplainer, PartLabelTransfer
from skpartx.datasets import make_part_shapes
from skpartx.models import SmallCNN


def main(path):
    torch.manual_seed(0)
    data = make_part_shapes(n_samples=24, image_size=24, random_state=0)
    X, y = PartImages(data.images, data.masks, data.part_names), data.target
    model = SmallCNN(n_classes=len(data.target_names), width=4).eval()
    first = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)]  # one labelled image per class
    transfers = {method: PartLabelTransfer(model, method=method, random_state=0, verbose=0).fit(X[first])
                 for method in ("probe", "knn", "hpf")}
    attributor = PartAttributor(model, method="shapley", baseline="reference", n_references=2, random_state=0,
                                verbose=0).fit(X[:8])
    scores = attributor.transform(X)
    decisions = y  # the untrained model calls every image one class
    settings = dict(binarize="fraction", candidates="subsets")
    rules = GlobalRuleExplainer(**settings).fit(scores, decisions)
    figs = GlobalRuleExplainer(rule_model="figs", random_state=0, **settings).fit(scores, decisions)
    counterfactual = PartCounterfactualExplainer(model, random_state=0, verbose=0).fit(X[:6], y[:6])
    pipeline = make_pipeline(PartAttributor(model, baseline="zero", verbose=0), GlobalRuleExplainer(**settings))
    pipeline.fit(X, decisions)
    expected = {  # what the loaded estimators must reproduce
        "masks": {method: transfer.transform(X).masks for method, transfer in transfers.items()},
        "scores": np.asarray(scores),
        "rules": rules.predict(scores),
        "figs": figs.predict(scores),
        "pipeline": pipeline.predict(X),
    }
    joblib.dump({"transfers": transfers, "attributor": attributor, "rules": rules, "figs": figs,
                 "counterfactual": counterfactual, "pipeline": pipeline, "expected": expected,
                 "data": dict(n_samples=24, image_size=24, random_state=0)}, path, compress=3)


if __name__ == "__main__":
    main(sys.argv[1])
