"""Rows for people and for pipes: on a terminal, aligned columns that fit its width; in a
pipe, tab-separated lines (``ghbackup runs | grep FAILED``) with plain numbers.

A value is never cut. When the columns do not fit, the least useful ones are left out
first; a free-text column (an error) wraps inside the width that is left."""

from __future__ import annotations

import shutil
import sys
import textwrap
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

GAP = "  "
MIN_WRAP_WIDTH = 20


@dataclass(frozen=True)
class Column:
    """``keep``: the higher, the later it is left out (0: never). ``wrap``: free text that
    may wrap over lines instead of setting the column's width."""

    name: str
    keep: int = 0
    wrap: bool = False
    right: bool = False


def printable(text: str) -> str:
    """``text`` with control and format characters (a terminal escape sequence, a tab or a
    newline that would split a line, a bidirectional override) shown as ``\\x1b``-style
    escapes: names read from an archive are untrusted."""
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c)[0] == "C" else c
        for c in text
    )


def terminal_width() -> int | None:
    """The width of the terminal stdout is, or None when stdout is not one."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def print_rows(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: Callable[[], int | None] = terminal_width,
) -> None:
    """Print ``rows`` (one string per column) on stdout."""
    rows = [[printable(cell) for cell in row] for row in rows]
    available = width()
    if available is None:
        for row in rows:  # numbers as a script reads them: 1234567, not 1,234,567
            cells = zip(row, columns, strict=True)
            print("\t".join(c.replace(",", "") if col.right else c for c, col in cells))
        return
    shown = _fitting(columns, rows, available)
    widths = {i: max([len(columns[i].name), *(len(r[i]) for r in rows)]) for i in shown}
    fixed = sum(widths[i] for i in shown if not columns[i].wrap) + len(GAP) * (len(shown) - 1)
    wrap_width = max(MIN_WRAP_WIDTH, available - fixed)
    for i in shown:
        if columns[i].wrap:
            widths[i] = min(widths[i], wrap_width)
    for row in [[c.name for c in columns], *rows]:
        cells = {i: textwrap.wrap(row[i], widths[i]) or [""] if columns[i].wrap else [row[i]]
                 for i in shown}  # fmt: skip
        for line in range(max(len(c) for c in cells.values())):
            parts = []
            for i in shown:
                text = cells[i][line] if line < len(cells[i]) else ""
                parts.append(text.rjust(widths[i]) if columns[i].right else text.ljust(widths[i]))
            print(GAP.join(parts).rstrip())


def _fitting(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """The columns to show, in their order: drop the least kept until the rest fit."""
    shown = list(range(len(columns)))

    def needed(i: int) -> int:
        if columns[i].wrap:
            return MIN_WRAP_WIDTH
        return max([len(columns[i].name), *(len(r[i]) for r in rows)])

    by_keep = sorted((i for i in shown if columns[i].keep), key=lambda i: columns[i].keep)
    while sum(needed(i) for i in shown) + len(GAP) * (len(shown) - 1) > width and by_keep:
        shown.remove(by_keep.pop(0))
    return shown
