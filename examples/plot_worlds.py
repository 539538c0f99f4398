"""
Worlds whose parts can truly be removed
=======================================

Painting a part over is not removing it. :func:`skpartx.datasets.make_part_world` draws
images of a *world* of part-composed objects from scene descriptions, and
``world.render(scenes, keep)`` draws the same scenes again with the parts ``keep`` leaves
out truly absent: what lay behind them shows, and nothing else changes. A model's response
to that is the interventional truth that a baseline (a colour, a blur, reference images)
tries to imitate; ``benchmarks/worlds.py`` measures every baseline against it on many worlds.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from skpartx.datasets import make_part_world
from skpartx.plotting import plot_part_masks

# %%
# Three worlds, each drawn from its seed: its own part kinds (shape, texture, colour, place on
# the body, layer), classes defined by DNF rules over shared parts, distractors, backgrounds.
for seed in (3, 5, 11):
    data = make_part_world(6, world=seed, random_state=0)
    print(f"world {seed}: {len(data.target_names)} classes, {len(data.part_names) - 1} part kinds; "
          f"{data.target_names[0]} ← " + " ∨ ".join(" ∧ ".join(term) for term in data.rules[0]))
    plot_part_masks(data.images, data.masks, data.part_names,
                    titles=[data.target_names[c] for c in data.target], n_images=6)

# %%
# One scene, drawn again without each of its parts in turn. Where a part lay over another,
# the other shows; elsewhere the background. Only the removed part's own pixels change.
data = make_part_world(1, world=5, random_state=1)
world, scenes = data.world, data.scenes
shown = [p for p in np.unique(data.masks[0]) if p != 0]
fig, axes = plt.subplots(1, len(shown) + 1, figsize=(1.8 * (len(shown) + 1), 2.2))
axes[0].imshow(data.images[0].transpose(1, 2, 0))
axes[0].set_title("scene", fontsize=8)
changed_elsewhere = 0
for ax, part in zip(axes[1:], shown):
    keep = np.ones(len(data.part_names), dtype=bool)
    keep[part] = False
    image, mask = world.render(scenes, keep)
    ax.imshow(image[0].transpose(1, 2, 0))
    ax.set_title(f"no {data.part_names[part]}", fontsize=7)
    outside = data.masks[0] != part
    changed_elsewhere += int((image[0] != data.images[0])[:, outside].sum())
    assert not (mask[0] == part).any()
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
print(f"parts removed one at a time: {len(shown)}")
print(f"pixel values changed outside the removed part: {changed_elsewhere}")

# %%
# Incomplete objects: ``incomplete=0.25`` draws a quarter of the objects without one part of
# their class's conjunction, so that they belong to no class (label -1). A model trained on
# them learns that a class needs its whole conjunction.
data = make_part_world(400, world=5, incomplete=0.25, random_state=0)
incomplete = data.target == -1
print(f"images of no class: {incomplete.mean():.2f}")
print("incomplete objects that satisfy a class's rule: "
      f"{sum(bool(data.world.satisfied(p)) for p in data.scenes.present[incomplete])}")
