"""Our own JSON document: scan metadata, summary and every finding.

Shape: ``reports/schemas/findings.schema.json`` (validated in tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from reports.streaming import json_object
from reports.summary import counts_by_severity, counts_by_status, posture_score
from scanner.engine.registry import compliance_of
from scanner.model import Finding, ScanResult, Status

SCHEMA_VERSION = "1.0"


def finding_to_dict(
    finding: Finding, attribution: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The finding as JSON; with who changed it (``ScanResult.attributions``) when known."""
    shown = {
        "finding_id": finding.finding_id,
        "check_id": finding.check_id,
        "title": finding.title,
        "status": finding.status.value,
        "severity": finding.severity.value,
        "service": finding.service,
        "account_id": finding.account_id,
        "region": finding.region,
        "resource_type": finding.resource_type,
        "resource_id": finding.resource_id,
        "resource_arn": finding.resource_arn,
        "message": finding.message,
        "evidence": dict(finding.evidence),
        "remediation": finding.remediation,
        "compliance": compliance_of(finding.check_id).as_dict(),
    }
    if attribution is not None:
        shown["attribution"] = dict(attribution)
    return shown


def head(result: ScanResult) -> dict[str, Any]:
    """The document but its findings: scan metadata and summary."""
    meta = result.metadata
    return {
        "schema_version": SCHEMA_VERSION,
        "scan": {
            "id": meta.scan_id,
            "tool_version": meta.tool_version,
            "started_at": meta.started_at,
            "finished_at": meta.finished_at,
            "account_ids": list(meta.account_ids),
            "regions": list(meta.regions),
            "baseline_digest": meta.baseline_digest,
            "checks": list(meta.checks),
        },
        "summary": {
            "complete": result.count(Status.ERROR) == 0,
            "by_status": counts_by_status(result.findings),
            "by_severity": counts_by_severity(result.findings),
            "posture_score": posture_score(result.findings),
            "missing_actions": list(result.missing_actions),
            "attribution_left_over": list(result.attribution_left_over),
        },
    }


def render(result: ScanResult) -> Iterator[str]:
    """``head`` plus ``findings``, a finding a chunk."""
    findings = (
        finding_to_dict(finding, result.attributions.get(finding.finding_id))
        for finding in result.findings
    )
    yield from json_object(head(result), "findings", findings)
    yield "\n"
