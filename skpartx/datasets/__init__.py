"""Data sets: the built-in synthetic part benchmark and loaders for data on disk or in torch."""

from ._loaders import from_torch_dataset, load_coco_parts, load_cub_parts, load_image_folder
from ._synthetic import make_part_shapes

__all__ = ["from_torch_dataset", "load_coco_parts", "load_cub_parts", "load_image_folder", "make_part_shapes"]
