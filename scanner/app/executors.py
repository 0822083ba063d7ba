"""Where a scan runs: the local thread pool (run_scan), or (account, region) shards on an
existing Dask distributed cluster (``--executor dask --scheduler ADDRESS``).

A shard is plain data (control ids, parameters, one region, one account, session options);
the worker builds its own session from its own credentials, assumes the role itself when
the shard names one, and runs run_scan for the shard. No credential travels to a worker.
The client merges the shards' results into one ScanResult, equal to a local run's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import ModuleType
from typing import Any

from scanner import __version__
from scanner.engine.accounts import AccountsRequest, account_ids, resolve_targets
from scanner.engine.inventory import Scope
from scanner.engine.registry import get_check
from scanner.engine.runner import Progress, ScanPlan, finding_order, run_scan, utc_now
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import ConfigError, DriftscanError, SessionError
from scanner.model import ReadError, ScanMetadata, ScanResult

SCHEDULER_TIMEOUT_SECONDS = 10
"""How long to try to reach the Dask scheduler before exiting 3."""
SHARDS = "account x region shards on Dask"
"""What a progress step is with --executor dask."""
DASK_EXTRA = "pip install 'driftscan[dask]'"


class ExecutorKind(StrEnum):
    """``local``: threads in this process. ``dask``: shards on a Dask distributed cluster."""

    LOCAL = "local"
    DASK = "dask"


@dataclass(frozen=True, kw_only=True)
class Shard:
    """One (account, region) of a scan, as plain picklable data."""

    check_ids: tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]]
    region: str
    scope: Scope
    baseline_digest: str
    workers: int
    options: SessionOptions
    role: AccountsRequest | None
    """The role to assume into the shard's one account; None: the worker's own account."""


@dataclass(frozen=True, kw_only=True)
class ShardResult:
    result: ScanResult
    account_error: tuple[str, ReadError] | None = None
    """The account whose role could not be assumed, and why."""


def _distributed() -> ModuleType:
    """The dask.distributed package, or ConfigError naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"--executor dask needs the dask extra: {DASK_EXTRA}") from None
    return distributed


def scheduler_address(scheduler: str) -> str:
    """``--scheduler``, checked before anything is scanned: the extra is installed, the
    address well-formed (else exit 2), its host known (else exit 3)."""
    try:
        return str(_distributed().comm.resolve_address(scheduler))
    except ValueError as exc:
        raise ConfigError(f"invalid --scheduler {scheduler!r}: {exc}") from None
    except OSError as exc:
        raise SessionError(f"Dask scheduler unreachable: {scheduler}: {exc}") from None


def scan_shard(shard: Shard) -> ShardResult:
    """Runs on a Dask worker: build the session, assume the role if any, scan one region."""
    session = AwsSession(shard.options)
    plan = ScanPlan(
        checks=tuple(get_check(check_id) for check_id in shard.check_ids),
        params=shard.params,
        regions=(shard.region,),
        scope=shard.scope,
        baseline_digest=shard.baseline_digest,
        workers=shard.workers,
    )
    targets = resolve_targets(session, shard.role, shard.region) if shard.role else None
    return ShardResult(
        result=run_scan(plan, session, targets=targets),
        account_error=next(((t.account_id, t.error) for t in targets or () if t.error), None),
    )


def shards_of(plan: ScanPlan, session: AwsSession, accounts: AccountsRequest | None) -> list[Shard]:
    """A shard per (account, region), in the order run_scan visits them."""
    roles: Sequence[AccountsRequest | None] = [None]
    if accounts is not None:
        roles = [
            replace(accounts, account_ids=(account_id,), organization=False)
            for account_id in account_ids(session, accounts, plan.regions[0])
        ]
    return [
        Shard(
            check_ids=tuple(spec.id for spec in plan.checks),
            params=plan.params,
            region=region,
            scope=plan.scope,
            baseline_digest=plan.baseline_digest,
            workers=plan.workers,
            options=session.options,
            role=role,
        )
        for role in roles
        for region in plan.regions
    ]


def scan_on_dask(
    scheduler: str,
    plan: ScanPlan,
    session: AwsSession,
    accounts: AccountsRequest | None,
    *,
    scan_id: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[ScanResult, list[tuple[str, ReadError]]]:
    """Scan every shard of the plan on the cluster behind ``scheduler`` (an address from
    scheduler_address); the merged result and the accounts whose role could not be assumed.
    An unreachable scheduler or a shard that fails raises SessionError."""
    started = utc_now()
    shards = shards_of(plan, session, accounts)
    try:
        client = _distributed().Client(
            scheduler, timeout=SCHEDULER_TIMEOUT_SECONDS, set_as_default=False
        )
    except OSError as exc:
        raise SessionError(f"Dask scheduler unreachable: {exc}") from None
    with client:
        _check_worker_versions(client)
        futures = {client.submit(scan_shard, shard, pure=False): shard for shard in shards}
        done: dict[Any, ShardResult] = {}
        findings = 0
        for future in _distributed().as_completed(futures, loop=client.loop):
            done[future] = _shard_result(future, futures[future])
            findings += len(done[future].result.findings)
            if on_progress:
                on_progress(
                    Progress(done=len(done), total=len(futures), findings=findings, unit=SHARDS)
                )
        results = [done[future] for future in futures]  # in shard order
    return merge(plan, [r.result for r in results], scan_id, started), [
        r.account_error for r in results if r.account_error is not None
    ]


def driftscan_version() -> str:
    """Runs on every worker: the driftscan it imports."""
    return __version__


def _check_worker_versions(client: Any) -> None:
    """Every worker must run this driftscan: another has other controls and parameters."""
    try:
        versions: dict[str, str] = client.run(driftscan_version)
    except Exception as exc:  # a worker without driftscan cannot even unpickle the call
        raise SessionError(
            f"the Dask workers cannot run driftscan ({type(exc).__name__}: {exc}): "
            f"install driftscan {__version__} on them"
        ) from None
    for worker, version in sorted(versions.items()):
        if version != __version__:
            raise SessionError(
                f"Dask worker {worker} runs driftscan {version}, this is {__version__}: "
                "install the same version on every worker"
            )


def _shard_result(future: Any, shard: Shard) -> ShardResult:
    try:
        result: ShardResult = future.result()
    except Exception as exc:  # the worker's error, re-raised here: one line naming the shard
        account = shard.role.account_ids[0] if shard.role else "the workers' account"
        message = str(exc) if isinstance(exc, DriftscanError) else f"{type(exc).__name__}: {exc}"
        raise SessionError(
            f"a Dask worker could not scan {account} in {shard.region}: {message}"
        ) from None
    return result


def merge(
    plan: ScanPlan, results: Sequence[ScanResult], scan_id: str | None, started: str
) -> ScanResult:
    """One ScanResult from the shards' (in shard order): what run_scan would return."""
    findings = sorted((f for r in results for f in r.findings), key=finding_order)
    metadata = ScanMetadata(
        scan_id=scan_id or str(uuid.uuid4()),
        tool_version=__version__,
        started_at=started,
        finished_at=utc_now(),
        account_ids=tuple(dict.fromkeys(a for r in results for a in r.metadata.account_ids)),
        regions=plan.regions,
        baseline_digest=plan.baseline_digest,
        checks=tuple(spec.id for spec in plan.checks),
    )
    return ScanResult(
        metadata=metadata,
        findings=tuple(findings),
        resources=tuple(s for r in results for s in r.resources),
        missing_actions=tuple(sorted({a for r in results for a in r.missing_actions})),
    )
