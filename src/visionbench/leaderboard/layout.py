"""A table as every renderer sees it (titled columns with their group and section, one cell per row and column,
notes), and how a number is written in its unit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAIN, PROVENANCE = "main", "provenance"
"""Column sections: the comparison, and where each row's numbers come from (rendered as a second table)."""


@dataclass(frozen=True)
class Unit:
    """A metric's unit as shown: ``fraction`` ratios become percent with ``percent``; other units (``px``,
    ``count``, ``s``...) are shown as they are."""

    name: str
    percent: bool = False

    @property
    def factor(self) -> float:
        return 100.0 if self.name == "fraction" and self.percent else 1.0

    @property
    def label(self) -> str:
        return "%" if self.factor == 100.0 else self.name

    def scaled(self, value: float | None) -> float:
        """``value`` in the shown unit (NaN for None)."""
        return math.nan if value is None else round(float(value) * self.factor, 12)

    def format(self, value: float | None, signed: bool = False) -> str:
        """``value`` (in the stored unit) as text in the shown unit; ``-`` for a missing number."""
        number = self.scaled(value)
        if math.isnan(number):
            return "-"
        sign = "+" if signed else ""
        if self.label == "%":
            return f"{number:{sign}.2f}"
        if self.name == "fraction":
            return f"{number:{sign}.4f}"
        if self.name == "px":
            return f"{number:{sign}.3f}"
        if self.name == "count":
            return f"{number:{sign}.0f}" if number == round(number) else f"{number:{sign}.1f}"
        return f"{number:{sign}.4g}"


@dataclass(frozen=True)
class Column:
    """A column: ``key`` its unique machine name (CSV header), ``label`` the header shown (unit included), ``group``
    the column group (a dataset and split; empty for row-wide columns), ``section`` :data:`MAIN` or
    :data:`PROVENANCE`."""

    key: str
    label: str
    group: str = ""
    section: str = MAIN


@dataclass(frozen=True)
class Cell:
    """One cell: ``text`` shown, ``sort`` the value a sortable table orders by (None: empty), ``fields`` the
    machine-readable values (CSV columns ``<column key>`` for ``""`` and ``<column key> <name>`` for the others), and
    ``strong``: emphasised (the best row and those not distinguishable from it)."""

    text: str = ""
    sort: float | str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    strong: bool = False


@dataclass
class Table:
    """A titled table with notes (legend, units, what was left out); ``rows[i][j]`` is the cell of column ``j``, the
    first ``labels`` columns name the rows."""

    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    labels: int = 1
    """How many leading columns name the row (repeated in the provenance table)."""

    def section(self, name: str) -> list[int]:
        """Indices of the columns of section ``name``."""
        return [index for index, column in enumerate(self.columns) if column.section == name]
