"""Run the selected controls over the selected regions and collect findings."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from scanner import __version__
from scanner.errors import EXIT_FAILURES, EXIT_INCOMPLETE, EXIT_OK, CollectorError
from scanner.inventory import DENIED_CODES, CheckInputs, Collector, Inventory, Scope
from scanner.model import (
    Finding,
    Outcome,
    ResourceRef,
    ResourceSnapshot,
    ScanMetadata,
    ScanResult,
    Severity,
    Status,
    finding_id,
)
from scanner.registry import CheckSpec
from scanner.session import AwsSession

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 16
"""Threads for collectors and per-resource reads; AWS, not the CPU, is the bottleneck."""


@dataclass(frozen=True, kw_only=True)
class ScanPlan:
    """Everything a scan needs, validated: which controls, parameters, regions, scope."""

    checks: tuple[CheckSpec, ...]
    params: Mapping[str, Mapping[str, Any]]
    """Effective parameters per check id (defaults overlaid by the baseline)."""
    regions: tuple[str, ...]
    scope: Scope = field(default_factory=Scope)
    baseline_digest: str = ""
    workers: int = DEFAULT_WORKERS


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_scan(
    plan: ScanPlan,
    session: AwsSession,
    *,
    on_progress: Callable[[str, str], None] | None = None,
    scan_id: str | None = None,
) -> ScanResult:
    """Scan every (region, check) of the plan; AWS errors become ERROR findings, never raise.

    ``scan_id`` names the scan (the history store records it before the scan starts).
    """
    started = _now()
    account_id = session.account_id(plan.regions[0])
    collectors = _collectors_of(plan.checks)
    findings: list[Finding] = []
    snapshots: list[ResourceSnapshot] = []
    denied: set[str] = set()
    with (
        ThreadPoolExecutor(plan.workers, thread_name_prefix="collect") as collect_pool,
        ThreadPoolExecutor(plan.workers, thread_name_prefix="item") as item_pool,
    ):
        inventories = [
            Inventory(
                session, account_id=account_id, region=region, scope=plan.scope, item_pool=item_pool
            )
            for region in plan.regions
        ]
        # Fetch every needed collector once, concurrently; checks then read memoised values.
        prefetch = [
            collect_pool.submit(inventory.try_get, source)
            for inventory in inventories
            for source in collectors
        ]
        try:
            for future in prefetch:
                future.result()
        except BaseException:  # interrupted (SIGTERM): start no more reads, wait for none queued
            for pool in (collect_pool, item_pool):
                pass
            raise
        for inventory in inventories:
            for spec in plan.checks:
                findings.extend(_run_check(spec, plan.params[spec.id], inventory))
                if on_progress:
                    on_progress(inventory.region, spec.id)
            snapshots.extend(inventory.snapshots())
            denied.update(e.action for e in inventory.read_errors if e.code in DENIED_CODES)
    metadata = ScanMetadata(
        scan_id=scan_id or str(uuid.uuid4()),
        tool_version=__version__,
        started_at=started,
        finished_at=_now(),
        account_ids=(account_id,),
        regions=plan.regions,
        baseline_digest=plan.baseline_digest,
        checks=tuple(spec.id for spec in plan.checks),
    )
    findings.sort(key=lambda f: (f.service, f.check_id, f.region, f.resource_id))
    return ScanResult(
        metadata=metadata,
        findings=tuple(findings),
        resources=tuple(snapshots),
        missing_actions=tuple(sorted(denied)),
    )


def _collectors_of(specs: Iterable[CheckSpec]) -> list[Collector[Any]]:
    seen: dict[str, Collector[Any]] = {}
    for spec in specs:
        for source in spec.reads:
            seen.setdefault(source.name, source)
    return list(seen.values())


def _run_check(spec: CheckSpec, params: Mapping[str, Any], inventory: Inventory) -> list[Finding]:
    """Run one check in one region; a failed collector or a crash becomes ERROR findings."""
    inputs = CheckInputs(inventory, spec.reads)
    try:
        outcomes = list(spec.function(inputs, params))
    except CollectorError as exc:
        failed_source = exc.collector or spec.reads[0]
        outcomes = [failed_source.unreadable(exc.error)]
    except Exception as exc:  # a bug in one check must not stop the scan
        log.exception("check %s crashed in %s", spec.id, inventory.region)
        outcomes = [
            Outcome(
                status=Status.ERROR,
                resource=ResourceRef(type="driftscan::Check", id="*"),
                message=f"internal error in check: {type(exc).__name__}: {exc}",
                evidence={"error_code": "InternalError"},
            )
        ]
    return [_finding(spec, outcome, inventory) for outcome in outcomes]


def _finding(spec: CheckSpec, outcome: Outcome, inventory: Inventory) -> Finding:
    resource = outcome.resource
    return Finding(
        finding_id=finding_id(
            inventory.account_id,
            inventory.region,
            spec.id,
            f"{resource.type}|{resource.arn or resource.id}",
        ),
        check_id=spec.id,
        title=spec.title,
        status=outcome.status,
        severity=spec.severity,
        service=spec.service,
        account_id=inventory.account_id,
        region=inventory.region,
        resource_type=resource.type,
        resource_id=resource.id,
        resource_arn=resource.arn,
        message=outcome.message,
        evidence=dict(outcome.evidence),
        remediation=spec.remediation,
    )


class FailOn(StrEnum):
    """The lowest severity of a FAIL finding that makes the scan exit 1, or ``new``: any
    failure the previous scan of the same scope did not have, or configuration drift."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NEW = "new"
    NEVER = "never"


def exit_code(result: ScanResult, fail_on: FailOn, *, new_problems: int = 0) -> int:
    """0 clean, 1 a failure at or above ``fail_on`` (with ``new``: any of ``new_problems``),
    4 unreadable evidence and nothing at 1."""
    if fail_on is FailOn.NEW:
        if new_problems:
            return EXIT_FAILURES
    elif fail_on is not FailOn.NEVER:
        threshold = Severity(fail_on.value).rank
        if any(f.status is Status.FAIL and f.severity.rank >= threshold for f in result.findings):
            return EXIT_FAILURES
    if result.count(Status.ERROR):
        return EXIT_INCOMPLETE
    return EXIT_OK
