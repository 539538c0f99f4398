"""
Comparing attribution methods
=============================

:class:`~skpartx.PartAttributor` scores each part of an image for the model's decision
in several ways: Shapley values, occlusion, minimal sufficient explanations (MSX) and
property gradients. Which ranking of the parts is the most faithful to the model? Part
deletion and insertion curves (:mod:`skpartx.metrics`) answer without ground truth; on
skpartx's synthetic data, whose classes are defined by known pairs of parts, we can also
check whether each method's top part is one of them.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.metrics import part_deletion_curve, part_insertion_curve
from skpartx.models import train_classifier
from skpartx.plotting import plot_local_explanation

# %%
# A classifier to explain: a small CNN trained on 1200 synthetic 32 × 32 objects made
# of parts. We explain its decisions on 200 other images, with their exact part masks,
# so that differences between the methods do not come from part-transfer errors (in
# practice the masks come from :class:`~skpartx.PartLabelTransfer`, as in the quick
# start).
data = make_part_shapes(1400, image_size=32, random_state=0)
model = train_classifier(data.images[:1200], data.target[:1200], epochs=8, random_state=0)
X = PartImages(data.images[1200:], data.masks[1200:], data.part_names)
decided = predict_classes(model, X)
print(f"model accuracy on the explained images: {np.mean(decided == data.target[1200:]):.3f}")

# %%
# Four methods, each scoring the parts of every image for the class the model decides:
#
# - ``"shapley"``: each part's average contribution over all coalitions of the image's
#   parts (exact: ``2**P`` model evaluations for ``P`` parts);
# - ``"occlusion"``: the drop in probability when the part alone is removed (``P + 1``);
# - ``"msx"``: the share of the image's minimal sufficient explanations (smallest sets
#   of parts that alone keep 90% of the probability) that contain the part —
#   ``explain`` reports these shares, while ``transform`` returns the sets themselves as
#   membership codes (:func:`~skpartx.attribution.decode_msx`,
#   :func:`~skpartx.attribution.msx_part_shares`);
# - ``"property_gradient"``: the mean absolute slope of the probability as the part is
#   faded out in ``n_steps`` steps.
#
# All use the same perturbation: a removed part is painted with the training images'
# mean colour. :meth:`~skpartx.PartAttributor.explain` returns one
# :class:`~skpartx.LocalExplanation` per image, with the part scores and the number of
# model evaluations the image cost.
methods = {
    "shapley": {},
    "occlusion": {},
    "msx": {},
    "property_gradient": {"n_steps": 8, "n_permutations": 200},
}
attributors, explanations, scores = {}, {}, {}
for name, params in methods.items():
    attributors[name] = PartAttributor(model=model, method=name, baseline="mean", random_state=0, **params).fit(X)
    explanations[name] = attributors[name].explain(X)
    scores[name] = np.array([[e.scores[part] for part in data.part_names] for e in explanations[name]])

# %%
# A reference that knows nothing: a random ranking of each image's parts.
rng = np.random.RandomState(0)
scores["random"] = np.where(data.present[1200:], rng.random_sample(scores["shapley"].shape), 0.0)

# %%
# Deletion and insertion
# ----------------------
# The deletion curve removes an image's parts one by one, highest score first, and
# follows the model's probability for its decision: a faithful ranking makes it fall
# fast, so a *lower* area under the curve is better. The insertion curve adds the parts
# to an empty (mean-colour) image in the same order: a faithful ranking makes it rise
# fast, so a *higher* area is better. Any fitted attributor supplies the model and the
# perturbation; the scores may come from any method.
#
# We also count how often a method's top part is one of the two parts that define the
# decided class (``data.rules``), among the images the model classifies correctly.
# Ties go to the part listed first in ``data.part_names`` (background, then body).
reference = attributors["shapley"]
correct = decided == data.target[1200:]
curves, rows = {}, []
for name, table in scores.items():
    deletion = part_deletion_curve(reference, X, table)
    insertion = part_insertion_curve(reference, X, table)
    curves[name] = (deletion, insertion)
    top = [data.part_names[j] for j in np.argmax(table, axis=1)]
    defining = np.mean([top[i] in data.rules[decided[i]] for i in np.flatnonzero(correct)])
    evaluations = np.mean([e.n_evaluations for e in explanations[name]]) if name in explanations else np.nan
    rows.append(
        {
            "method": name,
            "deletion AUC": deletion["auc"],
            "insertion AUC": insertion["auc"],
            "top part defining": defining,
            "evaluations per image": evaluations,
        }
    )
summary = pd.DataFrame(rows).set_index("method")
print(summary.to_string(float_format="{:.3f}".format))
for name, row in summary.iterrows():
    print(f"deletion AUC {name}: {row['deletion AUC']:.3f}")
    print(f"insertion AUC {name}: {row['insertion AUC']:.3f}")
    print(f"top part is a defining part ({name}): {row['top part defining']:.3f}")

# %%
# Shapley values rank the parts best on both curves, with occlusion close behind at a
# tenth of the model evaluations: on these objects a class needs both of its parts, so
# removing either one alone already shows which parts matter. Property gradients
# measure how *strongly* the probability reacts to a part, not in which direction, so a
# part that argues against the decision can rank high. MSX scores are coarse — a part
# is in all, some or none of an image's sufficient sets — so many parts tie, and ties
# go to the part listed first (background, body). Every method is far better than the
# random ranking.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
for name, (deletion, insertion) in curves.items():
    style = {"linestyle": "--", "color": "grey"} if name == "random" else {"marker": "o", "markersize": 3}
    axes[0].plot(deletion["fraction"], deletion["curve"], label=f"{name} ({deletion['auc']:.2f})", **style)
    axes[1].plot(insertion["fraction"], insertion["curve"], label=f"{name} ({insertion['auc']:.2f})", **style)
axes[0].set_title("deletion (lower area is better)")
axes[1].set_title("insertion (higher area is better)")
for ax in axes:
    ax.set_xlabel("fraction of the image's parts removed / inserted")
    ax.legend(fontsize=8)
axes[0].set_ylabel("probability of the decided class")
fig.tight_layout()

# %%
# One image, two views
# --------------------
# An image the model classifies correctly and that has more than one minimal
# sufficient explanation: its Shapley values, then its MSX scores with the sufficient
# sets themselves (each drawn with only its parts kept). Shapley values are signed: a
# distractor part from another class's rule typically scores below zero, as it argues
# for that other class.
shown = next(
    (i for i in np.flatnonzero(correct) if len(explanations["msx"][i].msx) > 1),
    int(np.flatnonzero(correct)[0]),
)
for name in ("shapley", "msx"):
    fig = plot_local_explanation(
        X.images[shown], X.masks[shown], explanations[name][shown], data.part_names, target_names=data.target_names
    )
    fig.axes[1].set_title(f"{name} scores", fontsize=9)
print("Shapley values of the shown image:", {k: round(v, 3) for k, v in explanations["shapley"][shown].scores.items()})
print("its minimal sufficient explanations:", [sorted(s) for s in explanations["msx"][shown].msx])

# %%
# From local to global
# --------------------
# Local explanations feed :class:`~skpartx.GlobalRuleExplainer`. Rules learnt from each
# method's output on the first 100 images are checked on the other 100: how often do
# they reproduce the model's decision (fidelity)? Scores are binarised per image (the
# parts carrying 80% of the positive total) and any conjunction within those sets is a
# candidate rule; the MSX output keeps each minimal sufficient explanation its own
# candidate conjunction, as GEPC does (a part of an MSX does not suffice). Property
# gradients, blind to the direction of a part's effect, give the least faithful rules.
first, second = slice(0, 100), slice(100, 200)
rules, fidelity = {}, {}
for name in methods:
    if name == "msx":  # MSX membership codes, which the rules read as sets of parts
        table = attributors[name].set_output(transform="pandas").transform(X)
        binarize, candidates = "msx", "observed"
    else:
        table = pd.DataFrame(scores[name], columns=list(data.part_names))
        binarize, candidates = "fraction", "subsets"
    rules[name] = GlobalRuleExplainer("set_cover", target_names=data.target_names, binarize=binarize,
                                      candidates=candidates)
    rules[name].fit(table.iloc[first], decided[first])
    fidelity[name] = rules[name].score(table.iloc[second], decided[second])
    print(f"rule fidelity ({name}): {fidelity[name]:.3f}")

# %%
# The rules learnt from Shapley values: per class, mostly its planted pair of parts or
# one part of the pair.
print(rules["shapley"].report())
print(f"fidelity on held-out images: {fidelity['shapley']:.3f}")
