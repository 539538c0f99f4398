"""Explaining a model on an image folder with part annotations (``skpartx explain``).

The code lives in :mod:`skpartx.cli.explain_folder` (the run) and :mod:`skpartx.cli.inputs`
(reading the user's files); this module keeps their names importable from here.
"""

from .cli.explain_folder import holdout_split, run_explain
from .cli.inputs import labelled_images, load_model

__all__ = ["holdout_split", "labelled_images", "load_model", "run_explain"]
