"""
Quick start: global part rules for an image classifier
=======================================================

Label parts on a few images, let skpartx transfer the labels to the rest, explain each
image's decision with part Shapley values, and learn per-class rules with set cover.
The data are skpartx's synthetic part objects, whose classes are defined by known part
conjunctions, so we can check that the rules find them.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
from sklearn.pipeline import make_pipeline

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.models import train_classifier
from skpartx.plotting import plot_part_masks

# %%
# A classifier to explain: a small CNN trained on synthetic objects made of parts.
data = make_part_shapes(2400, image_size=40, random_state=0)
model = train_classifier(data.images[:2000], data.target[:2000], epochs=10, random_state=0)

# %%
# We "label" the parts of 10 images per class; every other pixel is unlabelled (-1).
rng = np.random.RandomState(0)
labelled = np.concatenate([rng.permutation(np.flatnonzero(data.target[:2000] == c))[:10] for c in data.rules])
masks = np.full_like(data.masks, -1)
masks[labelled] = data.masks[labelled]
X = PartImages(data.images, masks, data.part_names)

# %%
# The pipeline explains the model's own decisions on 400 images (the labelled ones among them).
explained = np.concatenate([labelled, np.setdiff1d(rng.permutation(2000), labelled)[:360]])
pipe = make_pipeline(
    PartLabelTransfer(backbone=model),
    PartAttributor(model=model, baseline="blur"),  # removed parts are blurred (the default from 0.3)
    # a scorecard: whole-number points per part and class (the default from 0.3)
    GlobalRuleExplainer("scorecard", target_names=data.target_names, binarize="fraction", random_state=0),
).set_output(transform="pandas")
pipe.fit(X[explained], predict_classes(model, X[explained]))
print(pipe[-1].report())
print("planted:", {data.target_names[c]: " ∧ ".join(p) for c, p in data.rules.items()})

# %%
# How faithful are the rules on images the pipeline has not seen?
held_out = X[2000:]
print(f"fidelity on held-out images: {pipe.score(held_out, predict_classes(model, held_out)):.3f}")

# %%
# What the transfer did on a few held-out images, and the scorecard as a chart.
transferred = pipe[0].transform(held_out[:6])
plot_part_masks(held_out.images[:6], transferred.masks, data.part_names, data.masks[2000:2006])
pipe[-1].plot()
