"""The history commands: ``history list|show|prune``, ``diff``, ``snapshot approve``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from tabulate import tabulate

from reports import DiffFormat, OutputFormat, diff_renderer_for, renderer_for
from scanner.app.pipeline import emit, terminal_width
from scanner.cli.base import DriftscanTyper
from scanner.errors import ConfigError
from scanner.output import ensure_writable
from scanner.store import drift
from scanner.store.history import (
    APPROVED,
    HISTORY_URL_VARIABLE,
    HistoryError,
    ScanRecord,
    Store,
    describe_scope,
)
from scanner.store.location import HistoryLocation, default_location
from scanner.textsafe import count

history_app = DriftscanTyper(
    help="The recorded scans: list, show, prune. Every `driftscan scan` is recorded unless "
    "--no-history.",
)
snapshot_app = DriftscanTyper(
    help="Approve a scan's resource configurations as the accepted state."
)

HistoryOpt = Annotated[
    HistoryLocation | None,
    typer.Option(
        "--history",
        metavar="FILE|URL",
        parser=HistoryLocation.parse,
        help="The history store: a SQLite file, or a PostgreSQL database "
        "(postgresql://USER@HOST/DB; needs driftscan[postgresql]). Default: "
        f"${HISTORY_URL_VARIABLE}, else $XDG_DATA_HOME/driftscan/history.db, "
        "else ~/.local/share/driftscan/history.db.",
    ),
]
LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        min=0,
        metavar="SECONDS",
        help="Wait this long for another run holding the history store, then exit 3 "
        "(default: exit 3 at once).",
    ),
]


def _open(location: HistoryLocation | None) -> Store:
    """An existing store: reading commands never create one."""
    return (location or default_location()).open(create=False)


def _label(scan: ScanRecord) -> str:
    return f"scan {scan.scan_id} ({scan.started_at})"


@history_app.command("list")
def history_list(history: HistoryOpt = None) -> None:
    """Every recorded scan, newest first; incomplete ones were interrupted (or are running),
    failed ones stopped before scanning (their reasons follow the table)."""
    with _open(history) as store:
        scans = store.scans()
    rows = [
        (
            scan.scan_id[:8],
            scan.started_at,
            scan.state,
            "yes" if scan.approved_at else "",
            ",".join(scan.account_ids),
            ",".join(scan.regions),
            len(scan.checks),
            scan.counts["PASS"],
            scan.counts["FAIL"],
            scan.counts["ERROR"],
        )
        for scan in scans
    ]
    headers = ["id", "started", "state", "approved", "account", "regions", "controls"]
    headers += ["pass", "fail", "error"]
    typer.echo(tabulate(rows, headers=headers) if rows else "no scans recorded")
    failures = [f"{scan.scan_id[:8]} failed: {scan.failure}" for scan in scans if scan.failure]
    if failures:
        typer.echo("\n".join(["", *failures]))


@history_app.command("show")
def history_show(
    scan_id: Annotated[
        str, typer.Argument(metavar="ID", help="A scan id (or a unique prefix of one).")
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format of the findings.")
    ] = OutputFormat.TABLE,
    history: HistoryOpt = None,
) -> None:
    """A recorded scan's findings, in any report format."""
    with _open(history) as store:
        scan = store.find(scan_id)
        if not scan.complete:
            state = "failed" if scan.failure else "is incomplete"
            raise HistoryError(f"{_label(scan)} {state}: it holds no findings")
        # Findings only, read from the store as they are shown.
        result = store.load(scan, resources=False, streamed=True)
        emit(renderer_for(output_format, width=terminal_width(sys.stdout))(result), None)


@history_app.command("prune")
def history_prune(
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep", min=1, metavar="N", help="Keep the N newest complete scans of each scope."
        ),
    ] = None,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=0,
            metavar="DAYS",
            help="Delete scans started more than DAYS days ago.",
        ),
    ] = None,
    unfinished: Annotated[
        bool,
        typer.Option("--unfinished", help="Delete every failed and interrupted scan."),
    ] = False,
    history: HistoryOpt = None,
    lock_timeout: LockTimeoutOpt = 0,
) -> None:
    """Delete old scans; approved snapshots are always kept.

    With both options, a scan goes when it is beyond --keep and older than --older-than;
    failed and interrupted scans go with --keep, and with --unfinished."""
    if keep is None and older_than is None and not unfinished:
        raise ConfigError("history prune needs --keep N, --older-than DAYS or --unfinished")
    location = history or default_location()
    with _open(location) as store, location.lock(lock_timeout):
        deleted = store.prune(keep=keep, older_than_days=older_than, unfinished=unfinished)
        left = len(store.scans())
    typer.echo(f"deleted {count(len(deleted), 'scan')}; {left} left in {location}")


def diff_command(
    from_ref: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="ID|approved",
            help="The older scan: an id, or `approved` (the approved snapshot of the newer "
            "scan's scope). Default: the complete scan of the same scope before --to.",
        ),
    ] = None,
    to_ref: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="ID",
            help="The newer scan. Default: the latest complete scan (of --from's scope when "
            "--from is an id).",
        ),
    ] = None,
    output_format: Annotated[
        DiffFormat, typer.Option("--format", "-f", help="Output format.")
    ] = DiffFormat.TABLE,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the diff to FILE instead of stdout (written like scan's --output).",
        ),
    ] = None,
    history: HistoryOpt = None,
) -> None:
    """What changed between two recorded scans: new, resolved and still-failing findings,
    resources that appeared or disappeared, and field-level configuration changes."""
    if output is not None:
        ensure_writable(output)
    with _open(history) as store:
        older, newer = _pair(store, from_ref, to_ref)
        result = drift.diff(
            store.load(older), store.load(newer), before_approved=bool(older.approved_at)
        )
    width = None if output else terminal_width(sys.stdout)
    emit(diff_renderer_for(output_format, width=width)(result), output)


def _pair(store: Store, from_ref: str | None, to_ref: str | None) -> tuple[ScanRecord, ScanRecord]:
    """The (older, newer) scans that ``--from`` and ``--to`` name, with their defaults."""
    older = store.find_complete(from_ref) if from_ref not in (None, APPROVED) else None
    newer = store.find_complete(to_ref) if to_ref else store.latest(older.scope if older else None)
    if newer is None:
        raise HistoryError(f"no complete scan in {store.name} to diff")
    if older is not None:
        return older, newer
    if from_ref == APPROVED:
        return store.resolve(APPROVED, newer.scope), newer
    previous = store.latest(newer.scope, before=newer)
    if previous is None:
        raise HistoryError(
            f"{_label(newer)} is the only complete scan of {describe_scope(newer.scope)}: "
            "nothing to diff against"
        )
    return previous, newer


@snapshot_app.command("approve")
def snapshot_approve(
    scan_id: Annotated[
        str | None,
        typer.Option(
            "--scan", metavar="ID", help="The scan to approve (default: the latest complete scan)."
        ),
    ] = None,
    history: HistoryOpt = None,
) -> None:
    """Mark a scan's resource configurations as the accepted state of its scope (accounts,
    regions, baseline); `diff --from approved` and `scan --drift-from approved` compare
    with it. Replaces the scope's previous approval."""
    with _open(history) as store:
        scan = store.find_complete(scan_id) if scan_id else store.latest()
        if scan is None:
            raise HistoryError(f"no complete scan in {store.name} to approve")
        store.approve(scan)
    typer.echo(f"approved {_label(scan)} for {describe_scope(scan.scope)}")
