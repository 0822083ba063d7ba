"""Counts every format reports the same way."""

from __future__ import annotations

from collections.abc import Iterable

from scanner.model import Finding, Severity, Status


def counts_by_status(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {status.value: 0 for status in Status}
    for finding in findings:
        counts[finding.status.value] += 1
    return counts


def counts_by_severity(findings: Iterable[Finding]) -> dict[str, dict[str, int]]:
    counts = {severity.value: {status.value: 0 for status in Status} for severity in Severity}
    for finding in findings:
        counts[finding.severity.value][finding.status.value] += 1
    return counts
