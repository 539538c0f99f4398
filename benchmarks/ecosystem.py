"""skpartx next to the ecosystem: Hugging Face models as they come, exact Shapley against the
definition and against shap, COCO RLE written by pycocotools.

Usage::

    python benchmarks/ecosystem.py                 # about a minute on 2 CPU cores

Needs ``transformers`` (a test extra); the shap and pycocotools rows are skipped with a note
when those packages are missing (``pip install shap pycocotools``). Models are built from
configurations with random weights (nothing is downloaded): exactness and speed do not
depend on training.
"""

import itertools
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from skpartx import PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.datasets import load_coco_parts, make_part_shapes

IMAGE_SIZE = 64
N_IMAGES = 6


def hf_models():
    import transformers

    resnet = transformers.ResNetForImageClassification(transformers.ResNetConfig(num_labels=4))  # ResNet-50
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(
        num_labels=4, image_size=IMAGE_SIZE, patch_size=8, hidden_size=192, num_hidden_layers=6,
        num_attention_heads=3, intermediate_size=768))
    return {"Hugging Face ResNet-50": resnet.eval(), "Hugging Face ViT (6 blocks)": vit.eval()}


def value(model, images, masks, keep, target):
    """Probability of ``target`` with the parts outside ``keep`` (a set of part ids) black."""
    kept = np.isin(masks, list(keep))[:, None]
    composite = torch.from_numpy(np.where(kept, images, 0.0).astype(np.float32))
    with torch.no_grad():
        logits = model(pixel_values=composite).logits
    return torch.softmax(logits.double(), dim=1)[:, target].numpy()


def brute_force(model, image, mask, target):
    """Shapley values from their definition over the parts present in ``mask``."""
    players = sorted(np.unique(mask).tolist())
    n = len(players)
    coalitions = [frozenset(c) for size in range(n + 1) for c in itertools.combinations(players, size)]
    v = {c: value(model, image[None], mask[None], c, target)[0] for c in coalitions}
    phi = {}
    for p in players:
        phi[p] = sum(
            math.factorial(len(c)) * math.factorial(n - len(c) - 1) / math.factorial(n) * (v[c | {p}] - v[c])
            for c in coalitions if p not in c
        )
    return phi


def shap_values(model, image, mask, target):
    import shap

    players = sorted(np.unique(mask).tolist())

    def f(z):  # z: (n, q) 0/1 over the players; all n composites in one batch
        kept = (np.asarray(z)[:, :, None, None] * (mask[None] == np.array(players)[None, :, None, None])).any(axis=1)
        composite = torch.from_numpy(np.where(kept[:, None], image[None], 0.0).astype(np.float32))
        with torch.no_grad():
            logits = model(pixel_values=composite).logits
        return torch.softmax(logits.double(), dim=1)[:, target].numpy()

    explainer = shap.explainers.Exact(f, shap.maskers.Independent(np.zeros((1, len(players)))))
    explanation = explainer(np.ones((1, len(players))))
    return dict(zip(players, explanation.values[0]))


def shapley_rows(name, model, X):
    rows = []
    attributor = PartAttributor(model, baseline="zero", device="cpu").fit(X)
    start = time.perf_counter()
    explanations = attributor.explain(X)
    ours_seconds = (time.perf_counter() - start) / len(X)
    targets = [e.target for e in explanations]
    np.testing.assert_array_equal(targets, predict_classes(model, X, device="cpu"))
    start = time.perf_counter()
    errors = []
    for i, explanation in enumerate(explanations):
        phi = brute_force(model, X.images[i], X.masks[i], explanation.target)
        errors.append(max(abs(explanation.scores[X.part_names[p]] - v) for p, v in phi.items()))
    brute_seconds = (time.perf_counter() - start) / len(X)
    rows.append((name, "exact Shapley vs the definition (brute force)", f"max error {max(errors):.1e}",
                 f"skpartx {ours_seconds * 1e3:.0f} ms/image, brute force {brute_seconds * 1e3:.0f} ms/image"))
    try:
        import shap  # noqa: F401
    except ImportError:
        rows.append((name, "exact Shapley vs shap ExactExplainer", "skipped", "pip install shap"))
        return rows
    start = time.perf_counter()
    errors = []
    for i, explanation in enumerate(explanations):
        phi = shap_values(model, X.images[i], X.masks[i], explanation.target)
        errors.append(max(abs(explanation.scores[X.part_names[p]] - v) for p, v in phi.items()))
    shap_seconds = (time.perf_counter() - start) / len(X)
    rows.append((name, "exact Shapley vs shap ExactExplainer", f"max difference {max(errors):.1e}",
                 f"skpartx {shap_seconds / ours_seconds:.1f}x faster ({shap_seconds * 1e3:.0f} ms/image for shap, "
                 "its model function batched)"))
    return rows


def coco_row():
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        return ("pycocotools", "COCO RLE read by load_coco_parts", "skipped", "pip install pycocotools")
    data = make_part_shapes(5, image_size=48, random_state=3)
    with tempfile.TemporaryDirectory() as root:
        coco = {"images": [], "annotations": [], "categories": []}
        names = data.part_names[1:]
        coco["categories"] = [{"id": k + 1, "name": name, "supercategory": "object"} for k, name in enumerate(names)]
        for i, (image, mask) in enumerate(zip(data.images, data.masks)):
            # A non-square image: the masks' layout (column-major RLE) is what is checked.
            image, mask = image[:, :, :40], mask[:, :40]
            Image.fromarray((image.transpose(1, 2, 0) * 255).astype(np.uint8)).save(Path(root) / f"{i}.png")
            coco["images"].append({"id": i, "file_name": f"{i}.png", "height": 48, "width": 40})
            for part in np.unique(mask):
                if part == 0:
                    continue
                rle = mask_utils.encode(np.asfortranarray((mask == part).astype(np.uint8)))
                rle["counts"] = rle["counts"].decode("ascii")
                coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i, "category_id": int(part),
                                            "segmentation": rle, "iscrowd": 1})
        path = Path(root) / "parts.json"
        path.write_text(json.dumps(coco))
        loaded = load_coco_parts(str(path), root, image_size=(48, 40), lazy=False)
    expected = data.masks[:, :, :40]
    same = np.array_equal(loaded.X.masks, expected)
    return ("pycocotools", "COCO RLE (compressed) read by load_coco_parts",
            "pixel-exact" if same else f"{(loaded.X.masks != expected).mean():.2%} of pixels differ",
            f"{len(coco['annotations'])} annotations on {len(expected)} images of 48 x 40 px")


def main():
    torch.manual_seed(0)
    data = make_part_shapes(N_IMAGES + 16, image_size=IMAGE_SIZE, random_state=0)
    X = PartImages(data.images, data.masks, data.part_names)
    rows = []
    for name, model in hf_models().items():
        decisions = predict_classes(model, X, device="cpu")
        transfer = PartLabelTransfer(backbone=model, device="cpu", random_state=0).fit(X[:16])
        transfer.predict(X[16:])
        rows.append((name, "passed as it comes (ModelOutput, pixel_values)", "accepted",
                     f"decisions {np.bincount(decisions, minlength=4).tolist()}, transfer layers {transfer.layers_}"))
        rows += shapley_rows(name, model, X[16:])
    rows.append(coco_row())
    print(f"torch {torch.__version__}, {IMAGE_SIZE} px, {N_IMAGES} images explained\n")
    print("| model / package | check | result | detail |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
