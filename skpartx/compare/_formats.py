"""Formats of a :class:`~skpartx.compare.ComparisonReport`: dict/JSON, text/Markdown, HTML, a folder."""

import html
import math
import os

import numpy as np

from .._core.html import page, table

# A class a side decides on the baseline alone for at least this share of its images gets a note.
HOLLOW_SHARE = 0.5

_CHANGE_MARK = {"kept": "=", "lost": "−", "gained": "+"}
_CHANGE_STYLE = {"kept": "", "lost": "background:#fde0dc;text-decoration:line-through",
                 "gained": "background:#dcf5dc;font-weight:600"}


def _plain(value):
    """A JSON-ready value: numpy scalars as Python ones, NaN as None."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _records(frame):
    return None if frame is None else [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def comparison_dict(report):
    """Everything in ``report`` as plain values (NaN as ``None``)."""
    return {
        "mode": report.mode, "names": list(report.names), "part_names": list(report.part_names),
        "class_names": list(report.class_names), "n_images": [int(n) for n in report.n_images],
        "agreement": _plain(report.agreement), "fidelity": {k: _plain(v) for k, v in report.fidelity.items()},
        "margin": report.margin, "alpha": report.alpha, "n_bootstrap": report.n_bootstrap,
        "critical_value": _plain(report.critical_value), "control": report.control, "notes": list(report.notes),
        "shifts": _records(report.shifts), "rules": _records(report.rules),
        "disagreements": _records(report.disagreements),
        "baseline": {side: {cls: _plain(v) for cls, v in column.items()} for side, column in report.baseline.items()},
    }


def _number(value, digits=2):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _interval(low, high):
    return f"[{_number(low):>5}, {_number(high):>5}]" if not math.isnan(low) else "n/a"


def _rule_lines(report, rules):
    """One line per rule: change mark, the rule, precision and coverage on both sides with intervals."""
    a, b = report.names
    lines = []
    for row in rules.to_dict("records"):
        lines.append(
            f"{_CHANGE_MARK[row['change']]} {row['change']:<6} {row['class']} ← {row['rule']}: "
            f"precision {_number(row[f'precision {a}'])} → {_number(row[f'precision {b}'])} "
            f"({b} − {a} {_interval(row['precision low'], row['precision high'])}), "
            f"coverage {_number(row[f'coverage {a}'])} → {_number(row[f'coverage {b}'])} "
            f"({b} − {a} {_interval(row['coverage low'], row['coverage high'])})"
        )
    return lines


def _shift_line(report, row):
    a, b = report.names
    return (f"{row['part']}: {_number(row[f'mean {a}'])} → {_number(row[f'mean {b}'])} "
            f"(shift {row['shift']:+.3f}, interval {_interval(row['low'], row['high'])}, {row['direction']})")


def decided_on_baseline(baseline, classes=None):
    """``"{side} decides {class} on the baseline alone for {share} of its images"`` for every side and
    class (of ``classes``, default all) of the table ``baseline`` where the share reaches ``HOLLOW_SHARE``."""
    return [f"{side} decides {name} on the baseline alone for {share:.0%} of its images"
            for side in baseline.columns for name, share in baseline[side].items()
            if share >= HOLLOW_SHARE and (classes is None or name in classes)]


def _baseline_warnings(report, class_name):
    """Per side that decides ``class_name`` on the baseline alone for ``HOLLOW_SHARE`` of its images, a sentence."""
    return [f"{sentence}: all its parts fall or rise together, whatever the model looks at"
            for sentence in decided_on_baseline(report.baseline, [class_name])]


def comparison_text(report, markdown=False):
    """The comparison as plain text or Markdown."""
    a, b = report.names
    heading = (lambda text, level: f"{'#' * level} {text}") if markdown else (lambda text, level: text)
    bullet = "- " if markdown else "  "
    kind = "two models on the same images (paired)" if report.mode == "models" else "one model on two slices (unpaired)"
    lines = [heading(f"Comparison of {a} and {b}: {kind}", 1), ""]
    lines.append(f"Images: {a} {report.n_images[0]}, {b} {report.n_images[1]}.")
    if report.agreement is not None:
        lines.append(f"Decision agreement: {report.agreement:.3f}.")
    lines.append("Held-out fidelity of each side's rules: "
                 + ", ".join(f"{name} {_number(value, 3)}" for name, value in report.fidelity.items()) + ".")
    lines.append(f"Part shifts are flagged when their interval lies beyond ±{report.margin:g}; "
                 f"{report.control}.")
    lines += [f"Note: {note}" for note in report.notes]
    for name in report.class_names:
        lines += ["", heading(f"Class {name}", 2)]
        lines += [f"{bullet}note: {warning}" for warning in _baseline_warnings(report, name)]
        rules = report.rules[report.rules["class"] == name]
        lines += [bullet + line for line in _rule_lines(report, rules)] or [bullet + "no rule on either side"]
        flagged = report.flagged()
        flagged = flagged[flagged["class"] == name]
        if len(flagged):
            lines.append(f"{bullet}part shifts beyond ±{report.margin:g}:")
            lines += [f"{bullet}  {_shift_line(report, row)}" for row in flagged.to_dict("records")]
        elif not report.shifts.loc[report.shifts["class"] == name, "tested"].any():
            lines.append(f"{bullet}part shifts not tested (too few images)")
        else:
            lines.append(f"{bullet}no part shift beyond ±{report.margin:g}")
    if report.disagreements is not None and len(report.disagreements):
        lines += ["", heading("Where the models disagree", 2)]
        for row in report.disagreements.to_dict("records"):
            plural = "s" * (row["images"] != 1)
            lines.append(f"{bullet}{a} {row[f'class {a}']}, {b} {row[f'class {b}']}: {row['images']} image{plural}; "
                         f"parts whose score for {a}'s class fell most: {row['driving parts'] or 'none'}")
    return "\n".join(lines)


def _rule_cells(report, rules, side):
    """HTML rows of one side's rules: kept rules plain, lost ones struck out, gained ones bold."""
    a, b = report.names
    name = (a, b)[side]
    shown = rules[rules["change"] != ("gained", "lost")[side]]  # A shows kept + lost, B kept + gained
    rows = []
    for row in shown.to_dict("records"):
        style = _CHANGE_STYLE[row["change"]]
        rows.append(
            f"<tr style='{style}'><td>{html.escape(_CHANGE_MARK[row['change']])}</td>"
            f"<td>{html.escape(row['rule'])}</td><td>{_number(row[f'precision {name}'])}</td>"
            f"<td>{_number(row[f'coverage {name}'])}</td></tr>"
        )
    head = "<tr><th></th><th>rule</th><th>precision</th><th>coverage</th></tr>"
    body = "".join(rows) or "<tr><td colspan='4'>no rule</td></tr>"
    return f"<table class='rules'><thead>{head}</thead><tbody>{body}</tbody></table>"


def _shift_figure(report, source):
    """The heat map as an ``<img>`` of ``source`` (a file name, or the PNG inline when ``None``)."""
    caption = f"Shift of the mean part score ({report.names[1]} − {report.names[0]}); grey: not flagged"
    if source is None:
        import base64
        import io

        import matplotlib.pyplot as plt

        figure = report.plot_shifts()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(figure)
        source = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f"<h3>Shifts per class and part</h3><figure><img src='{source}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def comparison_html(report, figure=None):
    """An HTML fragment: summary, per class the two sides' rules side by side, flagged shifts,
    disagreements, and the heat map (``figure``: its file name; ``None``: embedded)."""
    a, b = report.names
    parts = [f"<p>{html.escape(note)}</p>" for note in report.notes]
    summary = [("images", f"{report.n_images[0]} / {report.n_images[1]}")]
    if report.agreement is not None:
        summary.append(("decision agreement", _number(report.agreement, 3)))
    summary += [(f"held-out fidelity of {name}'s rules", _number(value, 3)) for name, value in report.fidelity.items()]
    summary += [("margin", f"±{report.margin:g}"), ("multiple testing", report.control)]
    parts.append(table(summary, ("measure", "value")))
    parts.append("<p>Rules: <span style='background:#fde0dc'>struck out</span> only "
                 f"{html.escape(a)} has it (lost), <b style='background:#dcf5dc'>bold</b> only "
                 f"{html.escape(b)} (gained); precision and coverage on held-out images.</p>")
    for name in report.class_names:
        rules = report.rules[report.rules["class"] == name]
        parts.append(f"<h3 class='class'>Class {html.escape(name)}</h3>")
        parts += [f"<p><b>Note:</b> {html.escape(warning)}.</p>" for warning in _baseline_warnings(report, name)]
        parts.append("<div style='display:flex;gap:2em'>"
                     + "".join(f"<div><h4>{html.escape(side_name)}</h4>{_rule_cells(report, rules, side)}</div>"
                               for side, side_name in enumerate(report.names)) + "</div>")
        changed = rules[rules["change"] != "kept"]
        if len(changed):
            parts.append(table(
                [(row["change"], row["rule"], _interval(row["precision low"], row["precision high"]),
                  _interval(row["coverage low"], row["coverage high"])) for row in changed.to_dict("records")],
                ("change", "rule", f"precision {b} − {a}", f"coverage {b} − {a}")))
    flagged = report.flagged()
    parts.append("<h3>Part shifts beyond the margin</h3>")
    if len(flagged):
        parts.append(table(
            [(row["class"], row["part"], _number(row[f"mean {a}"], 3), _number(row[f"mean {b}"], 3),
              f"{row['shift']:+.3f}", _interval(row["low"], row["high"])) for row in flagged.to_dict("records")],
            ("class", "part", f"mean {a}", f"mean {b}", "shift", "interval")))
    else:
        parts.append(f"<p>No shift beyond ±{report.margin:g}.</p>")
    if report.disagreements is not None and len(report.disagreements):
        parts.append("<h3>Where the models disagree</h3>")
        columns = [f"class {a}", f"class {b}", "images", "driving parts"]
        parts.append(table(report.disagreements[columns].itertuples(index=False), columns))
    parts.append(_shift_figure(report, figure))
    return "".join(parts)


def write_comparison(report, folder):
    """``comparison.html`` with the shift heat map, ``comparison.json`` and ``comparison.md`` in ``folder``."""
    import matplotlib.pyplot as plt

    os.makedirs(folder, exist_ok=True)
    figure = report.plot_shifts()
    figure.savefig(os.path.join(folder, "shifts.png"), dpi=110, bbox_inches="tight")
    plt.close(figure)
    with open(os.path.join(folder, "comparison.json"), "w", encoding="utf-8") as f:
        f.write(report.report("json"))
    with open(os.path.join(folder, "comparison.md"), "w", encoding="utf-8") as f:
        f.write(report.report("markdown") + "\n")
    path = os.path.join(folder, "comparison.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page(f"What changed: {report.names[0]} vs {report.names[1]}", comparison_html(report, "shifts.png")))
    return path

