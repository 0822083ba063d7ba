"""The terminal table: findings grouped by service, then a summary line."""

from __future__ import annotations

import itertools

from tabulate import tabulate

from reports.summary import counts_by_status
from scanner.model import Finding, ScanResult, Status

MAX_REASON = 110


def _reason(finding: Finding) -> str:
    text = " ".join(finding.message.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def render(result: ScanResult) -> str:
    blocks = []
    ordered = sorted(
        result.findings,
        key=lambda f: (f.service, -f.severity.rank, f.status != Status.FAIL, f.check_id),
    )
    for service, group in itertools.groupby(ordered, key=lambda f: f.service):
        rows = [
            (f.status.value, f.severity.value, f.check_id, f.resource_id, f.region, _reason(f))
            for f in group
        ]
        table = tabulate(
            rows, headers=["status", "severity", "check", "resource", "region", "reason"]
        )
        blocks.append(f"== {service} ==\n{table}")
    counts = counts_by_status(result.findings)
    summary = (
        f"{len(result.findings)} findings: {counts['PASS']} passed, {counts['FAIL']} failed, "
        f"{counts['ERROR']} errors; {len(result.metadata.checks)} controls in "
        f"{', '.join(result.metadata.regions)} for account "
        f"{', '.join(result.metadata.account_ids)}"
    )
    if result.missing_actions:
        summary += "\nmissing IAM permissions: " + ", ".join(result.missing_actions)
    return "\n\n".join([*blocks, summary]) + "\n"
