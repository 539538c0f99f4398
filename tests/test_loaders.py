"""Tests of the data set loaders, on tiny image, JSON and text files written under tmp_path.

Expected masks are built here independently of the loaders: rectangles and disks with
numpy, RLE runs by hand, and resized masks by repeating pixels (an integer NEAREST
upscale) or with PIL.
"""

import json
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from coco_helpers import rle_counts, rle_string
from skpartx import PartImages
from skpartx.datasets import from_torch_dataset, load_coco_parts, load_cub_parts, load_image_folder

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# --------------------------------------------------------------------------- helpers


def write_image(path, height, width, color=RED, mode="RGB", box=None, box_color=GREEN):
    """A flat image, with the rectangle ``box = (rows, cols)`` (inclusive bounds) in ``box_color``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new(mode, (width, height), color)
    if box is not None:
        (r0, r1), (c0, c1) = box
        image.paste(box_color, (c0, r0, c1 + 1, r1 + 1))
    image.save(path)
    return path


def rect(height, width, rows, cols):
    """Boolean mask of the rectangle with inclusive row and column bounds."""
    mask = np.zeros((height, width), dtype=bool)
    mask[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = True
    return mask


def rect_polygon(rows, cols):
    (r0, r1), (c0, c1) = rows, cols
    return [c0, r0, c1, r0, c1, r1, c0, r1]


def upscale(mask, factor):
    """NEAREST upscaling by an integer factor: every pixel becomes a factor x factor block."""
    return np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)


def write_json(path, content):
    path.write_text(json.dumps(content))
    return path


# --------------------------------------------------------------------------- image folder


def test_image_folder_classes_sizes_and_colours(tmp_path):
    write_image(tmp_path / "cat" / "a.png", 20, 30, RED)
    write_image(tmp_path / "cat" / "deep" / "b.JPG", 40, 40, GREEN)
    write_image(tmp_path / "dog" / "c.bmp", 40, 60, 128, mode="L")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()

    data = load_image_folder(tmp_path, image_size=(24, 36))

    assert isinstance(data.X, PartImages)
    assert data.X.shape == (3, 3, 24, 36) and data.X.images.dtype == np.float32
    assert data.target.tolist() == [0, 0, 1]
    assert data.target_names == ("cat", "dog")
    assert data.paths == (os.path.join("cat", "a.png"), os.path.join("cat", "deep", "b.JPG"), os.path.join("dog", "c.bmp"))
    assert data.part_names == ("background",)
    assert (data.X.masks == -1).all()
    red = data.X.images[0]
    np.testing.assert_allclose(red[0], 1.0)
    np.testing.assert_allclose(red[1:], 0.0)
    grey = data.X.images[2]  # grayscale converted to RGB
    np.testing.assert_allclose(grey, 128 / 255, atol=1e-6)
    assert load_image_folder(tmp_path, image_size=16).X.shape == (3, 3, 16, 16)


def test_image_folder_empty_class_warns_and_keeps_ids(tmp_path):
    write_image(tmp_path / "a" / "x.png", 8, 8)
    (tmp_path / "b").mkdir()
    write_image(tmp_path / "c" / "y.png", 8, 8)
    with pytest.warns(UserWarning, match=r"\['b'\]"):
        data = load_image_folder(tmp_path, image_size=8)
    assert data.target_names == ("a", "b", "c")
    assert data.target.tolist() == [0, 2]


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="No image"):
        load_image_folder(tmp_path)
    write_image(tmp_path / "a" / "x.png", 8, 8)
    for bad in (0, (8,), 8.5, "8"):
        with pytest.raises(ValueError, match="image_size"):
            load_image_folder(tmp_path, image_size=bad)


# --------------------------------------------------------------------------- COCO parts

CATEGORIES = [  # deliberately not sorted by id; "Cat Ear" is never used
    {"id": 7, "name": "Fish Fin", "supercategory": "Fish"},
    {"id": 3, "name": "Bird Head", "supercategory": "Bird"},
    {"id": 9, "name": "Cat Ear", "supercategory": "Cat"},
    {"id": 5, "name": "Bird Wing", "supercategory": "Bird"},
]
PART_NAMES = ("background", "Bird Head", "Bird Wing", "Fish Fin", "Cat Ear")
HEAD, WING, FIN = 1, 2, 3


@pytest.fixture
def coco(tmp_path):
    """Three images (20x30, 40x60, 20x30 without annotations) and their expected masks."""
    root = tmp_path / "images"
    head0 = ((3, 7), (2, 9))
    write_image(root / "n01" / "a.png", 20, 30, RED, box=head0)  # the head shows green
    write_image(root / "n02" / "b.png", 40, 60, GREEN)
    write_image(root / "n02" / "c.jpg", 20, 30, BLUE)

    wing0 = rect(20, 30, (10, 15), (12, 20))
    wing0[12, 15] = False
    fin0 = ((5, 12), (6, 8))  # overlaps head0 and comes later: wins there
    head1 = ((30, 35), (40, 50))
    fin1 = np.random.RandomState(0).random_sample((40, 60)) < 0.3
    fin1[:, :20] = False  # long runs, and differences to the count two before of either sign
    fin1[33, 45] = True  # over head1, drawn later
    fin2 = rect(40, 60, (0, 1), (58, 59))

    anns = [
        {"id": 1, "image_id": 10, "category_id": 3, "segmentation": [rect_polygon(*head0)], "iscrowd": 0},
        {"id": 2, "image_id": 10, "category_id": 5, "iscrowd": 1,
         "segmentation": {"size": [20, 30], "counts": rle_counts(wing0)}},
        {"id": 3, "image_id": 10, "category_id": 7, "segmentation": [rect_polygon(*fin0)], "iscrowd": 0},
        {"id": 4, "image_id": 11, "category_id": 3, "segmentation": [rect_polygon(*head1)], "iscrowd": 0},
        {"id": 5, "image_id": 11, "category_id": 7, "iscrowd": 0,
         "segmentation": {"size": [40, 60], "counts": rle_string(rle_counts(fin1))}},
        {"id": 6, "image_id": 11, "category_id": 7, "iscrowd": 0,
         "segmentation": {"size": [40, 60], "counts": rle_string(rle_counts(fin2))}},
    ]  # fmt: skip
    images = [
        {"id": 10, "file_name": "n01/a.png", "height": 20, "width": 30},
        {"id": 11, "file_name": "n02/b.png", "height": 40, "width": 60},
        {"id": 12, "file_name": "n02/c.jpg", "height": 20, "width": 30},
    ]
    content = {"images": images, "categories": CATEGORIES, "annotations": anns}

    m0 = np.zeros((20, 30), dtype=np.int32)
    m0[rect(20, 30, *head0)] = HEAD
    m0[wing0] = WING
    m0[rect(20, 30, *fin0)] = FIN
    m1 = np.zeros((40, 60), dtype=np.int32)
    m1[rect(40, 60, *head1)] = HEAD
    m1[fin1 | fin2] = FIN
    return {
        "path": write_json(tmp_path / "parts.json", content),
        "content": content,
        "root": root,
        "masks": (m0, m1, np.full((20, 30), -1)),
    }


def load_quietly(*args, **kwargs):
    with pytest.warns(UserWarning, match="no class"):
        return load_coco_parts(*args, **kwargs)


def test_coco_masks_resized(coco):
    data = load_quietly(coco["path"], coco["root"], image_size=(40, 60))
    m0, m1, m2 = coco["masks"]
    assert data.X.shape == (3, 3, 40, 60)
    assert data.part_names == PART_NAMES
    assert data.category_ids == (3, 5, 7, 9)
    assert data.part_supercategories == (None, "Bird", "Bird", "Fish", "Cat")
    np.testing.assert_array_equal(data.X.masks[0], upscale(m0, 2))
    np.testing.assert_array_equal(data.X.masks[1], m1)  # not resized: exact
    assert (data.X.masks[2] == -1).all()  # no annotation: unlabelled, not background
    assert data.X.labelled.tolist() == [True, True, False]
    np.testing.assert_allclose(data.X.images[1, [0, 2]], 0.0)
    assert data.paths == ("n01/a.png", "n02/b.png", "n02/c.jpg")
    assert data.image_ids == (10, 11, 12)


def test_coco_exact_pixels_and_overlap_unresized(coco):
    content = dict(coco["content"], images=[coco["content"]["images"][0]])
    content["annotations"] = [a for a in content["annotations"] if a["image_id"] == 10]
    data = load_coco_parts(content, coco["root"], image_size=(20, 30))
    mask = data.X.masks[0]
    np.testing.assert_array_equal(mask, coco["masks"][0])
    # Image and mask line up: the green box is where the head polygon was drawn.
    np.testing.assert_array_equal(data.X.images[0, 1] == 1.0, rect(20, 30, (3, 7), (2, 9)))
    np.testing.assert_array_equal(data.X.images[0, 0] == 1.0, ~rect(20, 30, (3, 7), (2, 9)))
    assert (mask[5:8, 6:9] == FIN).all()  # the later annotation wins the overlap
    assert {tuple(p) for p in np.argwhere(mask == HEAD)} == {
        (r, c) for r in range(3, 8) for c in range(2, 10) if not (5 <= r <= 7 and 6 <= c <= 8)
    }
    # The same annotations in the other order: now the head wins.
    content["annotations"] = [content["annotations"][i] for i in (2, 1, 0)]
    swapped = load_coco_parts(content, coco["root"], image_size=(20, 30)).X.masks[0]
    assert (swapped[5:8, 6:9] == HEAD).all() and (swapped[8:13, 6:9] == FIN).all()


def test_coco_odd_resize_is_pil_nearest(coco):
    data = load_quietly(coco["path"], coco["root"], image_size=(17, 23))
    expected = Image.fromarray(coco["masks"][0]).resize((23, 17), Image.Resampling.NEAREST)
    np.testing.assert_array_equal(data.X.masks[0], np.asarray(expected))
    assert set(np.unique(data.X.masks[1])) <= {0, HEAD, FIN}  # ids never blend


def rle_image(tmp_path, height, width, segmentations, name="x.png"):
    """A COCO dict with one image of the given size and one Bird Head annotation per segmentation."""
    write_image(tmp_path / name, height, width)
    anns = [
        {"id": k, "image_id": 1, "category_id": 3, "segmentation": s} for k, s in enumerate(segmentations)
    ]
    images = [{"id": 1, "file_name": name, "height": height, "width": width}]
    return {"images": images, "categories": CATEGORIES, "annotations": anns}


def test_rle_compressed_strings_known_by_hand(tmp_path):
    # Derived by hand from pycocotools' rleToString: counts from the fourth on are
    # stored as differences to the count two before (40 - 3 = 37; 3 - 40 = -37).
    assert rle_string([5, 3, 2, 40]) == "532U1" and rle_string([10, 40, 2, 3]) == ":X12kN"
    first = np.zeros((5, 10), dtype=np.int32)  # 5 zeros, 3 ones, 2 zeros, 40 ones, down columns
    first[0:3, 1] = 1
    first[:, 2:] = 1
    second = np.zeros((5, 11), dtype=np.int32)  # 10 zeros, 40 ones, 2 zeros, 3 ones
    second[:, 2:10] = 1
    second[2:, 10] = 1
    for counts, expected in (("532U1", first), (":X12kN", second)):
        h, w = expected.shape
        coco = rle_image(tmp_path, h, w, [{"size": [h, w], "counts": counts}])
        data = load_coco_parts(coco, tmp_path, image_size=(h, w))
        np.testing.assert_array_equal(data.X.masks[0], expected)


def test_rle_round_trip_list_and_string(tmp_path):
    rng = np.random.RandomState(1)
    for density in (0.02, 0.5, 0.97):
        known = rng.random_sample((40, 60)) < density
        known[:, 30:] = density > 0.5  # runs of hundreds of pixels
        for counts in (rle_counts(known), rle_string(rle_counts(known))):
            coco = rle_image(tmp_path, 40, 60, [{"size": [40, 60], "counts": counts}])
            mask = load_coco_parts(coco, tmp_path, image_size=(40, 60)).X.masks[0]
            np.testing.assert_array_equal(mask, known.astype(np.int32))
    # A mask starting with ones has a leading zero-length run.
    known = rect(40, 60, (0, 3), (0, 0))
    assert rle_counts(known)[0] == 0
    coco = rle_image(tmp_path, 40, 60, [{"size": [40, 60], "counts": rle_string(rle_counts(known))}])
    np.testing.assert_array_equal(load_coco_parts(coco, tmp_path, image_size=(40, 60)).X.masks[0], known)


def test_coco_class_from_modes(coco):
    with pytest.warns(UserWarning, match="1 image"):
        data = load_coco_parts(coco["path"], coco["root"], image_size=8)
    # Most frequent supercategory: image 10 has Bird 2 : Fish 1, image 11 Fish 2 : Bird 1.
    assert data.target_names == ("Bird", "Cat", "Fish")
    assert data.target.tolist() == [0, 2, -1]

    data = load_coco_parts(coco["path"], coco["root"], image_size=8, class_from="folder")
    assert data.target_names == ("n01", "n02") and data.target.tolist() == [0, 1, 1]

    def by_id(record):
        return {10: "zebra", 12: "ant"}.get(record["id"])

    with pytest.warns(UserWarning, match="returned None"):
        data = load_coco_parts(coco["path"], coco["root"], image_size=8, class_from=by_id)
    assert data.target_names == ("ant", "zebra") and data.target.tolist() == [1, -1, 0]

    with pytest.raises(ValueError, match="class_from"):
        load_coco_parts(coco["path"], coco["root"], class_from="category")
    with pytest.raises(TypeError, match="class name"):
        load_coco_parts(coco["path"], coco["root"], class_from=lambda record: record["id"])


def test_coco_supercategory_tie_goes_to_first_name(tmp_path):
    fish, bird = [rect_polygon((0, 1), (0, 1))], [rect_polygon((3, 4), (3, 4))]
    coco = rle_image(tmp_path, 8, 8, [fish, bird])
    coco["annotations"][0]["category_id"] = 7
    data = load_coco_parts(coco, tmp_path, image_size=8)
    assert data.target_names[data.target[0]] == "Bird"


def test_coco_rejects_paths_outside_root(coco, tmp_path):
    outside = write_image(tmp_path / "outside.png", 20, 30)
    os.symlink(outside, coco["root"] / "link.png")
    for name in ("../outside.png", "n01/../../outside.png", str(outside), "link.png"):
        content = dict(coco["content"], images=[dict(coco["content"]["images"][2], file_name=name)], annotations=[])
        with pytest.raises(ValueError, match="outside|absolute") as error:
            load_coco_parts(content, coco["root"], class_from="folder" if "/" in name else lambda r: "x")
        assert name in str(error.value)
    inside = str(coco["root"] / "n02" / "c.jpg")  # absolute, though inside the root: still refused
    content = dict(coco["content"], images=[dict(coco["content"]["images"][2], file_name=inside)], annotations=[])
    with pytest.raises(ValueError, match="absolute"):
        load_coco_parts(content, coco["root"], class_from=lambda r: "x")


def test_coco_missing_image_and_bad_files(coco, tmp_path):
    content = dict(coco["content"], images=[dict(coco["content"]["images"][2], file_name="n01/missing.png")])
    content["annotations"] = []
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_coco_parts(content, coco["root"], class_from="folder")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_coco_parts(tmp_path / "nope.json", coco["root"])
    (tmp_path / "evil.json").write_bytes(pickle.dumps({"images": []}))
    with pytest.raises(ValueError):  # JSON only: a pickle is not read
        load_coco_parts(tmp_path / "evil.json", coco["root"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["annotations"][0].update(category_id=4), "unknown category_id"),
        (lambda c: c["annotations"][0].update(image_id=99), "no known image"),
        (lambda c: c["annotations"][0].update(segmentation={"size": [8, 8], "counts": [10, 3]}), "sum"),
        (lambda c: c["annotations"][0].update(segmentation={"size": [9, 8], "counts": [72]}), "does not match"),
        (lambda c: c["annotations"][0].update(segmentation={"size": [8, 8], "counts": "0~"}), "cannot occur"),
        (lambda c: c["annotations"][0].update(segmentation=[[1, 2, 3]]), "x, y pairs"),
        (lambda c: c["images"][0].update(height=10), "line up"),
        (lambda c: c["images"].append(dict(c["images"][0])), "more than once"),
    ],
)
def test_coco_invalid_annotations(tmp_path, change, message):
    coco = rle_image(tmp_path, 8, 8, [[rect_polygon((1, 2), (1, 2))]])
    change(coco)
    with pytest.raises(ValueError, match=message):
        load_coco_parts(coco, tmp_path, image_size=8)


# --------------------------------------------------------------------------- CUB-200-2011

CUB_PARTS = ("background", "back", "left eye", "right wing")


@pytest.fixture
def cub(tmp_path):
    root = tmp_path / "CUB_200_2011"
    write_image(root / "images" / "001.A" / "a.png", 20, 30, RED)
    write_image(root / "images" / "002.B" / "b.png", 40, 60, GREEN)
    write_image(root / "images" / "001.A" / "c.png", 20, 30, BLUE)
    (root / "parts").mkdir()
    files = {
        "images.txt": "1 001.A/a.png\n2 002.B/b.png\n\n3 001.A/c.png\n",
        "image_class_labels.txt": "1 1\n2 2\n3 1\n",
        "classes.txt": "2 002.B\n1 001.A\n",
        "train_test_split.txt": "1 1\n2 0\n3 1\n",
        "parts/parts.txt": "1 back\n2 left eye\n3 right wing\n",
        "parts/part_locs.txt": (
            "1 1 10.0 8.0 1\n1 2 16.0 8.0 1\n1 3 0.0 0.0 0\n"
            "2 1 0.0 0.0 0\n2 2 0.0 0.0 0\n2 3 50.0 30.0 1\n"
            "3 1 0.0 0.0 0\n3 2 0.0 0.0 0\n3 3 0.0 0.0 0\n"
        ),
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def expected_disks(height, width, points, radius):
    """Label of the nearest visible keypoint (first on ties) within ``radius`` pixels, else -1."""
    rows, cols = np.mgrid[0:height, 0:width]
    d2 = np.stack([(cols - x) ** 2 + (rows - y) ** 2 for x, y in points])
    expected = np.argmin(d2, axis=0) + 1
    expected[d2.min(axis=0) > radius**2] = -1
    return expected


# radius 0.25: 5 pixels in the 20x30 image, 10 in the 40x60 one
DISKS_A = expected_disks(20, 30, [(10, 8), (16, 8)], 5)
DISKS_B = np.where(expected_disks(40, 60, [(50, 30)], 10) > 0, 3, -1)


def test_cub_disks_exact_unresized_train_split(cub):
    data = load_cub_parts(cub, image_size=(20, 30), radius=0.25, split="train")
    assert data.X.shape == (2, 3, 20, 30)
    assert data.image_ids.tolist() == [1, 3] and data.is_train.tolist() == [True, True]
    assert data.paths == (os.path.join("images", "001.A/a.png"), os.path.join("images", "001.A/c.png"))
    assert data.part_names == CUB_PARTS
    assert data.target_names == ("001.A", "002.B") and data.target.tolist() == [0, 0]
    mask = data.X.masks[0]
    np.testing.assert_array_equal(mask, DISKS_A)
    # Within the radius: labelled; beyond: unlabelled, not background.
    assert mask[8, 5] == 1 and mask[8, 4] == -1 and mask[3, 10] == 1 and mask[2, 10] == -1
    # Overlap: the closer keypoint wins; at equal distance (column 13), the earlier part.
    assert mask[8, 12] == 1 and mask[8, 14] == 2 and mask[8, 13] == 1
    assert (mask == 0).sum() == 0 and (mask >= 1).sum() == len(np.argwhere(DISKS_A > 0))
    assert (data.X.masks[1] == -1).all()  # no visible keypoint
    np.testing.assert_array_equal(data.keypoints[0], [[10, 8, 1], [16, 8, 1], [0, 0, 0]])


def test_cub_resized_masks_and_keypoints(cub):
    data = load_cub_parts(cub, image_size=(40, 60), radius=0.25)
    assert data.X.shape == (3, 3, 40, 60)
    assert data.is_train.tolist() == [True, False, True] and data.target.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(data.X.masks[0], upscale(DISKS_A, 2))
    np.testing.assert_array_equal(data.X.masks[1], DISKS_B)  # clipped at the bottom edge
    full_disk = sum(dx * dx + dy * dy <= 100 for dx in range(-10, 11) for dy in range(-10, 11))
    # Of the whole disk, only pixels (row 40, col 50) and (row 30, col 60) fall outside.
    assert data.X.masks[1, 39, 50] == 3 and (data.X.masks[1] == 3).sum() == full_disk - 2
    # Pixel-centre aligned: pixel 10 of 30 covers output pixels 20 and 21, centre 20.5.
    np.testing.assert_allclose(data.keypoints[0, :2], [[20.5, 16.5, 1], [32.5, 16.5, 1]])
    np.testing.assert_allclose(data.keypoints[1, 2], [50, 30, 1])
    assert data.keypoints.shape == (3, 3, 3) and data.keypoints.dtype == np.float32
    small = load_cub_parts(cub, image_size=16, split="test")
    assert small.X.shape == (1, 3, 16, 16) and small.image_ids.tolist() == [2]
    assert small.is_train.tolist() == [False] and small.target.tolist() == [1]


def test_cub_without_split_file(cub):
    (cub / "train_test_split.txt").unlink()
    assert load_cub_parts(cub, image_size=8).is_train is None
    with pytest.raises(FileNotFoundError, match="train_test_split.txt"):
        load_cub_parts(cub, image_size=8, split="train")


def test_cub_errors(cub, tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_cub_parts(cub, split="val")
    with pytest.raises(ValueError, match="radius"):
        load_cub_parts(cub, radius=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cub_parts(tmp_path / "nowhere")
    (cub / "parts" / "part_locs.txt").write_text("1 1 10.0 eight 1\n")
    with pytest.raises(ValueError, match="line 1"):
        load_cub_parts(cub)
    (cub / "parts" / "parts.txt").unlink()
    with pytest.raises(FileNotFoundError, match="parts.txt"):
        load_cub_parts(cub)


def test_cub_rejects_paths_outside_images_and_missing_files(cub, tmp_path):
    outside = write_image(tmp_path / "outside.png", 8, 8)
    for name, line in (("image_class_labels.txt", "4 1\n"), ("train_test_split.txt", "4 0\n")):
        with open(cub / name, "a") as file:
            file.write(line)
    images = (cub / "images.txt").read_text()
    for name in ("../../outside.png", str(outside)):
        (cub / "images.txt").write_text(f"{images}4 {name}\n")
        with pytest.raises(ValueError, match="outside|absolute") as error:
            load_cub_parts(cub, image_size=8)
        assert name in str(error.value)
    (cub / "images.txt").write_text(f"{images}4 001.A/gone.png\n")
    with pytest.raises(FileNotFoundError, match="gone.png"):
        load_cub_parts(cub, image_size=8)


# --------------------------------------------------------------------------- torch data sets


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, items, classes=None):
        self.items = items
        if classes is not None:
            self.classes = classes

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


class StreamDataset(torch.utils.data.IterableDataset):
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


def test_torch_tuple_of_float_image_and_target():
    images = torch.rand(5, 3, 6, 7)
    dataset = ListDataset([(images[i], i % 2) for i in range(5)], classes=["no", "yes"])
    data = from_torch_dataset(dataset, batch_size=2)
    np.testing.assert_array_equal(data.X.images, images.numpy())
    assert (data.X.masks == -1).all() and data.X.part_names == ("background",)
    assert data.target.tolist() == [0, 1, 0, 1, 0] and data.target.dtype == np.int64
    assert data.target_names == ("no", "yes") and data.paths is None


def test_torch_uint8_images_alone():
    images = torch.randint(0, 256, (3, 3, 4, 4), dtype=torch.uint8)
    data = from_torch_dataset(ListDataset(list(images)))
    np.testing.assert_allclose(data.X.images, images.numpy() / 255.0, atol=1e-7)
    assert data.target is None and data.target_names == ()


def test_torch_image_and_mask_pairs():
    masks = torch.randint(-1, 3, (4, 5, 6))
    dataset = ListDataset([(torch.rand(3, 5, 6), masks[i]) for i in range(4)])
    data = from_torch_dataset(dataset, part_names=["background", "head", "tail"])
    np.testing.assert_array_equal(data.X.masks, masks.numpy())
    assert data.target is None and data.part_names == ("background", "head", "tail")


def test_torch_triples_resized():
    image = torch.zeros(3, 5, 6, dtype=torch.uint8)
    image[1] = 200  # a flat colour stays flat under bilinear resizing
    mask = torch.randint(0, 3, (5, 6), dtype=torch.uint8)
    dataset = ListDataset([(image, mask, torch.tensor(2)), (image, mask, np.int64(0))])
    data = from_torch_dataset(dataset, image_size=(10, 12))
    assert data.X.shape == (2, 3, 10, 12)
    np.testing.assert_allclose(data.X.images[:, 1], 200 / 255, atol=1e-6)
    np.testing.assert_allclose(data.X.images[:, [0, 2]], 0.0)
    np.testing.assert_array_equal(data.X.masks[0], upscale(mask.numpy(), 2))
    assert data.target.tolist() == [2, 0] and data.target_names == ("0", "1", "2")


def test_torch_resizing_is_bilinear_like_pil():
    pixels = np.zeros((6, 8, 3), dtype=np.uint8)
    pixels[:, :3] = (255, 40, 0)
    pixels[2:4, 5:] = (0, 255, 90)
    data = from_torch_dataset(ListDataset([torch.from_numpy(pixels.transpose(2, 0, 1).copy())]), image_size=(9, 13))
    reference = np.asarray(Image.fromarray(pixels).resize((13, 9), Image.Resampling.BILINEAR)) / 255.0
    np.testing.assert_allclose(data.X.images[0], reference.transpose(2, 0, 1), atol=1.5 / 255)
    assert len(np.unique(data.X.images[0, 0])) > 2  # blended at edges, not nearest


def test_torch_dicts_pil_images_and_iterable_datasets():
    mask = torch.ones(4, 4, dtype=torch.long)
    items = [{"image": torch.rand(3, 4, 4), "mask": mask, "target": 1, "id": "ignored"} for _ in range(3)]
    data = from_torch_dataset(ListDataset(items))
    assert (data.X.masks == 1).all() and data.target.tolist() == [1, 1, 1]
    data = from_torch_dataset(StreamDataset([{"image": torch.rand(3, 4, 4)} for _ in range(5)]), batch_size=2)
    assert len(data.X) == 5 and data.target is None
    # Untransformed torchvision-style items: (PIL image of any size, class index).
    pil = [(Image.new("RGB", (30, 20), RED), 0), (Image.new("L", (8, 8), 255), 1)]
    data = from_torch_dataset(ListDataset(pil), image_size=8)
    assert data.X.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(data.X.images[0, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(data.X.images[1], 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "items, error, message",
    [
        ([(torch.rand(3, 4, 4), 1), (torch.rand(3, 4, 4), torch.zeros(4, 4, dtype=torch.long))], ValueError, "form"),
        ([(torch.rand(3, 4, 4), torch.zeros(4, 4))], TypeError, "integer"),
        ([torch.rand(3, 4, 4), torch.rand(3, 5, 5)], ValueError, "image_size"),
        ([torch.rand(3, 4, 4) * 2 - 1], ValueError, r"\[0, 1\]"),
        ([(torch.rand(3, 4, 4), torch.zeros(5, 4, dtype=torch.long))], ValueError, "shape"),
        ([(torch.rand(3, 4, 4), 1.5)], TypeError, "integer"),
        ([torch.rand(4, 4)], ValueError, r"\(C, H, W\)"),
        ([{"img": torch.rand(3, 4, 4)}], ValueError, "'image'"),
        ([], ValueError, "empty"),
    ],
)
def test_torch_invalid_items(items, error, message):
    with pytest.raises(error, match=message):
        from_torch_dataset(ListDataset(items))
