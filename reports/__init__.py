"""Report formats: each module renders a ScanResult to text and does no I/O.

A renderer gives the text in chunks, in order: the machine formats a finding a chunk, so a
report of many findings is written without ever being whole in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol, assert_never

from scanner.errors import ConfigError
from scanner.model import ScanResult


class Renderer(Protocol):
    def __call__(self, result: ScanResult) -> Iterable[str]: ...


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    OCSF = "ocsf"
    ASFF = "asff"
    JSONL = "jsonl"
    CSV = "csv"
    HTML = "html"


LINE_FORMATS = (OutputFormat.OCSF, OutputFormat.ASFF)
"""Formats that ``jsonl=True`` turns from one JSON document into one JSON object a line."""


def renderer_for(
    output_format: OutputFormat,
    *,
    jsonl: bool = False,
    colour: bool = False,
    width: int | None = None,
    csv_raw: bool = False,
) -> Renderer:
    """The renderer of a format; exhaustive over OutputFormat.

    ``jsonl`` asks for one JSON object a line, which only the LINE_FORMATS offer; ``colour``
    colours the table's statuses and ``width`` fits it (for a terminal; None: no wrapping);
    ``csv_raw`` writes CSV cells as they are, formula characters and all.
    """
    from reports import asff, csv_report, html, json_findings, ocsf, table
    from reports import jsonl as json_lines

    if jsonl and output_format not in LINE_FORMATS:
        raise ConfigError(
            f"--jsonl applies to the ocsf and asff formats, not {output_format.value}"
            + (" (use --format jsonl)" if output_format is OutputFormat.JSON else "")
        )
    match output_format:
        case OutputFormat.TABLE:
            return lambda result: [table.render(result, colour=colour, width=width)]
        case OutputFormat.JSON:
            return json_findings.render
        case OutputFormat.OCSF:
            return ocsf.render_lines if jsonl else ocsf.render
        case OutputFormat.ASFF:
            return asff.render_lines if jsonl else asff.render
        case OutputFormat.JSONL:
            return json_lines.render
        case OutputFormat.CSV:
            return lambda result: csv_report.render(result, raw=csv_raw)
        case OutputFormat.HTML:
            return lambda result: [html.render(result)]
        case _:
            assert_never(output_format)
