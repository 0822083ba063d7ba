"""What `driftscan scan` does after parsing flags: plan, scan, render, write, exit code.

Kept out of the CLI so the typer commands stay thin and every step is testable.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from reports import OutputFormat, html, renderer_for
from scanner.app.attribute import StoreLookupCache, attribute, cloudtrail_clients
from scanner.app.config import Baseline, build_plan
from scanner.app.executors import scan_on_dask, shards_of
from scanner.app.suppressions import Muter, Suppression
from scanner.delivery import (
    DeliveryOptions,
    Transport,
    deliver,
    open_transports,
    outgoing,
)
from scanner.delivery import exit_code as delivery_exit_code
from scanner.delivery import problems as delivery_problems
from scanner.delivery.spool import spool_dir
from scanner.engine.accounts import AccountsRequest, Target, resolve_targets
from scanner.engine.compliance import Framework
from scanner.engine.runner import (
    DEFAULT_WORKERS,
    FailOn,
    Progress,
    ScanPlan,
    exit_code,
    scan_metadata,
    scan_shards,
    utc_now,
)
from scanner.engine.session import AwsSession
from scanner.errors import DriftscanError
from scanner.model import ReadError, ScanResult, Severity, Status, resource_key
from scanner.output import ensure_writable, write_file
from scanner.store import drift
from scanner.store.history import APPROVED, HistoryError, scope_key
from scanner.store.location import HistoryLocation
from scanner.store.scratch import ScratchFile
from scanner.textsafe import count, printable


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


CFN_DRIFT_CHECK = "cloudformation.stack_drift"


@dataclass(frozen=True, kw_only=True)
class ScanRequest:
    """Everything the user asked of one scan, validated by the CLI's types."""

    baseline: Baseline
    regions: tuple[str, ...] = ()
    check_ids: tuple[str, ...] = ()
    service_names: tuple[str, ...] = ()
    min_severity: Severity | None = None
    framework: Framework | None = None
    """``--compliance``: only controls evidencing a requirement of this framework."""
    output_format: OutputFormat = OutputFormat.TABLE
    output: Path | None = None
    fail_on: FailOn = FailOn.HIGH
    workers: int = DEFAULT_WORKERS
    jsonl: bool = False
    """One JSON object a line (ocsf, asff)."""
    csv_raw: bool = False
    """CSV cells as they are: no ``'`` before a cell a spreadsheet would run as a formula."""
    send: tuple[str, ...] = ()
    """``--send`` destinations, delivered after the report is written."""
    ca_bundle: Path | None = None
    sse_kms_key: str | None = None
    """``--sse-kms-key``: the KMS key S3 and Security Lake objects are encrypted with."""
    only_changes: bool = False
    """Send only new, changed and resolved findings (needs the history store)."""
    history: HistoryLocation | None = None
    """The history store to record the scan in; None: not recorded (--no-history)."""
    drift_from: str | None = None
    """``approved`` or a scan id: report every configuration change since that scan."""
    quiet: bool = False
    """No report on stdout; one line per new problem instead."""
    lock_timeout: float = 0
    """Seconds to wait for another run's lock on the history store."""
    cfn_drift: bool = False
    suppressions: tuple[Suppression, ...] = ()
    """``--suppressions FILE``'s entries; the baseline's own are added to them."""
    """Turn on cloudformation.stack_drift (it starts drift detection jobs)."""
    accounts: AccountsRequest | None = None
    """``--role-name`` with ``--accounts`` or ``--organization``: scan those accounts."""
    scheduler: str | None = None
    """``--executor dask --scheduler ADDRESS``: scan (account, region) shards on that Dask
    cluster; None: the local thread pool."""
    attribution: bool = True
    """Name who changed each new failure and drifted resource (CloudTrail LookupEvents) when
    the store holds a previous scan of the scope; ``--no-attribution``: off."""


def execute(request: ScanRequest, session: AwsSession, default_region: str | None) -> int:
    """Run the scan the request describes; return the process exit code. The CLI has checked
    the request's flags (scanner.cli._checked_plan): this only runs it."""
    plan = build_plan(
        with_cfn_drift(request.baseline) if request.cfn_drift else request.baseline,
        check_ids=request.check_ids,
        service_names=request.service_names,
        min_severity=request.min_severity,
        framework=request.framework,
        regions=request.regions,
        default_region=default_region,
        known_regions=session.known_regions(),
        workers=request.workers,
    )
    # Bad flag combinations, destinations and tokens exit 2 before anything is scanned.
    render = renderer_for(
        request.output_format,
        jsonl=request.jsonl,
        colour=request.output is None and coloured(sys.stdout),
        width=terminal_width(sys.stdout) if request.output is None else None,
        csv_raw=request.csv_raw,
        trend=None if request.history is None else functools.partial(trend, request.history),
    )
    transports = transports_for(
        request.send,
        request.ca_bundle,
        session,
        sse_kms_key=request.sse_kms_key,
    )
    if request.output is not None:
        ensure_writable(request.output)
    # Findings go to a scratch file shard by shard and are read back for the report, the
    # store and the deliveries: an organization is never whole in memory.
    with ScratchFile(keep_resources=request.history is not None) as scratch:
        with _interruptible():
            result, new_problems, compared = _scan(request, plan, session, scratch)
            if not request.quiet or request.output is not None:
                emit(render(result), request.output)
        new = 0
        for new, problem in enumerate(new_problems, start=1):  # noqa: B007 (counted)
            # Beside a report, a first scan's failures are all new: the report lists them.
            if request.quiet or compared or problem.event != drift.NEW_FAILURE:
                say(
                    problem.message,
                    level="warning",
                    err=not request.quiet,
                    event=problem.event,
                    **problem.fields,
                )
        report_problems(result)
        code = exit_code(result, request.fail_on, new_problems=new)
        return send(result, transports, code, request.history, only_changes=request.only_changes)


def transports_for(
    send: Sequence[str],
    ca_bundle: Path | None,
    session: AwsSession,
    *,
    sse_kms_key: str | None = None,
) -> list[Transport]:
    """The --send destinations, checked and opened before anything is scanned or read."""
    return open_transports(
        send,
        DeliveryOptions(
            ca_bundle=ca_bundle, session=session, env=os.environ, sse_kms_key=sse_kms_key
        ),
    )


def send(
    result: ScanResult,
    transports: Sequence[Transport],
    scan_code: int,
    history: HistoryLocation | None,
    *,
    only_changes: bool = False,
) -> int:
    """Deliver to every destination (spooled findings first; with history, findings gone
    since the previous scan of the scope as resolved); one line on stderr for each
    destination that did not take everything, and exit 5 then unless the scan's code says
    more. ``history`` is the store the scan is recorded in (None: not recorded)."""
    if not transports:
        return scan_code
    if history is None:
        findings = outgoing(result, None, only_changes=only_changes)
    else:
        with history.open() as store:
            record = store.find(result.metadata.scan_id)
            before = store.latest(record.scope, before=record)
            previous = store.findings_of(before) if before else None
            findings = outgoing(result, previous, only_changes=only_changes)
    reports = deliver(findings, transports, spool_dir(history.path if history else None))
    for line in delivery_problems(reports):
        say(line, level="warning")
    return delivery_exit_code(scan_code, reports)


TREND_SCANS = 30
"""How many scans the HTML report's trend chart shows at most."""


def trend(history: HistoryLocation, result: ScanResult) -> list[html.TrendPoint]:
    """The HTML trend: the complete scans of the result's scope up to it, oldest first."""
    meta = result.metadata
    scope = scope_key(meta.account_ids, meta.regions, meta.baseline_digest)
    with history.open() as store:
        scans = store.scans()
        ids = [scan.scan_id for scan in scans]
        older = scans[ids.index(meta.scan_id) :] if meta.scan_id in ids else scans
        chosen = [scan for scan in older if scan.complete and scan.scope == scope]
        return [
            html.trend_point(store.load(scan, resources=False))
            for scan in reversed(chosen[:TREND_SCANS])
        ]


def emit(chunks: Iterable[str], output: Path | None) -> None:
    """The report's chunks to stdout, or atomically to a file."""
    if output is None:
        sys.stdout.writelines(chunks)
    else:
        write_file(output, chunks)


def report_problems(result: ScanResult) -> None:
    """One line each, on stderr, for what makes the scan incomplete."""
    errors = result.count(Status.ERROR)
    if errors:
        say(f"{count(errors, 'finding')} could not be judged (ERROR): the scan is incomplete")
    if result.missing_actions:
        say("missing IAM permissions: " + ", ".join(result.missing_actions))


# --- history, drift and unattended runs (cron, systemd) --------------------------------------


def with_cfn_drift(baseline: Baseline) -> Baseline:
    """``--cfn-drift``: the baseline with cloudformation.stack_drift turned on."""
    params = {**baseline.overrides.get(CFN_DRIFT_CHECK, {}), "detect": True}
    return replace(
        baseline,
        overrides={**baseline.overrides, CFN_DRIFT_CHECK: params},
        disabled=baseline.disabled - {CFN_DRIFT_CHECK},
    )


def _scan(
    request: ScanRequest, plan: ScanPlan, session: AwsSession, scratch: ScratchFile
) -> tuple[ScanResult, Iterator[drift.Problem], bool]:
    """The scan, its new problems (made as they are read), and whether a previous scan was
    there to compare with.

    In the history store (locked meanwhile) the scan is recorded as incomplete until it
    ends; new are the failures the previous complete scan of the scope did not have, and the
    configuration changes since ``--drift-from``. Without a store every failure is new.
    """
    if request.history is None:
        result, _ = _run(request, plan, session, scratch)
        new = (
            drift.FindingChange(finding=f, before=None, after=f.status)
            for f in result.findings
            if f.status is Status.FAIL
        )
        return result, drift.problems(new, drift.ResourcesDiff(), ""), False
    # The store first: a file that is not one is refused before a lock file appears beside it.
    lock_scope = functools.partial(_lock_scope, request, plan, session)
    with request.history.open() as store, request.history.lock(request.lock_timeout, lock_scope):
        if request.drift_from not in (None, APPROVED):
            store.find_complete(request.drift_from)  # a typo fails before the scan, not after
        scan_id = str(uuid.uuid4())
        store.begin(scan_id, plan.regions, plan.baseline_digest)
        try:
            result, targets = _run(request, plan, session, scratch, scan_id=scan_id)
        except Exception as exc:  # no credentials, ...: listed as failed, with why
            store.fail(scan_id, str(exc) if isinstance(exc, DriftscanError) else repr(exc))
            raise
        meta = result.metadata
        scope = scope_key(meta.account_ids, meta.regions, meta.baseline_digest)
        previous = store.latest(scope)
        compared = drift.compare_findings(
            store.findings_of(previous) if previous else (), result.findings
        )
        changes, since = drift.ResourcesDiff(), ""
        if request.drift_from is not None:
            try:
                reference = store.resolve(request.drift_from, scope)
            except HistoryError:  # no approved snapshot yet: the scan is kept, to approve it
                store.finish(result)
                raise
            changes = drift.compare_resources(store.resources_of(reference), result.resources)
            since = f"{'approved ' if reference.approved_at else ''}scan {reference.scan_id[:8]}"
        if request.attribution and previous is not None:
            # Before finish: the store keeps the attributions with the scan, for report/export.
            result = attribute(
                result,
                previous.started_at,
                (
                    *compared.new_failures,
                    *drift.changed_failures(store.findings_of(previous), compared.still_failing),
                ),
                changes,
                cloudtrail_clients(session, targets, request.accounts),
                StoreLookupCache(store),
            )
            if result.attribution_left_over:
                say(
                    "CloudTrail attribution stopped at its maximum number of lookups; not "
                    f"attributed: {', '.join(result.attribution_left_over)}",
                    level="warning",
                )
        store.finish(result)
        found = attributed(drift.problems(compared.new_failures, changes, since), result)
        return result, found, previous is not None


def attributed(problems: Iterable[drift.Problem], result: ScanResult) -> Iterator[drift.Problem]:
    """The --quiet lines with who changed it: `` (changed by ...)`` and an ``attribution``
    field, for the problems the scan attributed."""
    for problem in problems:
        fields = problem.fields
        if "finding_id" in fields:
            key = str(fields["finding_id"])
        else:  # a configuration change: the resource's fields
            names = ("account_id", "region", "collector", "resource_id")
            key = resource_key(*(str(fields[name]) for name in names))
        attribution = result.attributions.get(key)
        if attribution is not None:
            problem = replace(
                problem,
                message=f"{problem.message} ({attribution['summary']})",
                fields={**fields, "attribution": attribution},
            )
        yield problem


def _lock_scope(request: ScanRequest, plan: ScanPlan, session: AwsSession) -> str:
    """The scope a scan holds on a store locked per scope (PostgreSQL), as far as it is
    known before scanning: the accounts asked for (or the credentials' own), the regions and
    the baseline. Scanners of other accounts share the store; two of one scope never run."""
    if request.accounts is not None:
        accounts = request.accounts.account_ids or ("organization",)
    else:
        try:
            accounts = (session.account_id(plan.regions[0]),)
        except DriftscanError:  # the scan fails on it too, and is recorded as failed
            accounts = ()
    return scope_key(accounts, plan.regions, plan.baseline_digest)


def _run(
    request: ScanRequest,
    plan: ScanPlan,
    session: AwsSession,
    scratch: ScratchFile,
    scan_id: str | None = None,
) -> tuple[ScanResult, list[Target]]:
    """The scan's shards (a progress line on a terminal), from the local thread pool or from
    Dask with --executor dask, each into ``scratch`` as it comes, with the suppressions
    applied: accepted failures become MUTED before anything (history, drift, reports, the
    exit code) sees them; expired and stale entries are warned of. Returns the result read
    from ``scratch``, and the accounts' sessions where they were made here (--role-name on
    the thread pool)."""
    show = progress_line(sys.stderr)
    started = utc_now()
    targets: list[Target] = []
    if request.scheduler is not None:
        dask_shards = shards_of(plan, session, request.accounts)
        planned = [shard.role.account_ids[0] for shard in dask_shards if shard.role]
        shards = scan_on_dask(request.scheduler, dask_shards, on_progress=show)
    else:
        if request.accounts:
            targets = resolve_targets(session, request.accounts, plan.regions[0])
        planned = [target.account_id for target in targets]
        shards = scan_shards(plan, session, targets=targets or None, on_progress=show)
    muter = Muter(request.baseline.suppressions + request.suppressions, datetime.now(UTC).date())
    scanned: dict[str, None] = {}
    denied: set[str] = set()
    unreachable: dict[str, ReadError] = {}
    for shard in shards:
        scratch.add(muter.mute(shard.findings), shard.resources)
        scanned.setdefault(shard.account_id)
        denied |= shard.denied
        if shard.account_error is not None:
            unreachable.setdefault(shard.account_id, shard.account_error)
    for account_id, error in unreachable.items():
        say(f"could not scan account {account_id}: {error}")
    # In the order asked for (Dask shards complete in any order); the own account's is known
    # only once scanned.
    accounts = [*planned, *(account_id for account_id in scanned if account_id not in planned)]
    result = ScanResult(
        metadata=scan_metadata(plan, scan_id, started, accounts),
        findings=scratch.findings(),
        resources=scratch.resources(),
        missing_actions=tuple(sorted(denied)),
    )
    for line in muter.warnings(result.metadata):
        say(line, level="warning")
    return result, targets


class Interrupted(BaseException):
    """SIGINT or SIGTERM during a scan. Not an Exception, so nothing that contains a check's
    crash swallows it: it unwinds everything, rolling the store back and removing a
    temporary output file."""

    def __init__(self, signum: int) -> None:
        self.signal = signal.Signals(signum)
        super().__init__(self.signal.name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signal.value


@contextmanager
def _interruptible() -> Iterator[None]:
    """Turn SIGINT and SIGTERM (``systemctl stop``, ``kill``) into Interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


_log_format = LogFormat.TEXT


def coloured(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def terminal_width(stream: TextIO) -> int | None:
    """The width to fit text to: the terminal's (``COLUMNS`` first), or None when ``stream``
    is a file or a pipe, where nothing is wrapped and every message stays whole."""
    return shutil.get_terminal_size().columns if stream.isatty() else None


def progress_line(stream: TextIO) -> Callable[[Progress], None] | None:
    """One line on a terminal, rewritten as the scan goes and erased at its end; None (no
    progress) when ``stream`` is not a terminal, or log lines (-v, --log-format json) go there."""
    if (
        not stream.isatty()
        or _log_format is LogFormat.JSON
        or logging.getLogger().isEnabledFor(logging.INFO)
    ):
        return None
    shown = [-1]

    def show(progress: Progress) -> None:
        percent = 100 * progress.done // max(1, progress.total)
        if percent == shown[0]:
            return
        shown[0] = percent
        line = (
            f"driftscan: scanning {percent}% ({progress.done}/{progress.total} {progress.unit}), "
            f"{count(progress.findings, 'finding')} so far"
        )
        # Longer than the terminal, it would wrap, and \r would rewrite only its last line.
        line = line[: shutil.get_terminal_size().columns - 1]
        stream.write("\r\033[K" + ("" if progress.done == progress.total else line))
        stream.flush()

    return show


def use_log_format(log_format: LogFormat) -> None:
    """Write every line of ``say`` in this format from now on; JSON also for log records."""
    global _log_format
    _log_format = log_format
    if log_format is LogFormat.JSON:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(_JsonFormatter())


def say(message: str, *, level: str = "error", err: bool = True, **fields: Any) -> None:
    """One line: ``driftscan: message`` on stderr (the bare message on stdout), or under
    --log-format json an object with ``time``, ``level``, ``message`` and the fields."""
    if _log_format is LogFormat.JSON:
        line = json.dumps(
            {"time": _timestamp(), "level": level, "message": message, **fields}, default=str
        )
    else:
        # The message may quote AWS or user text: it must stay one line and move no cursor.
        line = f"driftscan: {printable(message)}" if err else printable(message)
    print(line, file=sys.stderr if err else sys.stdout, flush=True)


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def text_log_handler() -> logging.Handler:
    """The handler of -v's text log lines on stderr: ``LEVEL logger: message``, escaped."""
    handler = logging.StreamHandler()
    handler.setFormatter(_TextFormatter("%(levelname)s %(name)s: %(message)s"))
    return handler


class _TextFormatter(logging.Formatter):
    """Log lines quote AWS text (names, error messages): one line each, no control
    characters; a traceback (a check's crash) keeps its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return printable(super().formatMessage(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": _timestamp(),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )
