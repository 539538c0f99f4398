"""
Bring your own backbone and annotations
=======================================

With real data, your images sit in a folder with one sub-folder per class, you
annotate the parts of a few of them in a COCO-style JSON file (the format of
PartImageNet: one annotation per part, as polygons or run-length encoding), and the
network that best sees your parts may be another one than the classifier you explain.
This example goes down that path end to end without downloading anything: it writes
synthetic part objects to a temporary folder as PNG files, annotates ten images per
class, loads both back with skpartx's loaders, transfers the part labels with a
backbone of its own, and explains a classifier.
"""

import matplotlib

matplotlib.use("Agg")

import json
import os
import shutil
import tempfile
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.pipeline import make_pipeline
from torch import nn

import skpartx
from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.cli.explain_folder import run_explain
from skpartx.datasets import load_coco_parts, load_image_folder, make_part_shapes
from skpartx.models import train_classifier
from skpartx.plotting import plot_part_masks

# %%
# The classifier to explain: a small CNN trained on 1200 synthetic 32 × 32 objects.
# The next 240 objects play the part of your own images.
N_TRAIN, N_FOLDER, ANNOTATED_PER_CLASS = 1200, 240, 10
data = make_part_shapes(N_TRAIN + N_FOLDER, image_size=32, random_state=0)
model = train_classifier(data.images[:N_TRAIN], data.target[:N_TRAIN], epochs=10, batch_size=128, random_state=0)

# %%
# Your images on disk: ``root/images/<class>/<file>.png``. The file name keeps the
# object's index so that we can score the part transfer against the true masks later.
root = tempfile.mkdtemp()
image_dir = os.path.join(root, "images")
folder_index = np.arange(N_TRAIN, N_TRAIN + N_FOLDER)
file_names = {}
for i in folder_index:
    name = f"{data.target_names[data.target[i]]}/object_{i:05d}.png"
    os.makedirs(os.path.join(image_dir, os.path.dirname(name)), exist_ok=True)
    plt.imsave(os.path.join(image_dir, name), data.images[i].transpose(1, 2, 0))
    file_names[i] = name


# %%
# Your part annotations of ten images per class, as COCO JSON: each image lists its
# size and file name (relative to the image folder), each part is a category, and each
# annotation is one part of one image. The window, a convex part, is written as a
# polygon (the convex hull of its pixel centres, ``[x1, y1, x2, y2, ...]``); every
# other part as an uncompressed run-length encoding (runs down the columns, the first
# one of background).
def rle(region):
    flat = region.flatten(order="F")
    starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], starts, [flat.size]])).tolist()
    return {"size": list(region.shape), "counts": [0] + counts if flat[0] else counts}


def convex_polygon(region):
    rows, cols = np.nonzero(region)
    points = sorted(set(zip(cols.tolist(), rows.tolist())))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(sequence):
        hull = []
        for p in sequence:
            while len(hull) >= 2 and cross(hull[-2], hull[-1], p) <= 0:
                hull.pop()
            hull.append(p)
        return hull[:-1]

    hull = half(points) + half(points[::-1]) if len(points) > 2 else points
    return [[float(v) for point in hull for v in point]]


rng = np.random.RandomState(0)
annotated = np.concatenate(
    [rng.permutation(folder_index[data.target[folder_index] == c])[:ANNOTATED_PER_CLASS] for c in data.rules]
)
coco = {"images": [], "annotations": [], "categories": []}
for part_id, part_name in enumerate(data.part_names[1:], start=1):
    coco["categories"].append({"id": part_id, "name": part_name, "supercategory": "object"})
for image_id, i in enumerate(annotated, start=1):
    coco["images"].append({"id": image_id, "file_name": file_names[i], "height": 32, "width": 32})
    for part_id, part_name in enumerate(data.part_names[1:], start=1):
        region = data.masks[i] == part_id
        if region.any():
            segmentation = convex_polygon(region) if part_name == "window" else rle(region)
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": part_id,
                    "segmentation": segmentation,
                    "iscrowd": 0,
                }
            )
annotation_file = os.path.join(root, "parts.json")
with open(annotation_file, "w", encoding="utf-8") as handle:
    json.dump(coco, handle)

# %%
# Load them back: the folder gives every image (unlabelled), the COCO file the part
# masks of the annotated ones; matched by path, they make one :class:`~skpartx.PartImages`
# with -1 (unlabelled) on every image nobody annotated.
folder = load_image_folder(image_dir, image_size=32)
parts = load_coco_parts(annotation_file, image_root=image_dir, image_size=32, class_from="folder")
position = {path.replace(os.sep, "/"): k for k, path in enumerate(folder.paths)}
masks = np.full(folder.X.masks.shape, -1, dtype=np.int32)
for path, mask in zip(parts.paths, parts.X.masks):
    masks[position[path]] = mask
X = PartImages(folder.X.images, masks, parts.part_names)
source = np.array([int(os.path.splitext(path)[0].split("_")[-1]) for path in folder.paths])  # object of each image
print(f"loaded images: {len(X)}")
print(f"annotated images: {int(X.labelled.sum())}")
agreement = np.mean(X.masks[X.labelled] == data.masks[source[X.labelled]])
print(f"annotations read back, pixels agreeing with the drawn masks: {agreement:.3f}")


# %%
# Your own backbone: any ``torch.nn.Module`` whose named modules output feature maps.
# Here a small network we define and train to say which parts an image shows (a
# multi-label part detector), not which class it is. ``layers`` names the modules
# whose outputs become the dense features of the part transfer.
def make_backbone(n_outputs):
    def block(c_in, c_out, pool):
        layers = [nn.MaxPool2d(2)] if pool else []
        return nn.Sequential(*layers, nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU())

    return nn.Sequential(
        OrderedDict(
            normalize=nn.BatchNorm2d(3),
            block1=block(3, 24, pool=False),
            block2=block(24, 48, pool=True),
            block3=block(48, 64, pool=True),
            pool=nn.AdaptiveMaxPool2d(1),
            flatten=nn.Flatten(),
            head=nn.Linear(64, n_outputs),
        )
    )


torch.manual_seed(0)
backbone = make_backbone(len(data.part_names) - 2)  # every part but background and body
images = torch.from_numpy(data.images[:N_TRAIN])
shows = torch.from_numpy(data.present[:N_TRAIN, 2:].astype(np.float32))
optimizer = torch.optim.AdamW(backbone.parameters(), lr=3e-3)
backbone.train()
for epoch in range(4):
    for batch in torch.randperm(N_TRAIN).split(64):
        loss = nn.functional.binary_cross_entropy_with_logits(backbone(images[batch]), shows[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
backbone.eval()

# %%
# The pipeline explains the classifier's decisions on 160 of the folder's images (the
# annotated ones among them); the other 80 are held out. The part transfer uses the
# own backbone, the attribution the classifier. Rules are named with the classifier's
# class names: they are in the order of its outputs, which need not be the
# alphabetical order of the folders.
order = rng.permutation(len(X))
explained = np.concatenate([np.flatnonzero(X.labelled), [k for k in order if not X.labelled[k]][:120]])
held_out = np.setdiff1d(np.arange(len(X)), explained)
pipe = make_pipeline(
    PartLabelTransfer(backbone=backbone, layers=["block1", "block2", "block3"], random_state=0),
    PartAttributor(model=model, baseline="mean"),
    GlobalRuleExplainer("set_cover", target_names=data.target_names, binarize="fraction", candidates="subsets"),
).set_output(transform="pandas")
pipe.fit(X[explained], predict_classes(model, X[explained]))
print(pipe[-1].report())
print("planted:", {data.target_names[c]: " ∧ ".join(p) for c, p in data.rules.items()})

# %%
# How good is the transfer on the images nobody annotated (against the true masks we
# happen to know here), and how faithful are the rules on the held-out images?
elsewhere = np.flatnonzero(~X.labelled)
truth = PartImages(X.images[elsewhere], data.masks[source[elsewhere]], X.part_names)
print(f"transfer mIoU on annotated-elsewhere images: {pipe[0].score(truth):.3f}")
fidelity = pipe.score(X[held_out], predict_classes(model, X[held_out]))
print(f"fidelity on held-out images: {fidelity:.3f}")

# %%
# Save the fitted pipeline (torch state goes to the CPU) and load it back, e.g. on
# another machine: it gives the same answers.
pipeline_file = os.path.join(root, "pipeline.joblib")
skpartx.save(pipe, pipeline_file)
reloaded = skpartx.load(pipeline_file)
same_rules = reloaded[-1].report() == pipe[-1].report()
same_predictions = np.array_equal(reloaded.predict(X[held_out[:16]]), pipe.predict(X[held_out[:16]]))
print(f"reloaded pipeline gives the same rules: {same_rules}, the same predictions: {same_predictions}")

# %%
# The same from the command line: ``skpartx explain`` reads the image folder and the
# COCO file, and writes ``report.html``, ``rules.md`` and ``rules.json``. Networks are
# given as a TorchScript or exported file, or as ``module:factory`` with a state dict
# (say a file ``my_networks.py`` with functions ``classifier()`` and ``backbone()``
# that build the two networks); the part transfer reads intermediate layers, so it
# needs a regular module, and an own backbone comes as ``--backbone``.
# ``--class-names`` lists the classifier's classes in the order of its outputs. From
# Python, :func:`skpartx.explain.run_explain` does the same with the modules themselves.
class_names_file = os.path.join(root, "classes.txt")
with open(class_names_file, "w", encoding="utf-8") as handle:
    handle.write("\n".join(data.target_names) + "\n")
torch.save(model.state_dict(), os.path.join(root, "classifier.pt"))
torch.save(backbone.state_dict(), os.path.join(root, "backbone.pt"))
report_dir = os.path.join(root, "report")
print(
    f"skpartx explain --images {image_dir} --annotations {annotation_file} "
    f"--model my_networks:classifier --weights {os.path.join(root, 'classifier.pt')} "
    f"--backbone my_networks:backbone --backbone-weights {os.path.join(root, 'backbone.pt')} "
    f"--class-names {class_names_file} --image-size 32 --out {report_dir}"
)
result = run_explain(
    image_dir, annotation_file, model, report_dir, backbone=backbone, image_size=32, class_names=class_names_file,
    verbose=False,
)
print(f"report written to: {result['report']}, with {sorted(os.listdir(report_dir))}")

# %%
# The transferred parts of a few held-out images, next to their true masks.
filled = pipe[0].transform(X[held_out[:6]])
plot_part_masks(filled.images, filled.masks, X.part_names, data.masks[source[held_out[:6]]])
shutil.rmtree(root)  # the temporary files are no longer needed
