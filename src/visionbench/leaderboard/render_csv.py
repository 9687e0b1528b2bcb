"""A :class:`~visionbench.leaderboard.layout.Table` as CSV: one line per row, a column per table column and per
extra machine-readable field of its cells (``<column> std``, ``<column> ci_low``...), numbers in full precision in
the unit the header states."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from visionbench.leaderboard.layout import Table


def _value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


def render_csv(table: Table) -> str:
    """The CSV text of ``table`` (column group names are part of the column keys)."""
    fields: list[tuple[int, str]] = []
    for index in range(len(table.columns)):
        names = dict.fromkeys(["", *(name for row in table.rows for name in row[index].fields)])
        fields += [(index, name) for name in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f"{table.columns[index].key} {name}".strip() for index, name in fields])
    for row in table.rows:
        writer.writerow(
            [_value(row[index].fields.get(name, row[index].text if not name else None)) for index, name in fields]
        )
    return buffer.getvalue()
