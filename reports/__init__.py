"""Report formats: each module renders a ScanResult (or a Diff) to text and does no I/O.

The interface (what a renderer is, the formats) is ``reports.interface``; this module picks
the renderer of a format, so the application never names a format's module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import assert_never

from reports import asff, csv_report, diff_json, diff_table, html, json_findings, ocsf, table
from reports import jsonl as json_lines
from reports.interface import LINE_FORMATS, DiffFormat, DiffRenderer, OutputFormat, Renderer
from scanner.errors import ConfigError
from scanner.model import ScanResult

__all__ = ["LINE_FORMATS", "DiffFormat", "DiffRenderer", "OutputFormat", "Renderer"]

TrendOf = Callable[[ScanResult], Sequence[html.TrendPoint]]
"""The recorded scans an HTML report charts for a result, oldest first."""


def renderer_for(
    output_format: OutputFormat,
    *,
    jsonl: bool = False,
    colour: bool = False,
    width: int | None = None,
    csv_raw: bool = False,
    trend: TrendOf | None = None,
) -> Renderer:
    """The renderer of a format; exhaustive over OutputFormat.

    ``jsonl`` asks for one JSON object a line, which only the LINE_FORMATS offer; ``colour``
    colours the table's statuses and ``width`` fits it (for a terminal; None: no wrapping);
    ``csv_raw`` writes CSV cells as they are, formula characters and all; ``trend`` gives
    the HTML report its chart of earlier scans (None: no history to chart).
    """
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
            return lambda result: [html.render(result, trend(result) if trend else ())]
        case _:
            assert_never(output_format)


def diff_renderer_for(output_format: DiffFormat, *, width: int | None = None) -> DiffRenderer:
    """The renderer of ``driftscan diff``'s format; ``width`` fits the table to a terminal."""
    match output_format:
        case DiffFormat.TABLE:
            return lambda diff: [diff_table.render(diff, width=width)]
        case DiffFormat.JSON:
            return lambda diff: [diff_json.render(diff)]
        case _:
            assert_never(output_format)
