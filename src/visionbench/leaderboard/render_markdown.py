"""A :class:`~visionbench.leaderboard.layout.Table` as GitHub-flavoured markdown: the title, the comparison table
(column groups named in the headers), its notes, and the provenance table."""

from __future__ import annotations

from collections.abc import Sequence

from visionbench.leaderboard.layout import MAIN, PROVENANCE, Cell, Column, Table


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _header(column: Column, grouped: bool) -> str:
    return f"{column.group}: {column.label}" if grouped and column.group else column.label


def _grid(table: Table, indices: Sequence[int]) -> list[str]:
    grouped = len({table.columns[index].group for index in indices} - {""}) > 1
    header = [_escape(_header(table.columns[index], grouped)) for index in indices]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in indices) + "|"]
    for row in table.rows:
        lines.append("| " + " | ".join(_cell(row[index]) for index in indices) + " |")
    return lines


def _cell(cell: Cell) -> str:
    text = _escape(cell.text)
    return f"**{text}**" if cell.strong and text else text


def render_markdown(table: Table) -> str:
    """The markdown text of ``table``."""
    main = table.section(MAIN)
    groups = list(dict.fromkeys(table.columns[index].group for index in main if table.columns[index].group))
    lines = [f"## {_escape(table.title)}", ""]
    if len(groups) == 1:
        lines += [f"Columns: {groups[0]}", ""]
    lines += _grid(table, main) + [""]
    lines += [f"- {note}" for note in table.notes]
    provenance = table.section(PROVENANCE)
    if provenance:
        lines += ["", "### Provenance", ""] + _grid(table, list(range(table.labels)) + provenance)
    return "\n".join(lines) + "\n"
