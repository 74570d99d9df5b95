"""Aligned plain-text tables for the terminal (``sertk predict``, ``sertk models``,
``sertk prepare``); Markdown tables are :func:`sertk.eval.report.markdown_table`.

>>> print(text_table([["model", "params"], ["base7", "505,092"]], right={1}, rule=True))
model   params
-----  -------
base7  505,092
"""
from __future__ import annotations

from typing import Collection, Sequence


def text_table(rows: Sequence[Sequence[str]], *, right: Collection[int] = (),
               rule: bool = False) -> str:
    """``rows`` of string cells (the first is the header) as aligned text: two spaces
    between columns, the columns numbered in ``right`` right-aligned and the others
    left-aligned, no trailing spaces; ``rule`` draws dashes under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    lines = [line(row) for row in rows]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
