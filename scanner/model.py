"""Plain data types that flow from collectors to checks to reports."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    MUTED = "MUTED"
    """A FAIL an unexpired suppression accepts (see scanner/app/suppressions.py)."""


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is more severe; used for thresholds and sorting."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


@dataclass(frozen=True, kw_only=True)
class ReadError:
    """Evidence that could not be read: the AWS error code and the IAM action behind it."""

    code: str
    """AWS error code (``AccessDeniedException``) or exception name for transport errors."""
    action: str
    """IAM action of the failed call, ``service:Operation``."""
    detail: str = ""
    """The error message AWS returned, if any."""

    def __str__(self) -> str:
        text = f"{self.code} on {self.action}"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True, kw_only=True)
class ResourceRef:
    """The resource a finding judges."""

    type: str
    """CloudFormation-style type name, e.g. ``AWS::KMS::Key``."""
    id: str
    """The AWS id or name (key id, vpc-..., stage ``api-id/stage``...)."""
    arn: str | None = None
    """The ARN where AWS has one."""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What a check says about one resource; the runner turns it into a Finding."""

    status: Status
    resource: ResourceRef
    message: str
    """Why it passed or failed, with the observed values."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """The fields read, as a small JSON-serialisable object."""


@dataclass(frozen=True, kw_only=True)
class UnreadableResource:
    """A listed resource whose details could not be read: the engine reports it as ERROR for
    every check that reads its collector, and no check sees it."""

    ref: ResourceRef
    error: ReadError
    what: str
    """What could not be read, for the message: ``could not read {what}: {error}``."""

    def outcome(self) -> Outcome:
        return unreadable(self.ref, self.error, self.what)


def passed(resource: ResourceRef, message: str, **evidence: Any) -> Outcome:
    return Outcome(status=Status.PASS, resource=resource, message=message, evidence=evidence)


def failed(resource: ResourceRef, message: str, **evidence: Any) -> Outcome:
    return Outcome(status=Status.FAIL, resource=resource, message=message, evidence=evidence)


def unreadable(resource: ResourceRef, error: ReadError, what: str = "evidence") -> Outcome:
    """ERROR outcome for a resource whose evidence could not be read."""
    return Outcome(
        status=Status.ERROR,
        resource=resource,
        message=f"could not read {what}: {error}",
        evidence={"error_code": error.code, "action": error.action},
    )


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One judgement of one control on one resource, as every report format sees it."""

    finding_id: str
    """Stable across scans: hash of account, region, check id and resource."""
    check_id: str
    title: str
    status: Status
    severity: Severity
    service: str
    account_id: str
    region: str
    resource_type: str
    resource_id: str
    resource_arn: str | None
    message: str
    evidence: Mapping[str, Any]
    remediation: str


def finding_order(finding: Finding) -> tuple[str, str, str, str, str]:
    """The order of a result's findings (report order): service, control, region, account,
    resource."""
    return (
        finding.service,
        finding.check_id,
        finding.region,
        finding.account_id,
        finding.resource_id,
    )


def finding_id(account_id: str, region: str, check_id: str, resource_key: str) -> str:
    """Stable id: only identity goes in, never a message, time or position."""
    raw = "|".join((account_id, region, check_id, resource_key))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class ResourceSnapshot:
    """The normalised configuration a collector saw, kept for drift comparison."""

    account_id: str
    region: str
    collector: str
    resource_id: str
    config: Mapping[str, Any]


def resource_key(account_id: str, region: str, collector: str, resource_id: str) -> str:
    """How a drifted resource (not a finding) is named among a scan's attributions."""
    return f"resource:{account_id}:{region}:{collector}:{resource_id}"


@dataclass(frozen=True, kw_only=True)
class ScanMetadata:
    scan_id: str
    tool_version: str
    started_at: str
    """UTC, ISO 8601."""
    finished_at: str
    account_ids: tuple[str, ...]
    regions: tuple[str, ...]
    baseline_digest: str
    """sha256 of the effective baseline (parameters, scope, enabled controls)."""
    checks: tuple[str, ...]
    """Ids of the controls that ran."""


class CountedFindings(Sequence[Finding], ABC):
    """Findings kept outside memory (a scan's scratch file, scanner.store.scratch) and read
    back, in report order, each time they are iterated: counting them by status must not
    read them all."""

    @abstractmethod
    def count_status(self, status: Status) -> int: ...


@dataclass(frozen=True, kw_only=True)
class ScanResult:
    metadata: ScanMetadata
    findings: Sequence[Finding]
    """In report order (finding_order); a tuple, or CountedFindings for a scan
    recorded shard by shard."""
    resources: Sequence[ResourceSnapshot] = ()
    missing_actions: tuple[str, ...] = ()
    """IAM actions that were denied during the scan."""
    attributions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Who changed it (CloudTrail), by finding id, for the findings new or changed since the
    previous scan (and by ``resource_key`` for resources drifted since ``--drift-from``): the
    engine's ``Attribution.as_dict()`` with its one-line ``summary``, plain data for reports
    and the history store (scanner.engine.attribution builds it)."""
    attribution_left_over: tuple[str, ...] = ()
    """The finding ids (or resource keys) not attributed: the scan's lookup budget was spent."""

    def count(self, status: Status) -> int:
        if isinstance(self.findings, CountedFindings):
            return self.findings.count_status(status)
        return sum(1 for f in self.findings if f.status is status)
