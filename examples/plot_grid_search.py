"""
Grid search of explanation hyperparameters
==========================================

How many rules per class, and how long may a rule be? Short rule sets are easier to
read but reproduce fewer of the model's decisions. Because skpartx's three steps are
scikit-learn estimators, :class:`~sklearn.model_selection.GridSearchCV` can choose these
settings by cross-validation, scored by the rules' fidelity to the model minus a price
per rule condition (:func:`skpartx.metrics.make_rule_scorer`).
"""

import matplotlib

matplotlib.use("Agg")

import shutil
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.metrics import make_rule_scorer
from skpartx.models import train_classifier

# %%
# A classifier to explain: a small CNN trained on 1200 synthetic 32 × 32 objects made
# of parts. The next 400 images are kept aside, for the held-out check at the end.
data = make_part_shapes(1600, image_size=32, random_state=0)
model = train_classifier(data.images[:1200], data.target[:1200], epochs=8, random_state=0)

# %%
# We "label" the parts of 10 images per class; every other image's mask is unlabelled
# (-1). The pipeline explains the model's own decisions on 240 images, the labelled
# ones among them, in shuffled order: every cross-validation fold must keep labelled
# images to learn the part transfer from.
rng = np.random.RandomState(0)
labelled = np.concatenate([rng.permutation(np.flatnonzero(data.target[:1200] == c))[:10] for c in data.rules])
masks = np.full_like(data.masks, -1)
masks[labelled] = data.masks[labelled]
X = PartImages(data.images, masks, data.part_names)
explained = rng.permutation(np.concatenate([labelled, np.setdiff1d(rng.permutation(1200), labelled)[:200]]))
X_explained = X[explained]
y_explained = predict_classes(model, X_explained)

# %%
# The pipeline, with a cache
# --------------------------
# Each cross-validation fold fits the whole pipeline once per grid point: part transfer,
# attribution, then the rules. Only the last step depends on the parameters searched
# here, and it takes milliseconds; transfer and attribution run the network thousands
# of times. Both image steps take a ``memory`` folder in which they cache their results,
# keyed by *content*: the network's weights, the step's parameters and the images. The
# second grid point of a fold finds the fold's transferred masks and part scores in the
# cache, so the transfer and the attribution run once per fold (and once more for the
# final refit), however large the rule grid. (scikit-learn's own
# ``Pipeline(memory=...)`` cannot serve here: it hashes steps by pickling them, and a
# pickled torch tensor carries its memory address, so two clones of a step never hash
# alike.)
#
# Occlusion — the drop in the model's probability when one part is greyed out — is the
# cheapest attribution, which keeps this example fast; the search works the same with
# ``method="shapley"``.
cache = tempfile.mkdtemp(prefix="skpartx-grid-")
pipe = make_pipeline(
    PartLabelTransfer(backbone=model, random_state=0, memory=cache),
    PartAttributor(model=model, method="occlusion", baseline="mean", memory=cache),
    GlobalRuleExplainer("set_cover", target_names=data.target_names, binarize="fraction", candidates="subsets"),
).set_output(transform="pandas")

# %%
# The search
# ----------
# Two scorers: plain fidelity (the share of images whose model decision the rules
# reproduce), and fidelity minus 0.005 per rule condition, which the refit uses to pick
# the best setting. A rule set of 4 two-part rules thus pays 0.04; 20 rules of length 3
# pay 0.3.
scoring = {
    "fidelity": make_rule_scorer("fidelity"),
    "penalised": make_rule_scorer("fidelity", complexity_penalty=0.005),
}
grid = {
    "globalruleexplainer__max_rules": [1, 2, 3, 5],
    "globalruleexplainer__max_rule_length": [1, 2, 3],
}
search = GridSearchCV(pipe, grid, scoring=scoring, refit="penalised", cv=3)
search.fit(X_explained, y_explained)

results = pd.DataFrame(search.cv_results_)
table = results[
    [
        "param_globalruleexplainer__max_rules",
        "param_globalruleexplainer__max_rule_length",
        "mean_test_fidelity",
        "mean_test_penalised",
        "rank_test_penalised",
    ]
].rename(columns=lambda name: name.replace("param_globalruleexplainer__", "").replace("mean_test_", ""))
print(table.sort_values("rank_test_penalised", kind="stable").to_string(index=False, float_format="{:.3f}".format))
print("best parameters:", search.best_params_)
print(f"best fidelity-minus-complexity score: {search.best_score_:.3f}")

# %%
# The rules of the best setting, refitted on all 240 images. Rules are written in
# *explanation symbols*: "wing" is on for an image when the wing matters for the model's
# decision on it, not merely when a wing is drawn. Wings also appear in other classes'
# images, but there the model does not rely on them, so a single symbol is already a
# precise rule, and the complexity price prefers a few one-part rules per class (one for
# each of the class's planted parts) over longer conjunctions. A single rule per class
# is too few: it leaves the images explained by the class's other part to the default
# class. Longer rules do not help either: set cover then picks whole local
# explanations ("head ∧ wing"), each of which fits fewer images, so more rules are
# needed for the same fidelity.
best = search.best_estimator_
print(best[-1].report())
print("planted:", {data.target_names[c]: " ∧ ".join(p) for c, p in data.rules.items()})

# %%
# How faithful are those rules on images that took no part in the search?
held_out = X[1200:1360]
print(f"fidelity on held-out images: {best.score(held_out, predict_classes(model, held_out)):.3f}")

# %%
# The cross-validated penalised score against the number of rules per class, one line
# per rule length; bars span one standard deviation across the folds.
fig, ax = plt.subplots(figsize=(5.5, 3.8))
for length, rows in results.groupby("param_globalruleexplainer__max_rule_length"):
    ax.errorbar(
        rows["param_globalruleexplainer__max_rules"].astype(int),
        rows["mean_test_penalised"],
        yerr=rows["std_test_penalised"],
        marker="o",
        capsize=3,
        label=f"max_rule_length={length}",
    )
ax.set_xticks(grid["globalruleexplainer__max_rules"])
ax.set_xlabel("max_rules (per class)")
ax.set_ylabel("fidelity − 0.005 × conditions")
ax.set_title("Cross-validated rule score")
ax.legend()
fig.tight_layout()

shutil.rmtree(cache, ignore_errors=True)
