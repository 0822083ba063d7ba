"""JSON Lines: our own finding objects, one a line, each naming its scan.

A line is the ``json`` format's finding plus ``scan_id`` and ``scanned_at``, so a line read
alone still says which scan judged it and when. Shape: ``reports/schemas/finding.schema.json``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from reports.json_findings import finding_to_dict
from reports.streaming import json_lines
from scanner.model import Finding, ScanMetadata, ScanResult


def line(
    finding: Finding, meta: ScanMetadata, attribution: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        **finding_to_dict(finding, attribution),
        "scan_id": meta.scan_id,
        "scanned_at": meta.finished_at,
    }


def render(result: ScanResult) -> Iterator[str]:
    return json_lines(
        line(finding, result.metadata, result.attributions.get(finding.finding_id))
        for finding in result.findings
    )
