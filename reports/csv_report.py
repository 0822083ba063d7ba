"""CSV: a header, then one row a finding (RFC 4180: CRLF line ends, quoted where needed).

``evidence`` is the finding's evidence as compact JSON; an absent ARN is an empty cell;
``scan_id`` and ``scanned_at`` repeat the scan on every row, as in JSON Lines.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator

from scanner.model import ScanResult

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
)


def render(result: ScanResult) -> Iterator[str]:
    """The header, then a row a chunk."""
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
        )
        for f in result.findings
    )
    for row in itertools.chain([COLUMNS], rows):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
