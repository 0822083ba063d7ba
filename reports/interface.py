"""The report-format extension point: what a renderer is, and the formats there are.

A renderer turns a ScanResult (or, for ``driftscan diff``, a Diff between two recorded
scans) into text, in chunks, in order, and does no I/O: the machine formats give a
finding a chunk, so a report of many findings is written without ever being whole in
memory. ``reports.renderer_for`` and ``reports.diff_renderer_for`` are the only way the
application gets one; a new format is a module beside the others, a member here and a case
there.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol

from scanner.model import ScanResult
from scanner.store.drift import Diff


class Renderer(Protocol):
    def __call__(self, result: ScanResult) -> Iterable[str]: ...


class DiffRenderer(Protocol):
    def __call__(self, diff: Diff) -> Iterable[str]: ...


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    OCSF = "ocsf"
    ASFF = "asff"
    JSONL = "jsonl"
    CSV = "csv"
    HTML = "html"


class DiffFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


LINE_FORMATS = (OutputFormat.OCSF, OutputFormat.ASFF)
"""Formats that ``jsonl=True`` turns from one JSON document into one JSON object a line."""
