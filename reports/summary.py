"""Counts and the posture score, which every format reports the same way."""

from __future__ import annotations

from collections.abc import Iterable

from scanner.model import Finding, Severity, Status

SCORE_WEIGHTS = {Severity.CRITICAL: 10, Severity.HIGH: 5, Severity.MEDIUM: 2, Severity.LOW: 1}
"""How much a finding of each severity weighs in the posture score."""


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


def posture_score(findings: Iterable[Finding]) -> float | None:
    """``100 x sum(weight of PASS) / sum(weight of PASS and FAIL)``, one decimal, weights
    SCORE_WEIGHTS. ERROR (not judged) and MUTED (accepted) findings count for neither side.
    None when nothing was judged PASS or FAIL."""
    passed = judged = 0
    for finding in findings:
        if finding.status in (Status.PASS, Status.FAIL):
            weight = SCORE_WEIGHTS[finding.severity]
            judged += weight
            passed += weight if finding.status is Status.PASS else 0
    return round(100 * passed / judged, 1) if judged else None
