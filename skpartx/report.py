"""A self-contained HTML report of a global explanation."""

import html
import os

from ._html import table


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }
th { background: #f4f4f4; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
"""


def write_html_report(path, title, summary, explainer, figures=(), notes=()):
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

    Returns
    -------
    path : str
    """
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    parts.append(f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>")
    parts += [f"<p>{html.escape(note)}</p>" for note in notes]
    parts.append("<h2>Summary</h2>")
    parts.append(table([(k, f"{v:.3f}" if isinstance(v, float) else v) for k, v in summary.items()], ("measure", "value")))
    parts.append("<h2>Rules</h2>")
    parts.append(explainer._repr_html_())
    parts.append("<h3>Full report</h3>")
    parts.append(f"<pre>{html.escape(explainer.report())}</pre>")
    if figures:
        parts.append("<h2>Figures</h2>")
    for caption, file_name in figures:
        parts.append(
            f"<figure><img src='{html.escape(file_name, quote=True)}' alt='{html.escape(caption, quote=True)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append("</body></html>")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts))
    return path
