"""The probe's map size on larger images: transfer mIoU and speed by ``grid_size``.

Usage::

    python benchmarks/probe_resolution.py            # about 10 minutes on 2 CPU cores

For each synthetic family: 1,400 images of 128 px, a SmallCNN trained on the first 1,200
(5 epochs), probe transfer from 10 labelled images per class, mIoU and images/s of
``predict`` on the 200 others, for the default map (``grid_size=None``) and maps of 64, 48
and 32 pixels a side.
"""

import time

import numpy as np

from skpartx import PartImages, PartLabelTransfer
from skpartx.datasets import make_part_shapes
from skpartx.metrics import mean_iou
from skpartx.models import predict_classes, train_classifier


def main():
    print("| family | model accuracy | grid_size | map | mIoU | images/s |")
    print("|---|---|---|---|---|---|")
    for family in ("disjoint", "shared"):
        data = make_part_shapes(1400, image_size=128, family=family, random_state=0)
        train, test = np.arange(1200), np.arange(1200, 1400)
        model = train_classifier(data.images[train], data.target[train], epochs=5, random_state=0)
        accuracy = (predict_classes(model, data.images[test]) == data.target[test]).mean()
        rng = np.random.RandomState(0)
        labelled = np.concatenate([rng.permutation(np.flatnonzero(data.target[train] == c))[:10] for c in range(4)])
        X = PartImages(data.images, data.masks, data.part_names)
        unlabelled = PartImages(data.images[test], np.full_like(data.masks[test], -1), data.part_names)
        for grid in (None, 64, 48, 32):
            transfer = PartLabelTransfer(backbone=model, grid_size=grid, random_state=0).fit(X[labelled])
            transfer.predict(unlabelled[:4])  # warm-up
            start = time.perf_counter()
            predicted = transfer.predict(unlabelled)
            rate = len(test) / (time.perf_counter() - start)
            miou = mean_iou(data.masks[test], predicted, len(data.part_names))
            print(f"| {family} | {accuracy:.2f} | {grid} | {transfer.feature_size_} | {miou:.3f} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
