"""OCSF Compliance Finding events (class 2003), one per finding.

Why 2003 and not Detection Finding (2004): a driftscan finding is the result of evaluating
a control against a resource (PASS, FAIL or could-not-judge), which is what Compliance
Finding describes; Detection Finding is for alerts about activity (something happened).
Mapping table: ``docs/formats.md``. Shape: ``reports/schemas/ocsf-finding.schema.json``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from reports.asff import partition_of
from reports.streaming import json_array, json_lines
from scanner.engine.registry import compliance_of
from scanner.model import Finding, ScanMetadata, ScanResult, Severity, Status

OCSF_VERSION = "1.9.0"
"""The OCSF schema release every event names in ``metadata.version``."""

SECURITY_LAKE_OCSF_VERSION = "1.3.0"
"""The newest OCSF release Amazon Security Lake takes from custom sources ("For custom
sources, Security Lake supports OCSF version 1.3 and earlier": Security Lake user guide,
"Collecting data from custom sources in Security Lake")."""

CLASS_UID = 2003
CATEGORY_UID = 2  # Findings
ACTIVITY_CREATE = 1
ACTIVITY_CLOSE = 3
_SINCE_1_5 = ("desc", "checks")
"""Compliance attributes OCSF added in 1.5.0; every other attribute of our events exists in
1.3.0's Compliance Finding (with the cloud profile)."""
STANDARD = "driftscan baseline"

_SEVERITY = {
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}
_INFORMATIONAL = (1, "Informational")
_COMPLIANCE_STATUS = {
    Status.PASS: (1, "Pass"),
    Status.ERROR: (2, "Warning"),
    Status.FAIL: (3, "Fail"),
    Status.MUTED: (3, "Fail"),
}
_FINDING_STATUS = {
    Status.PASS: (4, "Resolved"),
    Status.ERROR: (1, "New"),
    Status.FAIL: (1, "New"),
    Status.MUTED: (3, "Suppressed"),
}


def epoch_ms(utc_iso: str) -> int:
    """``2024-05-01T12:00:00Z`` -> milliseconds since the epoch (OCSF ``timestamp_t``)."""
    return int(datetime.fromisoformat(utc_iso.replace("Z", "+00:00")).timestamp() * 1000)


def event(
    finding: Finding, meta: ScanMetadata, attribution: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One Compliance Finding event; ``finding_info.uid`` is the stable finding id."""
    control_severity_id, control_severity = _SEVERITY[finding.severity]
    severity_id, severity = (
        _INFORMATIONAL if finding.status is Status.PASS else _SEVERITY[finding.severity]
    )
    compliance_status_id, compliance_status = _COMPLIANCE_STATUS[finding.status]
    status_id, status = _FINDING_STATUS[finding.status]
    check: dict[str, Any] = {
        "uid": finding.check_id,
        "name": finding.title,
        "severity_id": control_severity_id,
        "severity": control_severity,
        "status_id": compliance_status_id,
        "status": compliance_status,
        "standards": [STANDARD],
    }
    if meta.baseline_digest:
        check["version"] = meta.baseline_digest
    resource: dict[str, Any] = {
        "uid": finding.resource_arn or finding.resource_id,
        "name": finding.resource_id,
        "type": finding.resource_type,
        "region": finding.region,
        "cloud_partition": partition_of(finding.region),
    }
    if finding.evidence:
        resource["data"] = dict(finding.evidence)
    frameworks = compliance_of(finding.check_id)
    compliance: dict[str, Any] = {
        # The Security Hub control the finding is a result of, as Security Lake maps ASFF's
        # SecurityControlId; else the control's own id.
        "control": frameworks.control_for(finding.resource_type) or finding.check_id,
        "desc": finding.title,
        "standards": [STANDARD, *frameworks.standards()],
        "status_id": compliance_status_id,
        "status": compliance_status,
        "checks": [check],
    }
    if requirements := frameworks.requirements():
        compliance["requirements"] = list(requirements)
    return {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "time": epoch_ms(meta.finished_at),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "message": finding.message,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "driftscan",
                "vendor_name": "driftscan",
                "version": meta.tool_version,
            },
            # OCSF's host profile is what adds ``actor`` to a class.
            "profiles": ["cloud", "host"] if _cause(attribution) else ["cloud"],
            "event_code": finding.check_id,
            "correlation_uid": meta.scan_id,
        },
        "cloud": {
            "provider": "AWS",
            "region": finding.region,
            "account": {"uid": finding.account_id, "type_id": 10, "type": "AWS Account"},
        },
        "finding_info": {
            "uid": finding.finding_id,
            "title": finding.title,
            "desc": finding.message,
            **_related_events(attribution),
        },
        "compliance": compliance,
        "remediation": {"desc": finding.remediation},
        "resources": [resource],
        **_actor(attribution),
    }


def _cause(attribution: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    events = attribution["events"] if attribution is not None else ()
    return next((e for e in events if e["plausible_cause"]), None)


def _actor(attribution: Mapping[str, Any] | None) -> dict[str, Any]:
    """``actor``: who made the plausible cause's call (CloudTrail's userIdentity as OCSF maps
    it: the principal's ARN, an assumed role's session under the role that issued it)."""
    cause = _cause(attribution)
    if cause is None:
        return {}
    actor: dict[str, Any] = {"user": {"uid": cause["principal"]}}
    if cause["session_name"]:
        actor["user"]["name"] = cause["session_name"]
        actor["session"] = {"issuer": cause["principal"]}
    return {"actor": actor}


def _related_events(attribution: Mapping[str, Any] | None) -> dict[str, Any]:
    """``finding_info.related_events``: the CloudTrail write events that touched the resource
    since the previous scan, newest first (``uid``: CloudTrail's event id, ``type``: the call,
    ``product_uid``: the service CloudTrail recorded it for)."""
    if attribution is None or not attribution["events"]:
        return {}
    return {
        "related_events": [
            {
                "uid": e["event_id"],
                "type": e["event_name"],
                "product_uid": e["event_source"],
            }
            for e in attribution["events"]
        ]
    }


def closed(event: dict[str, Any]) -> dict[str, Any]:
    """The event of a finding an earlier scan reported whose resource is gone: Close, Resolved."""
    return {
        **event,
        "activity_id": ACTIVITY_CLOSE,
        "activity_name": "Close",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CLOSE,
        "type_name": "Compliance Finding: Close",
        "status_id": _FINDING_STATUS[Status.PASS][0],
        "status": _FINDING_STATUS[Status.PASS][1],
    }


def at_security_lake_version(event: dict[str, Any]) -> dict[str, Any]:
    """The same event at SECURITY_LAKE_OCSF_VERSION: the compliance attributes 1.3.0 lacks are
    dropped (the control's own name and severity; the check id stays in
    ``metadata.event_code``, the baseline digest is lost)."""
    compliance = {k: v for k, v in event["compliance"].items() if k not in _SINCE_1_5}
    metadata = {**event["metadata"], "version": SECURITY_LAKE_OCSF_VERSION}
    return {**event, "metadata": metadata, "compliance": compliance}


def events(result: ScanResult) -> Iterator[dict[str, Any]]:
    return (
        event(finding, result.metadata, result.attributions.get(finding.finding_id))
        for finding in result.findings
    )


def render(result: ScanResult) -> Iterator[str]:
    """One JSON document: the array of events."""
    yield from json_array(events(result))
    yield "\n"


def render_lines(result: ScanResult) -> Iterator[str]:
    """One event a line (JSON Lines)."""
    return json_lines(events(result))
