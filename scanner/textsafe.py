"""Text for people: values from AWS or users made safe to print, and counted nouns.

Resource names, tag values, descriptions and AWS error messages are chosen by other people:
an ESC sequence in a log group name can clear a screen or set a window title, a newline can
forge a ``PASS`` row, a bidi override can make ``prod`` read as ``dorp``. Every text
rendering (the table, ``--quiet`` lines, text logs, error lines, the diff table) passes such
text through ``printable``; the JSON formats escape on their own. Plain data: no imports
beyond the standard library, so reports can use it.
"""

from __future__ import annotations

from collections.abc import Iterable

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROL = [
    *range(0x00, 0x20),  # C0, with newline, carriage return and tab
    0x7F,  # DEL
    *range(0x80, 0xA0),  # C1, among them CSI (U+009B), which some terminals obey like ESC [
    0x061C,  # Arabic letter mark
    0x200E,  # left-to-right mark
    0x200F,  # right-to-left mark
    *range(0x202A, 0x202F),  # bidi embeddings and overrides
    *range(0x2066, 0x206A),  # bidi isolates
    0x2028,  # line separator
    0x2029,  # paragraph separator
]


def _visible(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_ESCAPES = {code: _visible(code) for code in _CONTROL}


def printable(text: str) -> str:
    """``text`` with every control, bidi and line-separator character as a visible escape
    (``\\x1b``, ``\\n``, ``\\u202e``): it prints as one line and moves no cursor."""
    return text.translate(_ESCAPES)


def clip(text: str, limit: int = 80) -> str:
    """``printable(text)``, cut to ``limit`` characters with ``…``: for a value quoted in an
    error line, which must stay short whatever the value."""
    safe = printable(text[:limit])  # no longer than its escaped form: enough to decide
    return safe if len(safe) <= limit and len(text) <= limit else safe[: limit - 1] + "…"


MAX_PROBLEMS = 20
"""Problems an input file's error lists at most, one line each; the rest are counted."""


def at_most(lines: Iterable[str], limit: int) -> list[str]:
    """The first ``limit`` lines, then one line counting the others: an error about a file
    with thousands of problems stays readable."""
    shown: list[str] = []
    more = 0
    for line in lines:
        if len(shown) < limit:
            shown.append(line)
        else:
            more += 1
    return shown + ([f"and {count(more, 'more problem')}"] if more else [])


def count(number: int, noun: str) -> str:
    """``1 finding``, ``2 findings``: a number and a regular noun, in the right number."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
