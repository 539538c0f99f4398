"""Reports of fitted global rules: text, Markdown, HTML and the self-sufficient rules.json.

Every report is written from the explainer's public fitted attributes — the same rules,
decision procedure, default class and intercepts that ``predict`` uses — so what is
printed is what is scored.
"""

import html

from .._core.html import table
from .._core.labels import plain
from ._decision import weight_matrix
from ._rule import weight_text

DESCRIPTIONS = {
    "most_precise": "rule set: the most precise firing rule decides (equal precision: the rule listed first)",
    "first_match": "ordered list: the first firing rule decides",
    "weighted_sum": (
        "additive: each class sums its intercept and its weights in the firing rules; the largest sum decides "
        "(equal sums: the class listed first)"
    ),
}
MSX_LEGEND = (
    "{a, b}: parts a and b together contain one of the image's minimal sufficient explanations, and each belongs "
    "to one of them (they suffice for the decision, and none is irrelevant); (baseline): the baseline alone keeps "
    "the model's confidence (the empty explanation)."
)
MSX_PART_LEGEND = "A part's name alone (scorecards): the part belongs to one of the image's MSXs."
# The format of rules.json; files without a version are those of skpartx 0.1.
RULES_JSON_VERSION = 2
# A class whose images have an empty explanation at least this often is called out.
EMPTY_WARNING_SHARE = 0.1


def _interval(interval, percent=False):
    if interval is None:
        return ""
    low, high = interval
    return f"[{low:.0%}–{high:.0%}]" if percent else f"[{low:.2f}–{high:.2f}]"


def _held_out_rows(verification):
    return None if verification is None else verification.table.to_dict("records")


def rule_line(rule, held_out=None):
    """A rule with its training precision and coverage and their 95% intervals (and held-out ones)."""
    weights = f"{rule.weight_string()}; " if rule.weight else ""
    line = (
        f"{rule.label} ← {rule.body()} ({weights}precision {rule.precision:.2f} {_interval(rule.precision_interval)}, "
        f"covers {rule.coverage:.0%} {_interval(rule.coverage_interval, percent=True)})"
    )
    if held_out is not None:
        line += (
            f"; held out: precision {held_out['precision_test']:.2f} "
            f"{_interval((held_out['precision_low_test'], held_out['precision_high_test']))}, covers "
            f"{held_out['coverage_test']:.0%} "
            f"{_interval((held_out['coverage_low_test'], held_out['coverage_high_test']), percent=True)}"
        )
    return line


def warnings_of(explainer):
    """The warnings a report shows: shortcuts, background shortcuts and non-neutral baselines."""
    out = []
    if explainer.shortcuts_:
        out.append(
            f"{', '.join(explainer.shortcuts_)} explains at least half of the images of every class: the model leans "
            "on it whatever the class, a likely shortcut."
        )
    for target, share in explainer.background_shortcuts_.items():
        label = explainer.class_label(target)
        out.append(
            f"the background is in the explanations of {share:.0%} of the images decided as {label}: the model "
            f"decides {label} by what surrounds the object, a likely shortcut."
        )
    for target, share in explainer.empty_explanations_.items():
        if share >= EMPTY_WARNING_SHARE:
            label = explainer.class_label(target)
            what = (
                "the baseline alone keeps the model's confidence"
                if explainer.binarize_ == "msx"
                else "no part is on in the explanation"
            )
            out.append(
                f"for {share:.0%} of the images decided as {label}, {what}: the baseline is not neutral for {label}"
                + (", so these images are explained by the (baseline) symbol only." if explainer.binarize_ == "msx"
                   else "; try another baseline.")
            )
    return out


def msx_legend(explainer):
    """What the symbols of MSX rules mean, with the part symbols of scorecards where there are any."""
    has_parts = any(s["kind"] == "msx_part" for s in explainer.symbol_space_.symbols)
    return f"{MSX_LEGEND} {MSX_PART_LEGEND}" if has_parts else MSX_LEGEND


def weights_table(explainer):
    """An additive model as one table: the intercepts, then each rule's weight per class.

    Returns
    -------
    header : list of str
        ``"when"``, then the class names.
    rows : list of list of str
        ``(start)`` with the intercepts, then per rule its conditions and weights (blank
        where the rule adds nothing to a class); whole numbers (scorecards) print as such.
    """
    names = explainer.class_names_
    weights = weight_matrix([rule.weight for rule in explainer.rules_], names)
    rows = [["(start)", *map(weight_text, explainer.intercept_)]]
    rows += [[rule.body(), *(weight_text(v) if v != 0 else "" for v in row)]
             for rule, row in zip(explainer.rules_, weights)]
    return ["when", *names], rows


def _aligned(header, rows, markdown):
    """Rows as a Markdown table, or as text columns (the first left-aligned, the others right)."""
    if markdown:
        return [f"| {' | '.join(header)} |", "|" + "---|" * len(header), *(f"| {' | '.join(r)} |" for r in rows)]
    widths = [max(len(str(r[j])) for r in [header, *rows]) for j in range(len(header))]
    return ["  ".join(c.ljust(widths[0]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r))
            for r in [header, *rows]]


def text_report(explainer, markdown=False, verification=None):
    """The rules per class (or as the ordered list), how they decide, and what the explanations say."""
    bullet = "- " if markdown else "  "
    held = _held_out_rows(verification)
    lines = ["# Global rules" if markdown else "Global rules", "", f"Decision: {DESCRIPTIONS[explainer.decision_]}.", ""]
    rules = explainer.rules_
    if explainer.decision_ == "first_match":
        lines += [f"{k + 1}. {rule_line(rule, None if held is None else held[k])}" for k, rule in enumerate(rules)]
        lines.append("")
    else:
        for target in explainer.classes_:
            target = plain(target)
            label = explainer.class_label(target)
            lines.append(f"## {label}" if markdown else f"{label}:")
            own = [k for k, rule in enumerate(rules) if rule.target == target]
            if not own:
                lines.append(bullet + "(no rule reaches the required precision)")
            lines += [bullet + rule_line(rules[k], None if held is None else held[k]) for k in own]
            lines.append("")
    if explainer.intercept_ is not None:
        how = "each firing rule adds its row; the largest column sum decides"
        lines += ["## Weights", "", how[0].upper() + how[1:] + ".", ""] if markdown else [f"Weights ({how}):"]
        lines += [*_aligned(*weights_table(explainer), markdown), ""]
    lines.append(f"Otherwise: {explainer.class_label(explainer.default_class_)}.")
    if verification is not None:
        lines += ["", f"Held out ({verification.n_images:g} images): fidelity {verification.fidelity:.3f}, "
                      f"coverage {verification.coverage:.3f}."]
    if explainer.binarize_ == "msx":
        lines += ["", ("Symbols: " if not markdown else "**Symbols**: ") + msx_legend(explainer)]
    lines += ["", "## Most common local explanations" if markdown else "Most common local explanations:"]
    for target, profile in explainer.explanation_profile_.items():
        shown = ", ".join(f"{' ∧ '.join(s) or '(none)'} ({share:.0%})" for s, share in profile)
        lines.append(bullet + f"{explainer.class_label(target)}: {shown}")
    if explainer.empty_explanations_:
        lines += ["", ("## " if markdown else "") + "Empty explanations (share of each class's images):"]
        lines += [bullet + f"{explainer.class_label(t)}: {s:.0%}" for t, s in explainer.empty_explanations_.items()]
    for warning in warnings_of(explainer):
        lines += ["", f"Warning: {warning}"]
    return "\n".join(lines)


def rules_json(explainer, verification=None):
    """The self-sufficient ``rules.json`` (version 2) as a dict; see :func:`skpartx.rules.apply_rules`."""
    binarization, symbols = explainer.symbol_space_.to_dict()
    held = _held_out_rows(verification)
    rules = []
    for k, rule in enumerate(explainer.rules_):
        entry = {
            "target": explainer.class_label(rule.target),
            "conditions": [{"feature": f, "operator": op, "threshold": plain(t)} for f, op, t in rule.conditions],
            "support": rule.support,
            "precision": rule.precision,
            "precision_interval": list(rule.precision_interval or ()),
            "coverage": rule.coverage,
            "coverage_interval": list(rule.coverage_interval or ()),
            "text": str(rule),
        }
        if rule.weight is not None:
            entry["weight"] = dict(rule.weight)
        if held is not None:
            entry["held_out"] = {
                key[: -len("_test")]: plain(value) for key, value in held[k].items() if key.endswith("_test")
            }
        rules.append(entry)
    rule_model = explainer.rule_model_
    out = {
        "format": "skpartx rules",
        "version": RULES_JSON_VERSION,
        "rule_model": rule_model if isinstance(rule_model, str) else type(rule_model).__name__,
        "decision": explainer.decision_,
        "decision_text": DESCRIPTIONS[explainer.decision_],
        "classes": [{"label": plain(c), "name": n} for c, n in zip(explainer.classes_, explainer.class_names_)],
        "default": explainer.class_label(explainer.default_class_),
        "binarization": binarization,
        "symbols": symbols,
        "rules": rules,
    }
    if explainer.intercept_ is not None:
        out["intercept"] = {n: float(v) for n, v in zip(explainer.class_names_, explainer.intercept_)}
    if verification is not None:
        out["held_out"] = {"fidelity": verification.fidelity, "coverage": verification.coverage,
                           "n_images": verification.n_images}
    out.update(
        explanation_profile={
            explainer.class_label(t): [{"symbols": list(s), "share": share} for s, share in profile]
            for t, profile in explainer.explanation_profile_.items()
        },
        empty_explanations={explainer.class_label(t): s for t, s in explainer.empty_explanations_.items()},
        shortcuts=list(explainer.shortcuts_),
        background_shortcuts={explainer.class_label(t): s for t, s in explainer.background_shortcuts_.items()},
    )
    return out


def _bar(share):
    width = int(round(100 * min(max(share, 0.0), 1.0)))
    return (f"<span style='background:#4c78a8;display:inline-block;height:0.8em;width:{width}px'></span> "
            f"{share:.0%}")


def html_report(explainer, verification=None):
    """The rules as an HTML table (coverage bars, intervals, weights, held-out columns) with the decision and warnings."""
    held = _held_out_rows(verification)
    weighted = any(rule.weight for rule in explainer.rules_)
    header = ["class", "rule"] + (["weights"] if weighted else []) + ["precision", "coverage", "support"]
    if held is not None:
        header += ["held-out precision", "held-out coverage"]
    rows = []
    for k, rule in enumerate(explainer.rules_):
        cells = [html.escape(rule.label), html.escape(rule.body())]
        if weighted:
            cells.append(html.escape(rule.weight_string()))
        cells += [
            f"{rule.precision:.2f} {_interval(rule.precision_interval)}",
            f"{_bar(rule.coverage)} {_interval(rule.coverage_interval, percent=True)}",
            html.escape(str(rule.support)),
        ]
        if held is not None:
            h = held[k]
            cells += [
                f"{h['precision_test']:.2f} {_interval((h['precision_low_test'], h['precision_high_test']))}",
                f"{_bar(h['coverage_test'])} {_interval((h['coverage_low_test'], h['coverage_high_test']), True)}",
            ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    parts = [
        f"<p><b>Decision:</b> {html.escape(DESCRIPTIONS[explainer.decision_])}. Otherwise: "
        f"{html.escape(explainer.class_label(explainer.default_class_))}.</p>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
    ]
    if explainer.intercept_ is not None:
        header, rows = weights_table(explainer)
        parts.append("<p><b>Weights:</b> each firing rule adds its row; the largest column sum decides.</p>"
                     + table(rows, header))
    if verification is not None:
        parts.append(f"<p><b>Held out</b> ({verification.n_images:g} images): fidelity {verification.fidelity:.3f}, "
                     f"coverage {verification.coverage:.3f}.</p>")
    if explainer.binarize_ == "msx":
        parts.append(f"<p><b>Symbols:</b> {html.escape(msx_legend(explainer))}</p>")
    parts += [f"<p><b>Warning:</b> {html.escape(w)}</p>" for w in warnings_of(explainer)]
    return "\n".join(parts)
