"""The demo on built-in synthetic data.

The code lives in :mod:`skpartx.cli.demo` (the run) and :mod:`skpartx.cli.demo_classifier`
(its settings and classifier); this module keeps their names importable from here.
"""

from .cli.demo import run_demo
from .cli.demo_classifier import (
    DEMO_SETTINGS,
    MODEL_SETTINGS,
    WEIGHTS_DIR,
    WEIGHTS_MANIFEST,
    default_cache_dir,
    shipped_demo_model,
    shipped_weights,
    train_demo_classifier,
    trained_demo_model,
)

__all__ = [
    "DEMO_SETTINGS",
    "MODEL_SETTINGS",
    "WEIGHTS_DIR",
    "WEIGHTS_MANIFEST",
    "default_cache_dir",
    "run_demo",
    "shipped_demo_model",
    "shipped_weights",
    "train_demo_classifier",
    "trained_demo_model",
]
