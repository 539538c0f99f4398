"""Train the test suite's models, run its transfers, and record them in ``tests/fixtures/manifest.json``.

Usage::

    python scripts/train_test_fixtures.py                  # every model and mask set, a few minutes on 2 cores
    python scripts/train_test_fixtures.py --only shortcut  # one model (and the masks made with it)

The settings live in ``tests/fixture_models.py``, which the suite loads the files with. Each
model is trained with seed 0 and scored on images of another seed of its generator that
played no part in training; each mask set is the probe transfer of its model from 10
labelled images per class, scored by mean IoU against the generator's masks on the images
nobody labelled. The manifest records the settings, every file's SHA-256 and these scores,
which ``tests/test_fixtures.py`` checks the shipped files still reach.
"""

import argparse
import hashlib
import io
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import fixture_models as fm  # noqa: E402  (the tests' own settings)

from skpartx import __version__  # noqa: E402


def write(name, content):
    """Write ``content`` to the fixtures folder; return its entry fields."""
    path = fm.FIXTURES_DIR / name
    path.write_bytes(content)
    return {"file": name, "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(fm.MODELS), help="models to train (default: all)")
    args = parser.parse_args(argv)
    fm.FIXTURES_DIR.mkdir(exist_ok=True)
    recorded = fm.manifest() if fm.MANIFEST.exists() else {"models": {}, "masks": {}}
    names = args.only or sorted(fm.MODELS)
    for name in names:
        model = fm.train(name, seed=0)
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        accuracy = fm.held_out_accuracy(name, model)
        n_classes = model.head[-1].out_features
        recorded["models"][name] = {
            "settings": fm.settings(name),
            "n_classes": n_classes,
            **write(f"{name}.pt", buffer.getvalue()),
            "held_out_accuracy": round(accuracy, 4),
            "check": fm.CHECK,
            "data_sha256": fm.data_digest(name),
        }
        print(f"model {name}: held-out accuracy {accuracy:.3f}")
        for masks_name, spec in fm.MASKS.items():
            if spec["model"] != name:
                continue
            masks = fm.transfer(masks_name, model)
            data = fm.dataset(name)
            unlabelled = np.ones(len(masks), bool)
            unlabelled[fm.labelled_idx(name)] = False
            miou = fm.mean_iou(masks, data.masks, len(data.part_names), unlabelled)
            buffer = io.BytesIO()
            np.savez_compressed(buffer, masks=masks.astype(np.int8))
            recorded["masks"][masks_name] = {
                "settings": spec,
                **write(f"{masks_name}-masks.npz", buffer.getvalue()),
                "miou_unlabelled": round(miou, 4),
            }
            print(f"masks {masks_name}: mIoU {miou:.3f} on the unlabelled images")
    recorded.update(skpartx=__version__, torch=torch.__version__, date=date.today().isoformat(),
                    threads=torch.get_num_threads())
    with open(fm.MANIFEST, "w", encoding="utf-8") as f:
        json.dump(recorded, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
