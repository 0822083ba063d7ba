"""CSV: a header, then one row a finding (RFC 4180: CRLF line ends, quoted where needed).

``evidence`` is the finding's evidence as compact JSON; an absent ARN is an empty cell;
``scan_id`` and ``scanned_at`` repeat the scan on every row, as in JSON Lines.
"""

from __future__ import annotations

import csv
import io
import json

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


def render(result: ScanResult) -> str:
    meta = result.metadata
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(
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
    return buffer.getvalue()
