"""AWS Security Finding Format (ASFF) documents, as Security Hub BatchImportFindings takes them.

``render`` gives the request body, ``{"Findings": [...]}`` (usable with ``aws securityhub
batch-import-findings --cli-input-json``); ``render_lines`` one finding a line. Mapping table:
``docs/formats.md``. Shape: ``reports/schemas/asff.schema.json``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from reports.streaming import json_lines, json_object
from scanner.engine.aws_data import partition_of, shape_members
from scanner.engine.registry import compliance_of
from scanner.model import Finding, ScanMetadata, ScanResult, Severity, Status

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
ID_PREFIX = "driftscan/"

# Field limits of BatchImportFindings; longer values are cut, never rejected.
MAX_TITLE = 256
MAX_DESCRIPTION = 1024
MAX_RECOMMENDATION = 512
MAX_RELATED_REQUIREMENTS = 32
MAX_PRODUCT_FIELD = 2048

_LABEL = {
    Severity.LOW: "LOW",
    Severity.MEDIUM: "MEDIUM",
    Severity.HIGH: "HIGH",
    Severity.CRITICAL: "CRITICAL",
}
_COMPLIANCE = {
    Status.PASS: "PASSED",
    Status.FAIL: "FAILED",
    Status.ERROR: "NOT_AVAILABLE",
    Status.MUTED: "FAILED",
}
_WORKFLOW = {
    Status.PASS: "RESOLVED",
    Status.FAIL: "NEW",
    Status.ERROR: "NEW",
    Status.MUTED: "SUPPRESSED",
}


@functools.cache
def _asff_resource_types() -> dict[str, str]:
    """ASFF resource type names (``AwsEc2Vpc``...) by their lower-case form."""
    return {name.lower(): name for name in shape_members("securityhub", "ResourceDetails")}


def resource_type(cloudformation_type: str) -> str:
    """``AWS::EC2::VPC`` -> ``AwsEc2Vpc`` where Security Hub defines the type, else ``Other``."""
    return _asff_resource_types().get(cloudformation_type.replace("::", "").lower(), "Other")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def product_arn(region: str, account_id: str) -> str:
    """The account's own (custom integration) product in ``region``."""
    partition = partition_of(region)
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def asff_id(finding_id: str) -> str:
    return ID_PREFIX + finding_id


def document(
    finding: Finding,
    meta: ScanMetadata,
    product_region: str | None = None,
    *,
    archived: bool = False,
    attribution: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ASFF finding; ``product_region`` is the Security Hub region it is imported into
    (default: the finding's own region). ``archived``: a finding of an earlier scan whose
    resource is gone (RecordState ARCHIVED, Workflow RESOLVED). ``attribution``: who changed
    it (``ScanResult.attributions``), as ProductFields strings."""
    severity = "INFORMATIONAL" if finding.status is Status.PASS else _LABEL[finding.severity]
    product_fields = {
        "driftscan/check_id": finding.check_id,
        "driftscan/status": finding.status.value,
        "driftscan/service": finding.service,
        "driftscan/scan_id": meta.scan_id,
    }
    if meta.baseline_digest:
        product_fields["driftscan/baseline_digest"] = meta.baseline_digest
    product_fields.update(_changed_by(attribution))
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": asff_id(finding.finding_id),
        "ProductArn": product_arn(product_region or finding.region, finding.account_id),
        "ProductName": "driftscan",
        "CompanyName": "driftscan",
        "GeneratorId": ID_PREFIX + finding.check_id,
        "AwsAccountId": finding.account_id,
        "Types": [FINDING_TYPE],
        "CreatedAt": meta.finished_at,
        "UpdatedAt": meta.finished_at,
        "Severity": {"Label": severity, "Original": finding.severity.value},
        "Title": _cut(finding.title, MAX_TITLE),
        "Description": _cut(finding.message, MAX_DESCRIPTION),
        "Remediation": {"Recommendation": {"Text": _cut(finding.remediation, MAX_RECOMMENDATION)}},
        "ProductFields": product_fields,
        "Resources": [
            {
                "Type": resource_type(finding.resource_type),
                "Id": finding.resource_arn or finding.resource_id,
                "Partition": partition_of(finding.region),
                "Region": finding.region,
                "Details": {"Other": {"CloudFormationType": finding.resource_type}},
            }
        ],
        "Compliance": _compliance(finding),
        "Workflow": {"Status": "RESOLVED" if archived else _WORKFLOW[finding.status]},
        "RecordState": "ARCHIVED" if archived else "ACTIVE",
    }


def _changed_by(attribution: Mapping[str, Any] | None) -> dict[str, str]:
    """ProductFields of who changed it: the summary line, and the plausible cause's principal,
    call, time and CloudTrail event id apart, for Security Hub's filters."""
    if attribution is None:
        return {}
    fields = {"driftscan/changed_by": _cut(str(attribution["summary"]), MAX_PRODUCT_FIELD)}
    cause = next((e for e in attribution["events"] if e["plausible_cause"]), None)
    if cause is not None:
        for name in ("principal", "event_name", "event_time", "event_id"):
            fields[f"driftscan/changed_by_{name}"] = _cut(str(cause[name]), MAX_PRODUCT_FIELD)
    return fields


def _compliance(finding: Finding) -> dict[str, Any]:
    """Status, the requirements the control evidences, and the Security Hub control the
    finding is a result of (only where that control judges the same requirement)."""
    compliance = compliance_of(finding.check_id)
    document: dict[str, Any] = {"Status": _COMPLIANCE[finding.status]}
    if control := compliance.control_for(finding.resource_type):
        document["SecurityControlId"] = control
    if requirements := compliance.requirements():
        document["RelatedRequirements"] = list(requirements[:MAX_RELATED_REQUIREMENTS])
    return document


def documents(result: ScanResult, product_region: str | None = None) -> Iterator[dict[str, Any]]:
    return (
        document(
            f, result.metadata, product_region, attribution=result.attributions.get(f.finding_id)
        )
        for f in result.findings
    )


def render(result: ScanResult) -> Iterator[str]:
    yield from json_object({}, "Findings", documents(result))
    yield "\n"


def render_lines(result: ScanResult) -> Iterator[str]:
    return json_lines(documents(result))
