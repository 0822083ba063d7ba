"""Report formats: each module renders a ScanResult to text and does no I/O."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, assert_never

from scanner.model import ScanResult


class Renderer(Protocol):
    def __call__(self, result: ScanResult) -> str: ...


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def renderer_for(output_format: OutputFormat) -> Renderer:
    """The renderer of a format; exhaustive over OutputFormat."""
    from reports import json_findings, table

    match output_format:
        case OutputFormat.TABLE:
            return table.render
        case OutputFormat.JSON:
            return json_findings.render
        case _:
            assert_never(output_format)
