"""JSON written a piece at a time, so a report of many findings is never whole in memory.

The text is exactly what ``json.dumps(..., indent=2)`` writes for the whole value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

INDENT = "  "


def json_array(items: Iterable[Any], *, depth: int = 0) -> Iterator[str]:
    """``json.dumps(list(items), indent=2)`` at nesting ``depth``, an item a chunk."""
    pad = INDENT * (depth + 1)
    first = True
    for item in items:
        # Newlines inside JSON strings are escaped, so every newline here is layout.
        text = json.dumps(item, indent=2, default=str).replace("\n", "\n" + pad)
        yield ("[\n" if first else ",\n") + pad + text
        first = False
    yield "[]" if first else "\n" + INDENT * depth + "]"


def json_object(head: Mapping[str, Any], key: str, items: Iterable[Any]) -> Iterator[str]:
    """``json.dumps({**head, key: list(items)}, indent=2)``: ``head`` then the array under
    ``key`` (its last member), an item a chunk."""
    text = json.dumps({**head, key: None}, indent=2, default=str)
    yield text.removesuffix("null\n}")
    yield from json_array(items, depth=1)
    yield "\n}"


def json_lines(items: Iterable[Any]) -> Iterator[str]:
    """One compact JSON value a line (JSON Lines)."""
    for item in items:
        yield json.dumps(item, default=str) + "\n"
