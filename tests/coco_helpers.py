"""COCO run-length encoding for test fixtures (an independent encoder, as pycocotools writes)."""

import numpy as np


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
