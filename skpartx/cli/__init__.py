"""The applications built on skpartx: the ``skpartx`` command, ``skpartx demo``, ``skpartx explain``
and ``skpartx compare``.

``command`` parses the arguments; ``demo`` runs the pipeline on built-in synthetic data
(its classifier and settings in ``demo_classifier``); ``explain_folder`` explains a model on
an image folder with part annotations (its files read by ``inputs``). Both write their
report with :func:`skpartx.report.write_report_folder`. ``compare_models`` compares two
models on such a folder and writes a :class:`skpartx.compare.ComparisonReport`.
"""

from .command import QUICK_SETTINGS, main

__all__ = ["QUICK_SETTINGS", "main"]
