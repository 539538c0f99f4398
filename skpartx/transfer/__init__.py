"""Part transfer: part labels from a few labelled images to every image.

:class:`PartLabelTransfer` over ``_checks`` (inputs), ``_fit`` (matchers from labelled
features), ``_matchers`` (probe, kNN, Hough matching), ``_proba`` (probabilities per pixel,
the guided filter of ``_refine``, clean-up), ``_fill`` (filled masks and confidence, chunk by
chunk); ``_iou`` measures transferred masks against true ones and ``_plot`` draws transfer
quality.

May import: ``_core``.
"""

from ._estimator import METHODS, PartLabelTransfer
from ._iou import iou_per_part, mean_iou
from ._plot import plot_miou_curve

__all__ = ["METHODS", "PartLabelTransfer", "iou_per_part", "mean_iou", "plot_miou_curve"]
