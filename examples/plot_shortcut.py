"""
Exposing a shortcut
===================

A model can be right for the wrong reason. Here every flyer in the training data is
shown before a background of the flyer's own hue, so a network can call an image a
flyer from its background alone, without looking at the head and the wing that define
the class. Because skpartx treats the background as a part like any other, the rules
it learns for such a model name the background, while the rules for a model trained on
clean data name the planted parts.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.models import train_classifier

N_TRAIN, N_TEST = 1500, 120
SHORTCUT_CLASS = 0  # the flyers

# %%
# Two data sets from the same generator. In the first, ``spurious=1.0`` gives every
# flyer (and only the flyers, ``spurious_classes``) a background of the flyer hue;
# the other classes keep backgrounds of random hues. The second is clean. One small
# CNN is trained on each.
shortcut_data = make_part_shapes(
    N_TRAIN + N_TEST, image_size=32, spurious=1.0, spurious_classes=[SHORTCUT_CLASS], random_state=0
)
clean_data = make_part_shapes(N_TRAIN + N_TEST, image_size=32, random_state=0)
shortcut_model = train_classifier(
    shortcut_data.images[:N_TRAIN], shortcut_data.target[:N_TRAIN], epochs=8, batch_size=128, random_state=0
)
clean_model = train_classifier(
    clean_data.images[:N_TRAIN], clean_data.target[:N_TRAIN], epochs=12, batch_size=128, random_state=0
)
for name, data, model in (("shortcut", shortcut_data, shortcut_model), ("clean", clean_data, clean_model)):
    accuracy = np.mean(predict_classes(model, data.images[N_TRAIN:]) == data.target[N_TRAIN:])
    print(f"{name} model accuracy on held-out images of its own data: {accuracy:.3f}")


# %%
# The same explanation pipeline for both models: part labels on 8 images per class,
# transferred to the rest with the explained model as backbone, part Shapley values,
# and set-cover rules over the model's decisions on 200 training images. Fitting the
# steps one after the other (as ``pipe.fit`` would) keeps the part scores, whose
# binary symbols (``symbols``) say which parts explain each image. The last
# ``N_TEST`` images of each data set are held out to measure the rules' fidelity.
def explain(data, model):
    rng = np.random.RandomState(0)
    labelled = np.concatenate([rng.permutation(np.flatnonzero(data.target[:N_TRAIN] == c))[:8] for c in data.rules])
    masks = np.full_like(data.masks, -1)
    masks[labelled] = data.masks[labelled]
    X = PartImages(data.images, masks, data.part_names)
    explained = np.concatenate([labelled, np.setdiff1d(rng.permutation(N_TRAIN), labelled)[:168]])
    decisions = predict_classes(model, X[explained])
    pipe = make_pipeline(
        PartLabelTransfer(backbone=model, random_state=0),
        PartAttributor(model=model, baseline="mean"),
        GlobalRuleExplainer("set_cover", target_names=data.target_names, binarize="fraction", candidates="subsets"),
    ).set_output(transform="pandas")
    scores = pipe[:-1].fit_transform(X[explained])
    pipe[-1].fit(scores, decisions)
    # Per class, the share of its images whose explanation holds the background.
    with_background = pipe[-1].symbols(scores)["background"].to_numpy()
    background_share = {name: with_background[decisions == c].mean() for c, name in enumerate(data.target_names)}
    held_out = X[N_TRAIN:]
    return pipe[-1], background_share, pipe.score(held_out, predict_classes(model, held_out))


def background_in_rules(explainer, target):
    return any("background" in rule.positive_features() for rule in explainer.rules_for(target))


def rules_text(explainer, target):
    return "; ".join(str(rule) for rule in explainer.rules_for(target)) or "(no rule)"


def summarise(prefix, name, data, explainer, share, fidelity):
    """Print a model's rules and the lines that show (or rule out) the shortcut."""
    print(explainer.report())
    print(f"{prefix}fidelity on held-out images: {fidelity:.3f}")
    print(f"{prefix}shortcut rules: {rules_text(explainer, SHORTCUT_CLASS)}")
    print(f"{prefix}background in shortcut class rules: {background_in_rules(explainer, SHORTCUT_CLASS)}")
    print(f"background share of flyer explanations, {name} model: {share['flyer']:.2f}")
    print(f"background share of each class's explanations, {name} model: "
          + ", ".join(f"{target} {value:.2f}" for target, value in share.items()))
    flagged = [data.target_names[c] for c in explainer.background_shortcuts_]
    print(f"{prefix}classes flagged as decided by the background: {flagged or 'none'}")


shortcut_rules, shortcut_share, shortcut_fidelity = explain(shortcut_data, shortcut_model)
clean_rules, clean_share, clean_fidelity = explain(clean_data, clean_model)

# %%
# The rules of the shortcut model. Its flyer rules need the background, and nearly
# every flyer's local explanation contains it, most often the background alone (see
# "Most common local explanations"). That explanation alone makes no rule: the
# background also helps explain other classes (a background of another hue is
# evidence against "flyer"), so "flyer ← background" is not precise enough, and the
# flyers it explains are left to the report's "Otherwise" line. The report flags it
# all the same: a class whose images are mostly explained with the background gets a
# warning of its own (``background_shortcuts_``), besides the warning for a symbol that
# explains at least half of the images of *every* class (``shortcuts_``). The shortcut
# reaches beyond the flyers: since a background of another hue tells "not a flyer", the
# other classes' explanations hold the background more often than the clean model's,
# and a class that crosses half of its images is flagged too (how far each one goes
# depends on training; the shares are printed below).
summarise("", "shortcut", shortcut_data, shortcut_rules, shortcut_share, shortcut_fidelity)

# %%
# The model trained on clean data explains its flyers with the head and the wing.
summarise("clean ", "clean", clean_data, clean_rules, clean_share, clean_fidelity)

# %%
# What the explanation points at, a test confirms: shown flyers before backgrounds of
# any hue (the held-out flyers of the clean data), the shortcut model misses many.
flyers = clean_data.images[N_TRAIN:][clean_data.target[N_TRAIN:] == SHORTCUT_CLASS]
for name, model in (("shortcut", shortcut_model), ("clean", clean_model)):
    recall = np.mean(predict_classes(model, flyers) == SHORTCUT_CLASS)
    print(f"{name} model recall of flyers before backgrounds of any hue: {recall:.3f}")

# %%
# Part importance per class (mean part Shapley value of each class's images), side by
# side: the background column lights up for the shortcut model, most of all for flyers.
fig, axes = plt.subplots(1, 2, figsize=(16, 3.8))
shortcut_rules.plot_part_importance(ax=axes[0])
clean_rules.plot_part_importance(ax=axes[1])
axes[0].set_title("Trained with a background shortcut for flyers")
axes[1].set_title("Trained on clean data")
fig.tight_layout()
