"""A self-contained HTML report of a global explanation."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._core.html import STYLE, table
from ._core.labels import display_name

if TYPE_CHECKING:
    import pandas as pd

    from ._core.part_images import PartImages
    from .counterfactual import MisclassificationReport
    from .rules import GlobalRuleExplainer, RuleVerification





def write_html_report(
    path: str,
    title: str,
    summary: Mapping[str, object],
    explainer: GlobalRuleExplainer,
    figures: Sequence[tuple[str, str]] = (),
    notes: Sequence[str] = (),
    sections: Sequence[tuple] = (),
    verification: RuleVerification | None = None,
) -> str:
    """Write an HTML page with a summary table, the rules per class and figures.

    Parameters
    ----------
    path : str
        File to write.
    title : str
    summary : dict
        Measure name → value, shown as a table.
    explainer : fitted :class:`~skpartx.GlobalRuleExplainer`
    figures : sequence of (caption, file name)
        PNG files, referenced relative to the report's folder.
    notes : sequence of str
        Paragraphs shown under the title.
    sections : sequence of (heading, HTML fragment, figures)
        Further sections after the rules; the fragments must already be escaped, the
        figures are (caption, file name) pairs.
    verification : RuleVerification, optional
        From :meth:`GlobalRuleExplainer.verify`: held-out figures next to the training ones.

    Returns
    -------
    path : str
    """
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    parts.append(f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>")
    parts += [f"<p>{html.escape(note)}</p>" for note in notes]
    parts.append("<h2>Summary</h2>")
    parts.append(table([(k, f"{v:.3f}" if isinstance(v, float) else v) for k, v in summary.items()], ("measure", "value")))
    parts.append("<h2>Rules</h2>")
    parts.append(explainer.to_html(verification))
    parts.append("<h3>Full report</h3>")
    parts.append(f"<pre>{html.escape(explainer.report(verification=verification))}</pre>")
    for heading, fragment, section_figures in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{fragment}")
        parts += [_figure(caption, file_name) for caption, file_name in section_figures]
    if figures:
        parts.append("<h2>Figures</h2>")
    parts += [_figure(caption, file_name) for caption, file_name in figures]
    parts.append("</body></html>")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts))
    return path


def baseline_summary(report: pd.DataFrame, class_names: Sequence[str] | None = None) -> tuple[list[str], tuple]:
    """What the model makes of the all-baseline images, as report lines and an HTML section.

    Parameters
    ----------
    report : pandas.DataFrame
        From :meth:`PartAttributor.baseline_report`.
    class_names : sequence, optional
        Display names indexed by class.

    Returns
    -------
    lines : list of str
        One line per explained class.
    section : (heading, HTML fragment, figures)
        For :func:`write_report_folder`'s ``sections``.
    """

    def name(c):
        c = int(c)  # a row of mixed numbers holds the classes as floats
        return str(class_names[c]) if class_names is not None else str(c)

    lines, rows = [], []
    called = {(int(r["baseline_class"]), round(float(r["baseline_class_probability"]), 2)) for _, r in report.iterrows()}
    if len(called) == 1:  # one all-baseline image for every class ("zero", "mean", a colour): say it once
        (c, p), = called
        lines.append(f"the all-baseline image is called {name(c)} (probability {p:.2f})")
    for c, row in report.iterrows():
        line = (
            f"{name(c)}: the baseline alone keeps the model's confidence for {row['baseline_sufficient']:.0%} of its "
            f"images (probability of {name(c)} on the baseline {row['baseline_probability']:.2f})"
        )
        if len(called) > 1:
            line += (f"; its all-baseline images are called {name(row['baseline_class'])} "
                     f"(probability {row['baseline_class_probability']:.2f})")
        lines.append(line)
        rows.append((name(c), int(row["n_images"]), f"{row['baseline_probability']:.2f}",
                     f"{row['baseline_sufficient']:.0%}", name(row["baseline_class"]),
                     f"{row['baseline_class_probability']:.2f}"))
    fragment = (
        "<p>Removed parts are replaced by the baseline. When the model already calls the all-baseline image by a "
        "class, explanations of that class owe part of their value to the baseline itself.</p>"
        + table(rows, ("explained class", "images", "its probability on the baseline", "baseline alone suffices",
                       "baseline image called", "with probability"))
    )
    return lines, ("What the model sees in the baseline", fragment, ())


def _figure(caption, file_name):
    return (
        f"<figure><img src='{html.escape(file_name, quote=True)}' alt='{html.escape(caption, quote=True)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def write_report_folder(
    out_dir: str,
    title: str,
    X: PartImages,
    scores: ArrayLike,
    decisions: ArrayLike,
    rules: GlobalRuleExplainer,
    summary: Mapping[str, object],
    notes: Sequence[str] = (),
    true_masks: np.ndarray | None = None,
    target_names: Sequence[str] | None = None,
    n_examples: int = 6,
    misclassifications: MisclassificationReport | None = None,
    verification: RuleVerification | None = None,
    sections: Sequence[tuple] = (),
) -> str:
    """Write a complete explanation report: ``report.html``, figures, ``rules.md``, ``rules.json``.

    Parameters
    ----------
    out_dir : str
        Folder to write into (created if needed).
    title : str
    X : PartImages
        Explained images with their (transferred) part masks.
    scores : array-like of shape (n_images, n_columns)
        Their part scores, as fitted by ``rules``.
    decisions : array-like of shape (n_images,)
        The model's class for each image.
    rules : fitted :class:`~skpartx.GlobalRuleExplainer`
    summary : dict
        Measures shown in the summary table.
    notes : sequence of str
        Paragraphs shown under the title.
    true_masks : array (n_images, H, W), optional
        Ground-truth masks, shown under the transferred ones.
    target_names : sequence, optional
        Class names for figure titles.
    n_examples : int, default=6
        Images per rule-example figure.
    misclassifications : MisclassificationReport, optional
        From :func:`skpartx.counterfactual.misclassification_report`: a section with the
        parts driving each confusion and a figure per example counterfactual (the first
        of each of up to four confusions).
    verification : RuleVerification, optional
        From :meth:`GlobalRuleExplainer.verify` on held-out images: shown next to the
        training figures in the rules, ``rules.md`` and ``rules.json``.
    sections : sequence of (heading, HTML fragment, figures)
        Further sections before the figures (fragments already escaped).

    Returns
    -------
    path : str
        The HTML report.
    """
    os.makedirs(out_dir, exist_ok=True)
    save = _FigureSaver(out_dir)
    figures = _rule_figures(save, X, decisions, rules, scores, true_masks, target_names, n_examples)
    sections = list(sections)
    if misclassifications is not None:
        sections.append(_misclassification_section(save, misclassifications, X.part_names, target_names))
    for format, name in (("markdown", "rules.md"), ("json", "rules.json")):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as handle:
            handle.write(rules.report(format, verification=verification))
    notes = list(notes) + ["The rules as Markdown and JSON: rules.md, rules.json."]
    return write_html_report(
        os.path.join(out_dir, "report.html"), title, summary, rules, figures, notes, sections, verification
    )


class _FigureSaver:
    """Saves figures as PNG files of the report folder, closing them, and lists their captions."""

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def __call__(self, fig, name, caption, into):
        import matplotlib.pyplot as plt

        fig.savefig(os.path.join(self.out_dir, name), dpi=100)
        plt.close(fig)  # only the figures made here: the caller's stay open
        into.append((caption, name))


def _rule_figures(save, X, decisions, rules, scores, true_masks, target_names, n_examples):
    """The part masks, part importance, rules and rule-example figures: (caption, file name) pairs."""
    from ._core.figures import plot_part_masks

    figures = []
    n_show = min(8, len(X))
    decisions = np.asarray(decisions)
    titles = [display_name(d, target_names) for d in decisions[:n_show]]
    shown_truth = None if true_masks is None else np.asarray(true_masks)[:n_show]
    save(
        plot_part_masks(X.images[:n_show], X.masks[:n_show], X.part_names, shown_truth, titles),
        "part_masks.png",
        "Images and their part masks" + (" (transferred, then ground truth)" if true_masks is not None else ""),
        figures,
    )
    save(rules.plot_part_importance(), "part_importance.png", "Mean part score per class decided by the model", figures)
    save(rules.plot_rules(), "rules.png", "Global rules: coverage and precision", figures)
    for target in rules.classes_:
        class_rules = rules.rules_for(target)
        if class_rules:
            label = rules.class_label(target)
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
            fig = rules.plot_rule_examples(X, scores, class_rules[0], n_images=n_examples)
            save(fig, f"examples_{safe}.png", f"Images covered by the first rule of {label}", figures)
    return figures


def _misclassification_section(save, misclassifications, part_names, target_names):
    """The misclassifications section: the confusion table, its figure and example counterfactuals."""
    figures = []
    if len(misclassifications.table):
        save(misclassifications.plot(), "confusion_parts.png", "Mean part score for the wrong class, per confusion",
             figures)
    for k, found in enumerate(list(misclassifications.examples.values())[:4]):
        if found:
            caption = f"Counterfactual of image {found[0].index}: swapped {', '.join(found[0].swapped) or 'nothing'}"
            save(found[0].plot(part_names, target_names), f"counterfactual_{k}.png", caption, figures)
    fragment = misclassifications.to_html() if len(misclassifications.table) else "<p>No misclassified image.</p>"
    return "Misclassifications", fragment, figures
