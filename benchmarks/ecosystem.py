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

from common import markdown_table

IMAGE_SIZE = 64
N_IMAGES = 6


def hf_models():
    import transformers

    resnet = transformers.ResNetForImageClassification(transformers.ResNetConfig(num_labels=4))  # ResNet-50
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(
        num_labels=4, image_size=IMAGE_SIZE, patch_size=8, hidden_size=192, num_hidden_layers=6,
        num_attention_heads=3, intermediate_size=768))
    return {"Hugging Face ResNet-50": resnet.eval(), "Hugging Face ViT (6 blocks)": vit.eval()}


def coalition_values(model, image, mask, players, coalitions, target):
    """Probability of ``target`` on composites of one image, one per row of ``coalitions``
    (0/1 over ``players``, the part ids): kept parts show the image, the rest is black.
    Written here, apart from skpartx's engine, as the independent reference."""
    shown = np.asarray(coalitions, dtype=bool)[:, :, None, None] & (mask[None] == np.array(players)[None, :, None, None])
    composite = torch.from_numpy(np.where(shown.any(axis=1)[:, None], image[None], 0.0).astype(np.float32))
    with torch.no_grad():
        logits = model(pixel_values=composite).logits
    return torch.softmax(logits.double(), dim=1)[:, target].numpy()


def brute_force(model, image, mask, target):
    """Shapley values from their definition over the parts present in ``mask``."""
    players = sorted(np.unique(mask).tolist())
    n = len(players)
    coalitions = list(itertools.product((0, 1), repeat=n))
    v = dict(zip(coalitions, coalition_values(model, image, mask, players, coalitions, target)))
    phi = {}
    for k, p in enumerate(players):
        phi[p] = sum(
            math.factorial(sum(c)) * math.factorial(n - sum(c) - 1) / math.factorial(n) * (v[c[:k] + (1,) + c[k + 1 :]] - v[c])
            for c in coalitions if not c[k]
        )
    return phi


def shap_values(model, image, mask, target):
    import shap

    players = sorted(np.unique(mask).tolist())
    explainer = shap.explainers.Exact(
        lambda z: coalition_values(model, image, mask, players, z, target),  # all of shap's coalitions in one batch
        shap.maskers.Independent(np.zeros((1, len(players)))),
    )
    return dict(zip(players, explainer(np.ones((1, len(players)))).values[0]))


def largest_difference(explanations, X, reference):
    """Largest |skpartx - reference| over the images' parts, and the reference's seconds per image."""
    start, worst = time.perf_counter(), 0.0
    for i, explanation in enumerate(explanations):
        phi = reference(X.images[i], X.masks[i], explanation.target)
        worst = max(worst, max(abs(explanation.scores[X.part_names[p]] - v) for p, v in phi.items()))
    return worst, (time.perf_counter() - start) / len(X)


def shapley_rows(name, model, X):
    rows = []
    attributor = PartAttributor(model, baseline="zero", device="cpu").fit(X)
    start = time.perf_counter()
    explanations = attributor.explain(X)
    ours_seconds = (time.perf_counter() - start) / len(X)
    targets = [e.target for e in explanations]
    np.testing.assert_array_equal(targets, predict_classes(model, X, device="cpu"))
    error, brute_seconds = largest_difference(explanations, X, lambda *a: brute_force(model, *a))
    rows.append((name, "exact Shapley vs the definition (brute force)", f"max error {error:.1e}",
                 f"skpartx {ours_seconds * 1e3:.0f} ms/image, brute force {brute_seconds * 1e3:.0f} ms/image"))
    try:
        import shap  # noqa: F401
    except ImportError:
        rows.append((name, "exact Shapley vs shap ExactExplainer", "skipped", "pip install shap"))
        return rows
    error, shap_seconds = largest_difference(explanations, X, lambda *a: shap_values(model, *a))
    rows.append((name, "exact Shapley vs shap ExactExplainer", f"max difference {error:.1e}",
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
    print("\n".join(markdown_table(("model / package", "check", "result", "detail"), rows)))


if __name__ == "__main__":
    main()
