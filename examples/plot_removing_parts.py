"""
Does removing a part remove it?
===============================

Every perturbation explanation asks the model what it says when a part is removed. What
replaces the part decides whether it is gone for the model. Here a "diver" is defined by a
fin and a window, and the window is drawn inside the body: painted over with the mean
colour or blurred, it leaves a window-shaped patch that the model still reads as a window.
``baseline="inpaint"`` fills a removed part in from what surrounds it instead, and only
then do the explanations credit both parts the model needs.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from skpartx import PartAttributor, PartImages, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.models import train_classifier
from skpartx.plotting import plot_removals

DIVER = 3

# %%
# A model that needs whole conjunctions: besides the four classes, it is trained on images
# of none of them (label -1), each showing one part of a planted pair, towards equal class
# probabilities. One part of a pair is then not enough for a class.
data = make_part_shapes(3400, image_size=64, incomplete=0.25, random_state=0)
train = np.arange(3000)
model = train_classifier(data.images[train], data.target[train], epochs=10, random_state=0)
classes = data.target >= 0
held_out = np.flatnonzero(classes[3000:]) + 3000
X = PartImages(data.images, data.masks, data.part_names)  # true part masks: this example is about baselines
decisions = predict_classes(model, X)
print(f"held-out accuracy: {np.mean(decisions[held_out] == data.target[held_out]):.3f}")

# %%
# What each baseline shows the model, for one diver, and the model's diver probability.
divers = held_out[(decisions[held_out] == DIVER) & (data.target[held_out] == DIVER)]
fit_images = X[np.flatnonzero(classes[:3000])[:300]]
attributors = {
    baseline: PartAttributor(model, method="occlusion", baseline=baseline).fit(fit_images)
    for baseline in ("mean", "blur", "inpaint")
}
plot_removals(attributors, X[divers[:1]], ["fin", "window"], target_names=data.target_names)

# %%
# The same over all held-out divers: with the window painted over or blurred, the model
# still calls many of them divers; filled in, the probability falls to about chance (0.25):
# the model needs the window as much as the fin.
for baseline, attributor in attributors.items():
    explanations = attributor.explain(X[divers], target=DIVER)
    whole = np.mean([e.full_score for e in explanations])
    without = {part: np.mean([e.full_score - e.scores[part] for e in explanations]) for part in ("fin", "window")}
    print(f"{baseline} baseline, diver probability: whole {whole:.2f}, "
          f"without fin: {without['fin']:.2f}, without window: {without['window']:.2f}")

# %%
# Part Shapley values inherit the difference: where the removed window still reads as a
# window, the fin takes most of the credit for the diver; filled in, both parts share it.
# (The model also calls the blank canvas a diver, which the warning below points out: the
# values share out only what the parts add to that.)
for baseline in attributors:
    shapley = PartAttributor(model, method="shapley", baseline=baseline).fit(fit_images)
    scores = shapley.set_output(transform="pandas").transform(X[divers])
    fin, window = scores["fin"].mean(), scores["window"].mean()
    print(f"{baseline} baseline, mean Shapley value: fin {fin:.3f}, window {window:.3f}, "
          f"window share {window / (fin + window):.2f}")
