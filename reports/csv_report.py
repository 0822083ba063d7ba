"""CSV: a header, then one row a finding (RFC 4180: CRLF line ends, quoted where needed).

``evidence`` is the finding's evidence as compact JSON; an absent ARN is an empty cell;
``scan_id`` and ``scanned_at`` repeat the scan on every row, as in JSON Lines. The last
columns are the framework requirements the finding's control evidences, the JSON format's
``compliance`` lists joined with ``;`` (empty when none), then ``changed_by``: who changed
the resource (CloudTrail, docs/attribution.md) for a finding new since the previous scan,
empty for the others. New columns come last so that the columns before them keep their
places.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula: ``=cmd|' /C calc'!A0`` in a resource name is code run on the
auditor's machine. Such cells get a leading ``'`` as OWASP recommends ("CSV Injection"),
which spreadsheets show as text; ``raw=True`` (``--csv-raw``) writes them as they are, for
programs that read the file.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

from scanner.engine.registry import compliance_of
from scanner.model import ScanResult

FRAMEWORK_COLUMNS = ("security_hub", "fsbp", "nist_800_53", "cis")
"""Keys of ``Compliance.as_dict``."""

COLUMNS = (
    "finding_id",
    "check_id",
    "title",
    "status",
    "severity",
    "service",
    "account_id",
    "region",
    "resource_type",
    "resource_id",
    "resource_arn",
    "message",
    "remediation",
    "evidence",
    "scan_id",
    "scanned_at",
    *FRAMEWORK_COLUMNS,
    "changed_by",
)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: ``'`` before a formula's first character."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def render(result: ScanResult, *, raw: bool = False) -> Iterator[str]:
    """The header, then a row a chunk; cells neutralised unless ``raw``."""
    meta = result.metadata
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    rows = (
        (
            f.finding_id,
            f.check_id,
            f.title,
            f.status.value,
            f.severity.value,
            f.service,
            f.account_id,
            f.region,
            f.resource_type,
            f.resource_id,
            f.resource_arn or "",
            f.message,
            f.remediation,
            json.dumps(dict(f.evidence), sort_keys=True, separators=(",", ":"), default=str),
            meta.scan_id,
            meta.finished_at,
            *_frameworks(f.check_id),
            _changed_by(result.attributions.get(f.finding_id)),
        )
        for f in result.findings
    )
    for row in itertools.chain([COLUMNS], rows):
        writer.writerow(row if raw else [neutralised(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _changed_by(attribution: Mapping[str, Any] | None) -> str:
    """Who changed it, for findings new since the previous scan; empty for the others."""
    return str(attribution["summary"]) if attribution is not None else ""


def _frameworks(check_id: str) -> list[str]:
    mapped = compliance_of(check_id).as_dict()
    return [";".join(mapped[column]) for column in FRAMEWORK_COLUMNS]
