"""What changed? Two models' (or two data slices') global explanations compared, with statistics.

Two modes:

- :func:`compare_models`: two models on the same images. One part transfer serves both
  (the caller passes filled masks), so transfer differences cannot leak into the
  comparison; both models are attributed on the same images and the comparison is paired
  per image. Classes are the *reference* model's (A's) decisions: model B is explained for
  A's class on every image, so a shift means "B weighs this part differently for the class
  A decided". Where the two models disagree, the parts behind the disagreement are listed.
- :func:`compare_slices`: one model on two sets of images (correct vs misclassified, site
  A vs site B): unpaired, classes are the model's decisions on each side.

Per class the report lists the rules gained, lost and kept (matched by their conditions),
each with held-out precision and coverage on both sides and a bootstrap interval of the
difference; and the shift of every part's mean score with simultaneous bootstrap intervals
that control the family-wise error rate over classes × parts (see
``_stats``). A shift is *flagged* only when its whole interval lies
beyond ``±margin``: two models always differ a little, and with enough images any
difference becomes "significant"; the margin says how large a difference matters.

Modules: ``_compare`` (:func:`compare_models`, :func:`compare_slices`), ``_result``
(:class:`ComparisonReport` and the heat map of shifts), ``_formats`` (text, Markdown, HTML,
JSON) and ``_stats`` (the statistics, pure numpy).

May import: ``_core``, ``attribution``, ``rules`` (their public names).
"""

from ._compare import DEFAULT_MARGIN, compare_models, compare_slices
from ._result import ComparisonReport, plot_part_shifts

__all__ = ["ComparisonReport", "DEFAULT_MARGIN", "compare_models", "compare_slices", "plot_part_shifts"]
