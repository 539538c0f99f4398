"""HTML fragments shared by notebook displays and reports (every user string escaped)."""

import html


def table(rows, header):
    """A plain HTML table of escaped cells."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def rules_table(rules):
    """Rules as an HTML table with a coverage bar per rule."""
    rows = []
    for rule in rules:
        rows.append(
            "<tr><td>{}</td><td>{}</td><td>{:.2f}</td>"
            "<td><span style='background:#4c78a8;display:inline-block;height:0.8em;width:{}px'></span> {:.0%}</td>"
            "<td>{}</td></tr>".format(
                html.escape(rule.label),
                html.escape(" ∧ ".join(rule.condition_strings())),
                rule.precision,
                int(round(100 * rule.coverage)),
                rule.coverage,
                rule.support,
            )
        )
    return (
        "<table><thead><tr><th>class</th><th>rule</th><th>precision</th><th>coverage</th><th>support</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
