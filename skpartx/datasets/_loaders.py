"""The loaders under the module path they had before each format got a module of its own.

Kept so that imports from here, and pickles that refer to :class:`ImageFiles` here, keep working.
"""

from ._coco import load_coco_parts
from ._common import ImageFiles
from ._cub import load_cub_parts
from ._image_folder import IMAGE_EXTENSIONS, load_image_folder
from ._torch_dataset import from_torch_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFiles",
    "from_torch_dataset",
    "load_coco_parts",
    "load_cub_parts",
    "load_image_folder",
]
