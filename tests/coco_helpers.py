"""COCO run-length encoding for test fixtures (an independent encoder, as pycocotools writes),
and the files a user of the command line would have."""

import os

import numpy as np
import torch
from PIL import Image


def rle_counts(mask):
    """Uncompressed COCO RLE counts: runs down the columns, zeros first."""
    flat = mask.flatten(order="F").astype(np.int8)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    return [0] + counts if flat[0] else counts


def rle_string(counts):
    """COCO compressed RLE string, after pycocotools' rleToString."""
    chars = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            chars.append(chr((c | 0x20 if more else c) + 48))
    return "".join(chars)


def coco_parts_file(path, file_names, masks, part_names):
    """Write COCO part annotations (uncompressed RLE per part) for ``masks`` labelled with
    ids 1..P-1 (0 background); categories carry ``part_names[1:]``."""
    import json

    images, annotations = [], []
    for image_id, (name, mask) in enumerate(zip(file_names, masks), start=1):
        height, width = mask.shape
        images.append({"id": image_id, "file_name": name, "height": height, "width": width})
        for part in range(1, len(part_names)):
            if (mask == part).any():
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": part,
                        "segmentation": {"size": [height, width], "counts": rle_counts(mask == part)},
                        "iscrowd": 0,
                    }
                )
    categories = [{"id": k, "name": n, "supercategory": "object"} for k, n in enumerate(part_names) if k > 0]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, handle)


def write_user_files(root, data, model, idx, labelled_per_class):
    """Write what a user brings to ``skpartx explain`` / ``compare`` under ``root``.

    An image folder (class sub-folders ``{id}_{name}`` in the model's output order) holding
    the images ``idx`` of ``data``, a COCO file ``parts.json`` with the part masks of the
    first ``labelled_per_class`` images of each class, and ``model`` as TorchScript
    (``model.pt``) and as a state dict (``weights.pt``). Returns the class folder names.
    """
    images = root / "images"
    folders = [f"{c}_{name}" for c, name in enumerate(data.target_names)]
    names, labelled = [], []
    for i in idx:
        folder = folders[data.target[i]]
        os.makedirs(images / folder, exist_ok=True)
        name = f"{folder}/img{i}.png"
        Image.fromarray((data.images[i].transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(images / name)
        names.append(name)
        if sum(n.startswith(folder) for n in labelled) < labelled_per_class:
            labelled.append(name)
    chosen = [names.index(n) for n in labelled]
    coco_parts_file(root / "parts.json", labelled, data.masks[idx[chosen]], data.part_names)
    size = data.images.shape[-1]
    torch.jit.trace(model.eval(), torch.zeros(1, 3, size, size)).save(str(root / "model.pt"))
    torch.save(model.state_dict(), root / "weights.pt")
    return folders
