"""The terminal table: findings grouped by service, the suppressed ones apart, then a summary."""

from __future__ import annotations

import itertools

from tabulate import tabulate

from reports.summary import counts_by_status, posture_score
from scanner.model import Finding, ScanResult, Status

MAX_REASON = 110
_COLOURS = {Status.PASS: "32", Status.FAIL: "1;31", Status.ERROR: "33", Status.MUTED: "2"}
"""ANSI SGR codes of the status column: green, bold red, yellow, dim."""


def _status(status: Status, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{status.value}\033[0m" if colour else status.value


def _reason(finding: Finding) -> str:
    text = " ".join(finding.message.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _suppression(finding: Finding) -> tuple[str, str]:
    record = finding.evidence.get("suppression", {})
    return record.get("reason", ""), record.get("expires", "")


def render(result: ScanResult, *, colour: bool = False) -> str:
    """The table; ``colour``: ANSI colours in the status column (the caller decides: a
    terminal without NO_COLOR)."""
    blocks = []
    ordered = sorted(
        (f for f in result.findings if f.status is not Status.MUTED),
        key=lambda f: (f.service, -f.severity.rank, f.status != Status.FAIL, f.check_id),
    )
    for service, grouped in itertools.groupby(ordered, key=lambda f: f.service):
        group = list(grouped)
        rows = [
            (
                _status(f.status, colour),
                f.severity.value,
                f.check_id,
                f.resource_id,
                f.region,
                _reason(f),
            )
            for f in group
        ]
        table = tabulate(
            rows, headers=["status", "severity", "check", "resource", "region", "reason"]
        )
        fixes = {f.check_id: f.remediation for f in group if f.status is Status.FAIL}
        fix_lines = "".join(f"\nfix {check}: {fix}" for check, fix in fixes.items())
        blocks.append(f"== {service} ==\n{table}{fix_lines}")
    muted = [
        (f.severity.value, f.check_id, f.resource_id, f.region, *_suppression(f))
        for f in result.findings
        if f.status is Status.MUTED
    ]
    if muted:
        headers = ["severity", "check", "resource", "region", "suppressed because", "until"]
        blocks.append(f"== suppressed (MUTED) ==\n{tabulate(muted, headers=headers)}")
    counts = counts_by_status(result.findings)
    score = posture_score(result.findings)
    summary = (
        f"{len(result.findings)} findings: {counts['PASS']} passed, {counts['FAIL']} failed, "
        f"{counts['ERROR']} errors, {counts['MUTED']} suppressed; posture score "
        f"{'n/a' if score is None else score}/100; {len(result.metadata.checks)} controls in "
        f"{', '.join(result.metadata.regions)} for account "
        f"{', '.join(result.metadata.account_ids)}"
    )
    if counts["ERROR"]:
        summary += f"\nINCOMPLETE: {counts['ERROR']} findings could not be judged (ERROR)"
    if result.missing_actions:
        summary += "\nmissing IAM permissions: " + ", ".join(result.missing_actions)
    return "\n\n".join([*blocks, summary]) + "\n"
