"""Where a scan runs: the local thread pool (runner.scan_shards), or shards on an existing
Dask distributed cluster (``--executor dask --scheduler ADDRESS``).

A shard is plain data (control ids, parameters, regions, one account, session options): an
account with all its regions when a role is assumed into it (the role is assumed once), a
region of the workers' own account otherwise. The worker builds its own session from its own
credentials, assumes the role itself when the shard names one, and returns the shard's
findings per (account, region), which the client passes on as each shard completes, holding
no merged result. No credential travels to a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import ModuleType
from typing import Any

from scanner import __version__
from scanner.engine.accounts import AccountsRequest, Target, account_ids, resolve_targets
from scanner.engine.inventory import Scope
from scanner.engine.registry import get_check
from scanner.engine.runner import Progress, ScanPlan, ShardFindings, scan_shards
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import ConfigError, DriftscanError, SessionError

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
    """An account (or one region of the workers' own account) of a scan, as plain picklable
    data."""

    check_ids: tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]]
    regions: tuple[str, ...]
    scope: Scope
    baseline_digest: str
    workers: int
    options: SessionOptions
    role: AccountsRequest | None
    """The role to assume into the shard's one account; None: the worker's own account."""


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


def scan_shard(shard: Shard) -> list[ShardFindings]:
    """Runs on a Dask worker: build the session, assume the role if any, scan the regions."""
    session = AwsSession(shard.options)
    session.require_credentials()  # the worker's own: without them, say so, not a crash
    plan = ScanPlan(
        checks=tuple(get_check(check_id) for check_id in shard.check_ids),
        params=shard.params,
        regions=shard.regions,
        scope=shard.scope,
        baseline_digest=shard.baseline_digest,
        workers=shard.workers,
    )
    targets = resolve_targets(session, shard.role, shard.regions[0]) if shard.role else None
    try:
        return list(scan_shards(plan, session, targets=targets))
    finally:  # a worker runs many shards: it keeps none of their clients
        for target in targets or [Target(account_id="", session=session)]:
            if target.session is not None:
                target.session.close_clients()


def shards_of(plan: ScanPlan, session: AwsSession, accounts: AccountsRequest | None) -> list[Shard]:
    """A shard per account of ``accounts`` (all regions: its role assumed once), or without
    accounts a shard per region of the workers' own account; in the order scan_shards visits
    them."""
    shard = Shard(
        check_ids=tuple(spec.id for spec in plan.checks),
        params=plan.params,
        regions=plan.regions,
        scope=plan.scope,
        baseline_digest=plan.baseline_digest,
        workers=plan.workers,
        options=session.options,
        role=None,
    )
    if accounts is None:
        return [replace(shard, regions=(region,)) for region in plan.regions]
    return [
        replace(shard, role=replace(accounts, account_ids=(account_id,), organization=False))
        for account_id in account_ids(session, accounts, plan.regions[0])
    ]


def scan_on_dask(
    scheduler: str,
    shards: Sequence[Shard],
    *,
    on_progress: Callable[[Progress], None] | None = None,
) -> Iterator[ShardFindings]:
    """Scan the shards (shards_of) on the cluster behind ``scheduler`` (an address from
    scheduler_address), yielding each (account, region) as its shard completes. An
    unreachable scheduler or a shard that fails raises SessionError."""
    try:
        client = _distributed().Client(
            scheduler, timeout=SCHEDULER_TIMEOUT_SECONDS, set_as_default=False
        )
    except OSError as exc:
        raise SessionError(f"Dask scheduler unreachable: {exc}") from None
    with client:
        _check_worker_versions(client)
        futures = {client.submit(scan_shard, shard, pure=False): shard for shard in shards}
        findings = 0
        completed = _distributed().as_completed(futures, loop=client.loop)
        for done, future in enumerate(completed, start=1):
            results = _shard_result(future, futures.pop(future))
            future.release()  # the cluster forgets the result: the client passes it on
            findings += sum(len(result.findings) for result in results)
            if on_progress:
                on_progress(Progress(done=done, total=len(shards), findings=findings, unit=SHARDS))
            yield from results


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


def _shard_result(future: Any, shard: Shard) -> list[ShardFindings]:
    try:
        results: list[ShardFindings] = future.result()
    except Exception as exc:  # the worker's error, re-raised here: one line naming the shard
        account = shard.role.account_ids[0] if shard.role else "the workers' account"
        where = ", ".join(shard.regions)
        message = str(exc) if isinstance(exc, DriftscanError) else f"{type(exc).__name__}: {exc}"
        raise SessionError(
            f"a Dask worker could not scan {account} in {where}: {message}"
        ) from None
    return results
