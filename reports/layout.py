"""Tables and lines that fit a terminal, and keep every character of their text elsewhere.

``width`` is the terminal's width, or None for a file or a pipe: then nothing is wrapped or
cut, so a report written to a file holds every message whole. On a terminal a table that
is too wide wraps its long columns (the reason, the resource); when even that leaves them
too narrow to read, each row becomes a line of its short columns with the long ones
beneath it, indented. Text is never cut: wrapping only moves it to the next line.
Cells must already be escaped (``scanner.textsafe.printable``): the only escape sequences
here are the table's own colours.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Collection, Sequence

from tabulate import tabulate

GAP = 2
"""Spaces between columns, as tabulate's simple format puts them."""
HEADER_PADDING = 2
"""tabulate makes a column at least this much wider than its header."""
MIN_WRAPPED = 24
"""Narrower than this, a wrapped column is hard to read: rows are stacked instead."""
MIN_WIDTH = 40
"""Terminals narrower than this are laid out as if they were this wide."""
INDENT = "    "
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def visible_len(text: str) -> int:
    return len(_COLOUR.sub("", text))


def _pad(cell: str, width: int) -> str:
    return cell + " " * (width - visible_len(cell))


def wrap_line(text: str, width: int | None) -> str:
    """``text`` on as many lines of ``width`` as it needs, continuations indented."""
    if width is None or visible_len(text) <= width:
        return text
    return "\n".join(_wrap(text, max(width, MIN_WIDTH), INDENT))


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Lines of at most ``width`` visible characters. Colour codes take no room, and
    come only first in a line (the status column): the first line may be that much longer."""
    colours = len(text) - visible_len(text)
    first = textwrap.wrap(text, width + colours, break_on_hyphens=False)[:1] or [""]
    rest = text[len(first[0]) :].strip()
    more = textwrap.wrap(rest, width - len(indent), break_on_hyphens=False) if rest else []
    return first + [indent + line for line in more]


def table(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    width: int | None,
    *,
    wrap: Collection[int],
) -> str:
    """The rows as a table no wider than ``width``; columns ``wrap`` (indices) may wrap,
    the last of them being the long text that goes beneath its row when rows are stacked."""
    if width is None:
        return tabulate(rows, headers=headers, disable_numparse=True)
    width = max(width, MIN_WIDTH)
    natural = [
        max([len(header) + HEADER_PADDING, *(visible_len(row[i]) for row in rows)])
        for i, header in enumerate(headers)
    ]
    fixed = sum(w for i, w in enumerate(natural) if i not in wrap) + GAP * (len(headers) - 1)
    cap = _cap([natural[i] for i in wrap], width - fixed)
    if cap >= MIN_WRAPPED:
        limits = [min(natural[i], cap) if i in wrap else None for i in range(len(headers))]
        text = tabulate(
            rows,
            headers=headers,
            disable_numparse=True,
            maxcolwidths=limits,
            break_on_hyphens=False,
        )
        if max(map(visible_len, text.splitlines())) <= width:
            return text
    return _stacked(rows, headers, width, wrap)


def _cap(widths: Sequence[int], room: int) -> int:
    """The largest column width c with sum(min(w, c)) <= room: long columns share the room
    equally, short ones keep their width."""
    cap = max(widths, default=0)
    while cap > 0 and sum(min(w, cap) for w in widths) > room:
        cap -= 1
    return cap


def _stacked(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    width: int,
    wrap: Collection[int],
) -> str:
    """For each row a line of its short columns, aligned, then its long ones (a 1,200-
    character name would push everything after it onto lines of its own), wrapped; the last
    long column (the reason) beneath, indented and wrapped."""
    detail = max(wrap)
    short = [i for i in range(len(headers)) if i not in wrap]
    natural = {i: max([len(headers[i]), *(visible_len(row[i]) for row in rows)]) for i in short}
    order = short + [i for i in sorted(wrap) if i != detail]

    def lines_of(row: Sequence[str]) -> list[str]:
        parts = [_pad(row[i], natural[i]) if i in short else row[i] for i in order]
        head = (" " * GAP).join(parts).rstrip()
        below = _wrap(row[detail], width - len(INDENT)) if row[detail] else []
        return _wrap(head, width, INDENT) + [INDENT + line for line in below]

    title = lines_of(headers)
    lines = [*title, "-" * max(map(visible_len, title))]
    for row in rows:
        lines += lines_of(row)
    return "\n".join(lines)
