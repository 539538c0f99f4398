"""Whole-pipeline throughput and memory: transfer + attribution + rules over data on disk.

For each data-set size N, a fresh process writes N synthetic images (uint8) and their
masks (int16, -1 except on 10 labelled images per class) to ``.npy`` files in blocks, and
another fresh process runs the pipeline on them as NumPy memmaps: images are read batch by
batch, the transfer's filled masks go to ``out_dir`` as a memmap, attribution runs chunk by
chunk. It prints the seconds and images/s of every stage, the pipeline's images/s as a
share of the raw forward rate of the same model, and two peak memory figures: the peak
resident set (which includes the pages of the memmapped files the kernel kept mapped:
reclaimable page cache) and the peak of anonymous memory (what the process itself
allocated, sampled every 50 ms), which is what stays flat in N.

    python benchmarks/pipeline.py --sizes 1000 10000 100000 --method occlusion
    python benchmarks/pipeline.py --sizes 1000 10000 --method shapley
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from skpartx import GlobalRuleExplainer, PartAttributor, PartImages, PartLabelTransfer, predict_classes
from skpartx.datasets import make_part_shapes
from skpartx.models import train_classifier

from common import forward_rate

BLOCK = 5000  # images generated per step when writing a data set
LABELLED_PER_CLASS = 10


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def write_data_set(folder, n_images, image_size):
    """Synthetic images, masks (unlabelled but for a few per class) and part names, written to
    ``folder`` block by block, so that writing needs no more memory for 100k images than for 1k."""
    folder = Path(folder)
    images = np.lib.format.open_memmap(folder / "images.npy", "w+", np.uint8, (n_images, 3, image_size, image_size))
    masks = np.lib.format.open_memmap(folder / "masks.npy", "w+", np.int16, (n_images, image_size, image_size))
    for start in range(0, n_images, BLOCK):
        stop = min(start + BLOCK, n_images)
        block = make_part_shapes(stop - start, image_size=image_size, random_state=1 + start // BLOCK)
        images[start:stop] = np.round(block.images * 255).astype(np.uint8)
        block_masks = np.full(block.masks.shape, -1, dtype=np.int16)
        if start == 0:  # the user's labels: a few images per class of the first block
            rng = np.random.RandomState(0)
            labelled = np.concatenate(
                [rng.permutation(np.flatnonzero(block.target == c))[:LABELLED_PER_CLASS] for c in block.rules]
            )
            block_masks[labelled] = block.masks[labelled]
            np.save(folder / "labelled.npy", labelled)
            (folder / "part_names.json").write_text(json.dumps(list(block.part_names)))
        masks[start:stop] = block_masks
    images.flush()
    masks.flush()


class AnonymousMemoryPeak:
    """Peak of the process's anonymous resident memory (``RssAnon``), sampled in a thread."""

    def __init__(self, interval=0.05):
        self.interval, self.peak_kib, self._stop = interval, 0, threading.Event()

    @staticmethod
    def current_kib():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
        return 0

    def _sample(self):
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, self.current_kib())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, self.current_kib())


def measure(folder, image_size, method, device, compile_model=False, n_train=2000, epochs=6):
    """One run over the data set in ``folder``: a dict of figures."""
    folder = Path(folder)
    train = make_part_shapes(n_train, image_size=image_size, random_state=0)
    model = train_classifier(train.images, train.target, epochs=epochs, random_state=0)
    del train
    explained = torch.compile(model) if compile_model else model
    part_names = json.loads((folder / "part_names.json").read_text())
    labelled = np.load(folder / "labelled.npy")
    X = PartImages(np.load(folder / "images.npy", mmap_mode="r"), np.load(folder / "masks.npy", mmap_mode="r"),
                   part_names)
    n_images = len(X)
    with AnonymousMemoryPeak() as anonymous, tempfile.TemporaryDirectory() as out_dir:
        decisions, t_decide = timed(lambda: predict_classes(explained, X, device=device))
        transfer = PartLabelTransfer(backbone=model, device=device, random_state=0, out_dir=out_dir, chunk_size=4096)
        _, t_transfer_fit = timed(lambda: transfer.fit(X[labelled]))
        filled, t_transfer = timed(lambda: transfer.transform(X))
        attributor = PartAttributor(explained, method=method, baseline="mean", device=device, random_state=0)
        scores, t_attribute = timed(lambda: attributor.fit(filled).set_output(transform="pandas").transform(filled))
        rules, t_rules = timed(lambda: GlobalRuleExplainer(binarize="fraction", candidates="subsets").fit(scores, decisions))
        fidelity = rules.score(scores, decisions)
    total = t_decide + t_transfer_fit + t_transfer + t_attribute + t_rules
    forward = forward_rate(model, np.asarray(X.images[:4096]), device, batch_size=256)
    return {
        "n_images": n_images,
        "forward images/s": forward,
        "decisions s": t_decide,
        "transfer fit s": t_transfer_fit,
        "transfer s": t_transfer,
        "attribution s": t_attribute,
        "rules s": t_rules,
        "total s": total,
        "pipeline images/s": n_images / total,
        "pipeline / forward": n_images / total / forward,
        "fidelity": fidelity,
        "peak RSS MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak anon MiB": anonymous.peak_kib / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--image-size", type=int, default=40)
    parser.add_argument("--method", default="shapley")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="explain torch.compile(model)")
    parser.add_argument("--data-dir", help="where the data sets are written (default: a temporary folder)")
    parser.add_argument("--write", nargs=2, help=argparse.SUPPRESS)  # internal: write N images to a folder
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one folder, print JSON
    args = parser.parse_args()
    if args.write:
        write_data_set(args.write[1], int(args.write[0]), args.image_size)
        return
    if args.one:
        print(json.dumps(measure(args.one, args.image_size, args.method, args.device, args.compile)))
        return
    print(f"device {args.device}, torch {torch.__version__}, {args.image_size}-px images, method {args.method}"
          f"{', torch.compile' if args.compile else ''}")
    rows = []
    with tempfile.TemporaryDirectory(dir=args.data_dir) as root:
        for n in args.sizes:
            folder = Path(root) / f"n{n}"
            folder.mkdir()
            common = ["--image-size", str(args.image_size)]
            subprocess.run([sys.executable, __file__, "--write", str(n), str(folder), *common], check=True)
            command = [sys.executable, __file__, "--one", str(folder), *common, "--method", args.method,
                       "--device", args.device] + (["--compile"] if args.compile else [])
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
            for name in ("images.npy", "masks.npy"):
                (folder / name).unlink()
            print(json.dumps(rows[-1]), flush=True)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
