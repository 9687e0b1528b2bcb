"""A :class:`~visionbench.leaderboard.layout.Table` and its figures as one standalone HTML page that works offline:
plotly.js is embedded (no CDN), the table sorts by any column on a click on its header, the provenance table and
notes follow, then the plots."""

from __future__ import annotations

import html
from collections.abc import Sequence

from plotly.offline import get_plotlyjs

from visionbench.leaderboard.figures import Figure
from visionbench.leaderboard.layout import MAIN, PROVENANCE, Cell, Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
table.sortable thead tr:last-child th { cursor: pointer; }
table.sortable th[data-order="asc"]::after { content: " \\25B2"; }
table.sortable th[data-order="desc"]::after { content: " \\25BC"; }
td.label, th.label { text-align: left; }
td.strong { font-weight: bold; background: #eef6ee; }
"""
SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th[data-column]").forEach(function (header) {
    header.addEventListener("click", function () {
      var column = Number(header.dataset.column), ascending = header.dataset.order !== "asc";
      table.querySelectorAll("th[data-column]").forEach(function (other) { delete other.dataset.order; });
      header.dataset.order = ascending ? "asc" : "desc";
      var key = function (row) {
        var value = row.cells[column].dataset.sort;
        return value === undefined ? null : (value !== "" && !isNaN(value) ? Number(value) : value);
      };
      var body = table.tBodies[0];
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return (x === null) - (y === null); }
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _cell(cell: Cell, label: bool) -> str:
    classes = " ".join(name for name, on in (("label", label), ("strong", cell.strong)) if on)
    attributes = f' class="{classes}"' if classes else ""
    if cell.sort is not None and cell.sort == cell.sort:  # NaN sorts as empty
        attributes += f' data-sort="{html.escape(str(cell.sort))}"'
    return f"<td{attributes}>{html.escape(cell.text)}</td>"


def _table(table: Table, indices: Sequence[int], sortable: bool) -> str:
    columns = [table.columns[index] for index in indices]
    spans: list[tuple[str, int]] = []
    for column in columns:
        if spans and spans[-1][0] == column.group:
            spans[-1] = (column.group, spans[-1][1] + 1)
        else:
            spans.append((column.group, 1))
    head = ""
    if any(group for group, _ in spans):
        head += "<tr>" + "".join(f'<th colspan="{n}">{html.escape(group)}</th>' for group, n in spans) + "</tr>"
    labels = [' class="label"' if position < table.labels else "" for position in range(len(columns))]
    head += "<tr>" + "".join(
        f'<th data-column="{position}"{labels[position]}>{html.escape(column.label)}</th>'
        for position, column in enumerate(columns)
    )
    head += "</tr>"
    body = "".join(
        "<tr>" + "".join(_cell(row[index], position < table.labels) for position, index in enumerate(indices)) + "</tr>"
        for row in table.rows
    )
    css = ' class="sortable"' if sortable else ""
    return f"<table{css}><thead>{head}</thead><tbody>{body}</tbody></table>"


def render_html(table: Table, figures: Sequence[Figure]) -> str:
    """The HTML page of ``table`` and ``figures`` (deterministic: the same inputs give the same bytes)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(table.title)}</title>",
        f"<style>{STYLE}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(table.title)}</h1>",
        "<p>Click a column header to sort.</p>",
        _table(table, table.section(MAIN), sortable=True),
        "<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in table.notes) + "</ul>",
    ]
    provenance = table.section(PROVENANCE)
    if provenance:
        parts += ["<h2>Provenance</h2>", _table(table, list(range(table.labels)) + provenance, sortable=True)]
    for number, (title, figure) in enumerate(figures):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(
            figure.to_html(
                full_html=False, include_plotlyjs=False, div_id=f"figure-{number}", config={"displaylogo": False}
            )
        )
    parts.append(f"<script>{SORT_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
