"""Data sets: the built-in synthetic part benchmark and loaders for data on disk or in torch."""

from ._coco import load_coco_parts
from ._cub import load_cub_parts
from ._image_folder import load_image_folder
from ._synthetic import make_part_shapes
from ._torch_dataset import from_torch_dataset

__all__ = ["from_torch_dataset", "load_coco_parts", "load_cub_parts", "load_image_folder", "make_part_shapes"]
