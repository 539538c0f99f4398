"""Part-swap counterfactuals: what would have to change, part by part, for the model to decide otherwise.

For an image and a desired class (typically the true class of a misclassified image) the
nearest correctly classified images of the desired class, by the backbone's features,
are the donors. Parts are matched by their (transferred) part labels: each part region of
the query receives the donor's same part, warped from the donor's part box onto the
query's (parts the donor lacks, and the background, follow the alignment of the two
objects' boxes). Nothing is generated: every pixel of a counterfactual comes from the
query or from a real donor image (Zhang, Yin & Lee's fine-grained counterfactuals).

The order of the swaps comes from part Shapley values of the *swap game*: the value of a
coalition of the query's parts is the model's probability of the desired class when those
parts are the query's own and all others are the donor's. A part with a very negative
value is one whose own appearance holds the decision away from the desired class, so the
most negative parts are swapped first, until the model decides for the desired class. The
swapped parts are the *dominant* parts of the misclassification, the others *invariant*.

Modules: ``_explainer`` (:class:`PartCounterfactualExplainer`: donor search, swap game and
order), ``_result`` (:class:`PartCounterfactual` and its figure), ``_warp`` (the warping
geometry), ``_misclassification`` (the misclassification report) and ``_metrics`` (summary
measures).

May import: ``_core``, ``_engine``.
"""

from ._explainer import PartCounterfactualExplainer
from ._metrics import counterfactual_metrics
from ._misclassification import MisclassificationReport, misclassification_report
from ._result import PartCounterfactual, plot_counterfactual
from ._warp import warp_donor

__all__ = [
    "MisclassificationReport",
    "PartCounterfactual",
    "PartCounterfactualExplainer",
    "counterfactual_metrics",
    "misclassification_report",
    "plot_counterfactual",
    "warp_donor",
]
