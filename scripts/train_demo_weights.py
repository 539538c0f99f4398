"""Train the demo classifiers shipped in ``skpartx/weights`` and record them in ``demo.json``.

Usage::

    python scripts/train_demo_weights.py            # both families, about a minute each on 2 cores

For each data family the demo's classifier is trained exactly as ``skpartx demo`` would
train it (``DEMO_SETTINGS``, seed 0), then scored on freshly generated images (another seed
of :func:`~skpartx.datasets.make_part_shapes`) that played no part in training; the
manifest records the settings, the file's SHA-256 and that held-out accuracy, which
``tests/test_demo.py`` checks the shipped weights still reach.
"""

import argparse
import hashlib
import json
import os
from datetime import date

import torch

from skpartx import __version__
from skpartx.cli.demo_classifier import (
    DEMO_SETTINGS,
    MODEL_SETTINGS,
    WEIGHTS_DIR,
    WEIGHTS_MANIFEST,
    train_demo_classifier,
)
from skpartx.datasets import make_part_shapes
from skpartx.models import predict_classes

# Images the classifiers never saw: another seed of the generator.
CHECK_SEED = 2026
CHECK_IMAGES = 1000


def held_out_accuracy(model, settings, n_images=CHECK_IMAGES, seed=CHECK_SEED):
    data = make_part_shapes(n_images, image_size=settings["image_size"], n_classes=settings["n_classes"],
                            family=settings["family"], random_state=seed)
    return float((predict_classes(model, data.images, device="cpu") == data.target).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["disjoint", "shared"])
    args = parser.parse_args(argv)
    os.makedirs(WEIGHTS_DIR, exist_ok=True)
    models = {}
    for family in args.families:
        settings = {**DEMO_SETTINGS, "family": family}
        # The demo's own data: the first n_train of n_train + n_test images.
        data = make_part_shapes(settings["n_train"] + settings["n_test"], image_size=settings["image_size"],
                                n_classes=settings["n_classes"], family=family,
                                random_state=settings["random_state"])
        train = slice(0, settings["n_train"])
        model = train_demo_classifier(data.images[train], data.target[train], settings, verbose=True)
        name = f"demo-{family}.pt"
        path = os.path.join(WEIGHTS_DIR, name)
        torch.save(model.state_dict(), path)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        accuracy = held_out_accuracy(model, settings)
        print(f"{family}: held-out accuracy {accuracy:.3f} on {CHECK_IMAGES} fresh images, {os.path.getsize(path)} bytes")
        models[family] = {
            "settings": {key: settings[key] for key in MODEL_SETTINGS},
            "file": name,
            "sha256": digest,
            "held_out_accuracy": round(accuracy, 4),
            "check": {"n_images": CHECK_IMAGES, "random_state": CHECK_SEED},
        }
    manifest = {"skpartx": __version__, "torch": torch.__version__, "date": date.today().isoformat(), "models": models}
    with open(WEIGHTS_MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
