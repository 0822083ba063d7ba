"""Run the selected controls over the selected regions and collect findings."""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from scanner import __version__
from scanner.engine.accounts import Target
from scanner.engine.inventory import (
    DENIED_CODES,
    AccountReads,
    CheckInputs,
    Collector,
    Inventory,
    Scope,
)
from scanner.engine.registry import CheckSpec
from scanner.engine.session import EXCERPT_CHARACTERS, AwsSession
from scanner.errors import EXIT_FAILURES, EXIT_INCOMPLETE, EXIT_OK
from scanner.model import (
    Finding,
    Outcome,
    ReadError,
    ResourceRef,
    ResourceSnapshot,
    ScanMetadata,
    ScanResult,
    Severity,
    Status,
    finding_id,
    finding_order,
)
from scanner.textsafe import clip

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 32
"""Threads for collectors and per-resource reads; AWS, not the CPU, is the bottleneck."""

SHARDS_IN_FLIGHT = 4
"""(account, region) shards read at once in a multi-account scan, rounded to whole accounts
(at least one: an account's regions share its global reads): enough to keep every worker
busy (4 x collectors reads), few enough that an organization's memory is that of a few
shards."""


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


@dataclass(frozen=True, kw_only=True)
class Progress:
    """How far a scan is, in steps: every (account-region, collector) read, then every
    (account-region, control) judgement."""

    done: int
    total: int
    findings: int
    """Findings so far."""
    unit: str = "region x collector reads and control checks"
    """What a step is."""


def utc_now() -> str:
    """Now, UTC, ISO 8601 to the second (``2026-01-31T12:00:00Z``)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


Prefetch = tuple[Inventory, list[Future[Any]]]
"""An (account, region)'s inventory and the reads that fill it."""


@dataclass(frozen=True, kw_only=True)
class ShardFindings:
    """What one (account, region) of a scan found, judged: a scan is a stream of these, so
    that it can be recorded and rendered shard by shard and never held whole."""

    account_id: str
    region: str
    findings: tuple[Finding, ...]
    resources: tuple[ResourceSnapshot, ...] = ()
    denied: frozenset[str] = frozenset()
    """IAM actions denied while reading the shard."""
    account_error: ReadError | None = None
    """Why the account's role could not be assumed (its findings are then ERROR)."""


def run_scan(
    plan: ScanPlan,
    session: AwsSession,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    scan_id: str | None = None,
    targets: Sequence[Target] | None = None,
) -> ScanResult:
    """The whole scan in memory: every shard of ``scan_shards``, collected and sorted.

    ``scan_id`` names the scan (the history store records it before the scan starts).
    """
    started = utc_now()
    shards = list(scan_shards(plan, session, targets=targets, on_progress=on_progress))
    return ScanResult(
        metadata=scan_metadata(plan, scan_id, started, [shard.account_id for shard in shards]),
        findings=tuple(sorted((f for s in shards for f in s.findings), key=finding_order)),
        resources=tuple(r for shard in shards for r in shard.resources),
        missing_actions=tuple(sorted({a for shard in shards for a in shard.denied})),
    )


def scan_shards(
    plan: ScanPlan,
    session: AwsSession,
    *,
    targets: Sequence[Target] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Iterator[ShardFindings]:
    """Scan every (account, region, check) of the plan, yielding each (account, region) as
    soon as it is judged, in plan order; AWS errors become ERROR findings, never raise.

    ``targets``: the accounts to scan, each with its own session (``--role-name``); default:
    the session's own account. An account without a session gets ERROR findings.
    """
    if targets is None:
        targets = [Target(account_id=session.account_id(plan.regions[0]), session=session)]
    collectors = _collectors_of(plan.checks)
    scope = replace(plan.scope, read_tags=any(spec.reads_tags for spec in plan.checks))
    scanned = [(t.account_id, t.session) for t in targets if t.session is not None]
    total = len(scanned) * len(plan.regions) * (len(collectors) + len(plan.checks))
    done = found = 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(Progress(done=done, total=total, findings=found))

    def judge(inventory: Inventory) -> ShardFindings:
        nonlocal found
        findings: list[Finding] = []
        for spec in plan.checks:
            judged = _run_check(spec, plan.params[spec.id], inventory)
            findings += judged
            found += len(judged)
            step()
        return ShardFindings(
            account_id=inventory.account_id,
            region=inventory.region,
            findings=tuple(findings),
            resources=tuple(inventory.snapshots()),
            denied=frozenset(e.action for e in inventory.read_errors if e.code in DENIED_CODES),
        )

    with (
        ThreadPoolExecutor(plan.workers, thread_name_prefix="collect") as collect_pool,
        ThreadPoolExecutor(plan.workers, thread_name_prefix="item") as item_pool,
    ):

        def start(account_id: str, session: AwsSession) -> list[Prefetch]:
            """Fetch every collector the plan needs in every region of the account, once and
            concurrently (the regions share the account's global reads, IAM's); the checks
            then read memoised values."""
            reads = AccountReads()
            inventories = [
                Inventory(
                    session,
                    account_id=account_id,
                    region=region,
                    scope=scope,
                    item_pool=item_pool,
                    account_reads=reads,
                )
                for region in plan.regions
            ]
            return [
                (inventory, [collect_pool.submit(inventory.try_get, c) for c in collectors])
                for inventory in inventories
            ]

        # A sliding window of accounts: the next account starts as soon as the oldest is
        # judged, and an account's records and clients are let go once it is judged, so
        # memory follows the shards in flight, not the organization.
        in_flight = max(1, SHARDS_IN_FLIGHT // len(plan.regions))
        waiting = deque(scanned)
        window: deque[tuple[AwsSession, list[Prefetch]]] = deque()
        try:
            while waiting or window:
                while waiting and len(window) < in_flight:
                    account_id, session = waiting.popleft()
                    window.append((session, start(account_id, session)))
                session, account = window.popleft()
                for _, prefetch in account:
                    for future in prefetch:
                        future.result()
                        step()
                while account:  # each inventory let go once judged
                    yield judge(account.pop(0)[0])
                if len(scanned) > in_flight:
                    session.close_clients()
        except BaseException:  # interrupted (SIGTERM): start no more reads, wait for none
            for pool in (collect_pool, item_pool):
                pool.shutdown(wait=False, cancel_futures=True)
            raise
    for target in targets:
        if target.error is not None:
            denied = frozenset([target.error.action] if target.error.code in DENIED_CODES else [])
            for region in plan.regions:
                yield ShardFindings(
                    account_id=target.account_id,
                    region=region,
                    findings=tuple(_unreachable(plan, target.account_id, target.error, region)),
                    denied=denied,
                    account_error=target.error,
                )


def scan_metadata(
    plan: ScanPlan, scan_id: str | None, started: str, account_ids: Iterable[str]
) -> ScanMetadata:
    """The metadata of a scan of ``plan`` that ends now; ``account_ids`` in scan order
    (repeats are dropped)."""
    return ScanMetadata(
        scan_id=scan_id or str(uuid.uuid4()),
        tool_version=__version__,
        started_at=started,
        finished_at=utc_now(),
        account_ids=tuple(dict.fromkeys(account_ids)),
        regions=plan.regions,
        baseline_digest=plan.baseline_digest,
        checks=tuple(spec.id for spec in plan.checks),
    )


def _collectors_of(specs: Iterable[CheckSpec]) -> list[Collector[Any]]:
    seen: dict[str, Collector[Any]] = {}
    for spec in specs:
        for source in spec.reads:
            seen.setdefault(source.name, source)
    return list(seen.values())


def _run_check(spec: CheckSpec, params: Mapping[str, Any], inventory: Inventory) -> list[Finding]:
    """Run one check in one region. The engine reports unreadable evidence (see CheckInputs);
    a crash in the check becomes one ERROR finding for it and the scan goes on."""
    inputs = CheckInputs(inventory, spec.reads, spec.independent)
    outcomes = list(inputs.unreadable)
    if inputs.complete:
        try:
            outcomes += spec.function(inputs, params)
        except Exception as exc:  # a bug in one check must not stop the scan
            log.debug("check %s crashed in %s", spec.id, inventory.region, exc_info=True)
            outcomes = [*inputs.unreadable, crashed(exc)]
    return [_finding(spec, outcome, inventory.account_id, inventory.region) for outcome in outcomes]


CRASH_CODE = "InternalError"
"""The error code of the ERROR finding that stands for a check that crashed."""


def crashed(exc: Exception) -> Outcome:
    """The ERROR outcome of a check that raised: names the exception, never its traceback
    (that is logged at debug level, ``-vv``)."""
    return Outcome(
        status=Status.ERROR,
        resource=ResourceRef(type="driftscan::Check", id="*"),
        message=f"internal error in check: {type(exc).__name__}: "
        f"{clip(str(exc), EXCERPT_CHARACTERS)}",
        evidence={"error_code": CRASH_CODE},
    )


def _unreachable(plan: ScanPlan, account_id: str, error: ReadError, region: str) -> list[Finding]:
    """An ERROR finding per check in a region of an account whose role could not be assumed."""
    outcome = Outcome(
        status=Status.ERROR,
        resource=ResourceRef(type="AWS::::Account", id=account_id),
        message=f"could not scan account {account_id}: {error}",
        evidence={"error_code": error.code, "action": error.action},
    )
    return [_finding(spec, outcome, account_id, region) for spec in plan.checks]


def _finding(spec: CheckSpec, outcome: Outcome, account_id: str, region: str) -> Finding:
    resource = outcome.resource
    return Finding(
        finding_id=finding_id(
            account_id,
            region,
            spec.id,
            f"{resource.type}|{resource.arn or resource.id}",
        ),
        check_id=spec.id,
        title=spec.title,
        status=outcome.status,
        severity=spec.severity,
        service=spec.service,
        account_id=account_id,
        region=region,
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
