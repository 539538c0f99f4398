"""Data sets: the built-in synthetic part benchmark."""

from ._synthetic import make_part_shapes

__all__ = ["make_part_shapes"]
