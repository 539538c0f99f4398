"""Part transfer: held-out mIoU against labelled images per class, and speed against the backbone.

Usage: ``python benchmarks/transfer.py [--n-test 200] [--out benchmarks/figures]``

Uses the demo's data and classifier (trained once, then cached), so the figures match
``skpartx demo``. Prints one table row per (method, labels per class) and the images/s of
each method next to the raw forward rate of the backbone on the same machine, batch size
and memory format.

``python benchmarks/transfer.py --layer-study [--csv layers.csv]`` instead measures the
automatic choice of hyperpixel layers against hand-picked layer sets, for a small ViT and a
ResNet-18-shaped CNN (Hugging Face ``ViTForImageClassification`` and
``ResNetForImageClassification`` built from configurations, trained briefly with
``train_classifier(model=...)``), on both synthetic families and two seeds; see
:func:`layer_study`.

``python benchmarks/transfer.py --probe-threads`` measures what training the probe at one
fixed thread count costs (it makes the probe the same whatever threads the caller has): the
probe transfer's fit with the library as it is, against the same fit with the thread count
left to torch, for the demo's CNN at 64 px and a ResNet-18-shaped network at 224 px; and
checks that the library's fit gives the same weights at 1 thread and at all of them.
"""

import argparse
import contextlib
import math
import os
import time
from unittest import mock

import numpy as np
import pandas as pd
import torch

from skpartx import PartImages, PartLabelTransfer
from skpartx.datasets import make_part_shapes
from skpartx.demo import DEMO_SETTINGS, default_cache_dir, trained_demo_model
from skpartx.metrics import mean_iou
from skpartx.models import predict_classes, train_classifier
from skpartx._core.torch_utils import resolve_device

from common import forward_rate


def build_vit(n_classes, image_size, settings):
    """A ViT classifier from a configuration (random weights; nothing is downloaded)."""
    from transformers import ViTConfig, ViTForImageClassification

    keys = ("patch_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    config = ViTConfig(image_size=image_size, num_labels=n_classes, **{k: settings[k] for k in keys})
    return ViTForImageClassification(config)


def build_resnet(n_classes, image_size, settings):
    """A ResNet-18-shaped classifier (basic blocks, two per stage) from a configuration."""
    from transformers import ResNetConfig, ResNetForImageClassification

    keys = ("embedding_size", "hidden_sizes", "depths")
    config = ResNetConfig(layer_type="basic", num_labels=n_classes, **{k: settings[k] for k in keys})
    return ResNetForImageClassification(config)


def vit_layer_sets(model):
    """The documented grid of hand-picked ViT layer sets (1-based block numbers in the names)."""
    (prefix,) = [
        name for name, m in model.named_modules()
        if isinstance(m, torch.nn.ModuleList) and len(m) == model.config.num_hidden_layers
    ]
    n = model.config.num_hidden_layers
    block = lambda k: f"{prefix}.{k - 1}"  # noqa: E731
    quarters = sorted({max(1, math.ceil(n * q)) for q in (0.25, 0.5, 0.75, 1.0)})
    patch = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)][0]
    return {
        "{last}": [block(n)],
        "{middle, last}": [block(math.ceil(n / 2)), block(n)],
        "{1/4, 1/2, 3/4, last}": [block(k) for k in quarters],
        "patch embedding (previous rule)": [patch],
        "patch embedding + {last}": [patch, block(n)],
        "patch embedding + {1/4, 1/2, 3/4, last}": [patch] + [block(k) for k in quarters],
    }


def resnet_layer_sets(model):
    """The documented grid of hand-picked ResNet layer sets: suffixes of the four stages."""
    stages = [f"resnet.encoder.stages.{k}" for k in range(4)]
    return {
        "{stage 4}": stages[3:],
        "{stages 3-4}": stages[2:],
        "{stages 2-4}": stages[1:],
        "{stages 1-4}": stages,
    }


# Small enough to train in well under a minute per model on two CPU cores at 64 px.
STUDY_SETTINGS = dict(
    image_size=64,
    n_train=1600,
    n_test=200,
    labelled_per_class=10,
    vit=dict(patch_size=8, hidden_size=64, num_hidden_layers=8, num_attention_heads=4, intermediate_size=128,
             epochs=15, batch_size=16, learning_rate=5e-4),
    resnet18=dict(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[2, 2, 2, 2], epochs=6, batch_size=32,
                  learning_rate=5e-3),
)
STUDY_BACKBONES = {"vit": (build_vit, vit_layer_sets), "resnet18": (build_resnet, resnet_layer_sets)}
AUTO = "automatic"
# Shown for reference, not candidates of the documented grid.
GRID_EXCLUDED = {
    "patch embedding (previous rule)", "patch embedding + {last}", "patch embedding + {1/4, 1/2, 3/4, last}",
}


def layer_study(families=("disjoint", "shared"), seeds=(0, 1), backbones=tuple(STUDY_BACKBONES), settings=None,
                device="auto"):
    """Transfer mIoU of the automatic layers and of hand-picked layer sets.

    For each family, seed and backbone: ``make_part_shapes(n_train + n_test, family=...,
    random_state=seed)`` at ``image_size``; the backbone built from its configuration,
    trained with ``train_classifier(model=..., random_state=seed)`` on the first
    ``n_train`` images; probe transfer (the default method) from ``labelled_per_class``
    labelled training images per class, drawn with ``seed``; mIoU on the ``n_test``
    held-out images. A hand-picked set equal to the automatic choice is run once and
    reported under both names.

    Returns
    -------
    rows : pandas.DataFrame
        family, seed, backbone, accuracy, layer_set, layers, miou, seconds.
    """
    s = {**STUDY_SETTINGS, **(settings or {})}
    device = resolve_device(device)
    rows = []
    for family in families:
        for seed in seeds:
            n_train, n_test = s["n_train"], s["n_test"]
            data = make_part_shapes(n_train + n_test, image_size=s["image_size"], family=family, random_state=seed)
            train, test = slice(0, n_train), slice(n_train, n_train + n_test)
            rng = np.random.RandomState(seed)
            labelled = np.concatenate([
                rng.permutation(np.flatnonzero(data.target[train] == c))[: s["labelled_per_class"]]
                for c in np.unique(data.target)
            ])
            X = PartImages(data.images[labelled], data.masks[labelled], data.part_names)
            held_out = PartImages(data.images[test], data.masks[test], data.part_names)
            for name in backbones:
                build, grid = STUDY_BACKBONES[name]
                settings_b = s[name]
                torch.manual_seed(seed)
                start = time.perf_counter()
                model = build(len(data.target_names), s["image_size"], settings_b)
                model = train_classifier(
                    data.images[train], data.target[train], model=model, epochs=settings_b["epochs"],
                    batch_size=settings_b["batch_size"], learning_rate=settings_b["learning_rate"], random_state=seed,
                    device=device,
                )
                accuracy = float((predict_classes(model, data.images[test], device=device) == data.target[test]).mean())
                print(f"{family:8s} seed {seed} {name:8s} trained in {time.perf_counter() - start:5.1f}s, "
                      f"held-out accuracy {accuracy:.3f}", flush=True)
                sets = {AUTO: None, **grid(model)}
                done = {}
                for set_name, layers in sets.items():
                    key = None if layers is None else tuple(layers)
                    if key in done:
                        result = {**done[key], "seconds": 0.0}
                    else:
                        start = time.perf_counter()
                        transfer = PartLabelTransfer(backbone=model, layers=layers, random_state=0, device=device).fit(X)
                        result = dict(layers=" ".join(transfer.layers_), miou=transfer.score(held_out),
                                      seconds=time.perf_counter() - start)
                        done[tuple(transfer.layers_)] = result
                    rows.append(dict(family=family, seed=seed, backbone=name, accuracy=accuracy, layer_set=set_name,
                                     **result))
                    print(f"    {set_name:32s} mIoU {result['miou']:.3f}  [{result['layers']}]", flush=True)
    return pd.DataFrame(rows)


def study_summary(frame):
    """Mean mIoU over seeds per family, and over everything; the criterion per backbone.

    Criterion: the automatic choice within 0.02 mIoU of the best hand-picked set (the
    reference rows excluded), on the mean over families and seeds and on each family.
    """
    table = frame.pivot_table(index=["backbone", "layer_set"], columns="family", values="miou", aggfunc="mean")
    table["mean"] = frame.pivot_table(index=["backbone", "layer_set"], values="miou", aggfunc="mean")["miou"]
    verdicts = []
    for backbone, sub in table.groupby(level="backbone"):
        sub = sub.droplevel("backbone")
        candidates = sub.drop(index=[AUTO, *GRID_EXCLUDED], errors="ignore")
        for column in sub.columns:
            gap = candidates[column].max() - sub.loc[AUTO, column]
            verdicts.append(dict(backbone=backbone, over=column, best=candidates[column].idxmax(),
                                 gap=gap, holds=bool(gap <= 0.02)))
    return table, pd.DataFrame(verdicts)


def run_layer_study(args):
    start = time.perf_counter()
    frame = layer_study(args.families, args.seeds, args.backbones, device=args.device)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    table, verdicts = study_summary(frame)
    accuracy = frame.groupby(["backbone", "family"])["accuracy"].agg(["min", "max"])
    print("\nheld-out accuracy (min, max over seeds)\n" + accuracy.round(3).to_string())
    print("\nmIoU, mean over seeds\n" + table.round(3).to_string())
    print("\ncriterion: automatic within 0.02 of the best hand-picked set\n" + verdicts.round(3).to_string(index=False))
    print(f"\ntotal {time.perf_counter() - start:.0f}s")


def probe_fit_seconds(backbone, X, repeats=2):
    """Best time of ``PartLabelTransfer(backbone).fit(X)`` (probe) over ``repeats``, and its probe's weights."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        transfer = PartLabelTransfer(backbone=backbone, random_state=0, device="cpu").fit(X)
        best = min(best, time.perf_counter() - start)
    return best, transfer.matcher_.state_dict()


def probe_threads(args):
    """Seconds to fit the probe transfer from 10 labelled images per class: as the library
    fits it (one thread for reading the labelled images and training) against the thread
    count left to torch, on this machine's cores."""
    threads = torch.get_num_threads()
    resnet_settings = dict(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2])
    cases = [
        ("demo CNN (width 16)", DEMO_SETTINGS["image_size"], lambda n: trained_demo_model(None, None, DEMO_SETTINGS,
                                                                                          default_cache_dir())[0]),
        ("ResNet-18-shaped", 224, lambda n: build_resnet(n, 224, resnet_settings).eval()),
    ]
    print(f"torch threads: {threads}")
    print("| backbone | px | fit, library (s) | fit, threads left to torch (s) | ratio | same weights at 1 and "
          f"{threads} threads |")
    print("|---|---|---|---|---|---|")
    for name, size, build in cases:
        data = make_part_shapes(40, image_size=size, random_state=0)
        backbone = build(len(data.target_names))
        X = PartImages(data.images, data.masks, data.part_names)
        fixed, weights = probe_fit_seconds(backbone, X)
        free_threads = lambda device, threads=1: contextlib.nullcontext()  # noqa: E731
        with mock.patch("skpartx.transfer._fit.fixed_cpu_threads", free_threads):
            free, _ = probe_fit_seconds(backbone, X)
        torch.set_num_threads(1)
        try:
            _, one_thread = probe_fit_seconds(backbone, X, repeats=1)
        finally:
            torch.set_num_threads(threads)
        same = all(torch.equal(weights[k], one_thread[k]) for k in weights)
        print(f"| {name} | {size} | {fixed:.2f} | {free:.2f} | {fixed / free:.2f} | {same} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probe-threads", action="store_true",
                        help="what training the probe at one fixed thread count costs")
    parser.add_argument("--layer-study", action="store_true",
                        help="automatic against hand-picked hyperpixel layers for a ViT and a ResNet")
    parser.add_argument("--families", nargs="+", default=["disjoint", "shared"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--backbones", nargs="+", default=list(STUDY_BACKBONES), choices=list(STUDY_BACKBONES))
    parser.add_argument("--csv", default=None, help="write the layer study's rows to this file")
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    parser.add_argument("--methods", nargs="+", default=["probe", "knn", "hpf"])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "figures"))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.layer_study:
        return run_layer_study(args)
    if args.probe_threads:
        return probe_threads(args)

    s = DEMO_SETTINGS
    data = make_part_shapes(
        s["n_train"] + s["n_test"], image_size=s["image_size"], n_classes=s["n_classes"], random_state=s["random_state"]
    )
    train = slice(0, s["n_train"])
    model, _ = trained_demo_model(data.images[train], data.target[train], s, default_cache_dir())
    device = resolve_device(args.device)
    test = np.arange(s["n_train"], s["n_train"] + args.n_test)
    held_out = PartImages(data.images[test], data.masks[test], data.part_names)
    rng = np.random.RandomState(0)
    order = {c: rng.permutation(np.flatnonzero(data.target[train] == c)) for c in data.rules}

    rows = []
    for method in args.methods:
        for k in args.labels:
            labelled = np.concatenate([order[c][:k] for c in data.rules])
            X = PartImages(data.images[labelled], data.masks[labelled], data.part_names)
            start = time.perf_counter()
            transfer = PartLabelTransfer(backbone=model, method=method, random_state=0, device=device).fit(X)
            fit_seconds = time.perf_counter() - start
            start = time.perf_counter()
            predicted = transfer.predict(held_out)
            seconds = time.perf_counter() - start
            miou = mean_iou(held_out.masks, predicted, len(data.part_names))
            rows.append(
                dict(method=method, labelled_per_class=k, miou=miou, fit_s=fit_seconds, images_per_s=len(test) / seconds)
            )
            print(f"{method:6s} {k:3d} labelled/class  mIoU {miou:.3f}  fit {fit_seconds:5.1f}s  "
                  f"{len(test) / seconds:7.1f} images/s", flush=True)

    rate = forward_rate(model, data.images, device, batch_size=128)
    frame = pd.DataFrame(rows)
    print(f"\nbackbone forward: {rate:.0f} images/s ({device})")
    speed = frame[frame.labelled_per_class == 10].set_index("method")["images_per_s"]
    for method, value in speed.items():
        print(f"{method:6s} transfer at 10 labelled/class: {value:.1f} images/s = {value / rate:.4f} x forward rate")
    print("\n" + frame.pivot(index="labelled_per_class", columns="method", values="miou").round(3).to_string())

    import matplotlib

    matplotlib.use("Agg")
    from skpartx.plotting import plot_miou_curve

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "transfer_miou.png")
    plot_miou_curve(frame).savefig(path, dpi=110)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
