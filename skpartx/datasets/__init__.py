"""Data sets: the built-in synthetic part benchmark, worlds of part-composed objects with
interventional truth, and loaders for data on disk or in torch."""

from ._coco import load_coco_parts
from ._cub import load_cub_parts
from ._image_folder import load_image_folder
from ._synthetic import make_part_shapes
from ._torch_dataset import from_torch_dataset
from ._worlds import PartWorld, Scenes, make_part_world, sample_world

__all__ = [
    "PartWorld",
    "Scenes",
    "from_torch_dataset",
    "load_coco_parts",
    "load_cub_parts",
    "load_image_folder",
    "make_part_shapes",
    "make_part_world",
    "sample_world",
]
