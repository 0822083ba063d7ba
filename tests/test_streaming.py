"""A scan streams: each (account, region) shard goes to a scratch file as soon as it is
judged, and everything after the scan reads the findings back from it in report order.
The organization benchmark (bench/organization.py) measures the memory this keeps flat."""

from __future__ import annotations

import json
import sqlite3
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scanner import cli
from scanner.app import pipeline
from scanner.cli import run
from scanner.delivery import deliver, parse_destination
from scanner.delivery.interface import Item, Outgoing, Sent
from scanner.delivery.spool import Spool
from scanner.demo.base import DemoAccount
from scanner.engine.runner import ShardFindings
from scanner.engine.session import AwsSession
from scanner.model import CountedFindings, ReadError, ResourceSnapshot, Status, finding_order
from scanner.store.location import HistoryLocation
from scanner.store.scratch import ScratchFile
from tests.test_history import finding, record
from tests.test_history import result as history_result

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "us-west-2")


def shard_findings(account_id: str, region: str) -> list[Any]:
    """Findings of one shard, judged in an order that is not the report's."""
    return [
        replace(
            finding(resource_id, status, check_id),
            finding_id=f"{account_id}|{region}|{check_id}|{resource_id}",
            account_id=account_id,
            region=region,
        )
        for check_id, resource_id, status in (
            ("logs.retention_set", "/b", Status.FAIL),
            ("kms.cmk_rotation_enabled", "key-2", Status.PASS),
            ("kms.cmk_rotation_enabled", "key-1", Status.FAIL),
            ("kms.cmk_rotation_enabled", "key-1", Status.ERROR),  # a tie: kept as judged
        )
    ]


def snapshot_of(account_id: str, region: str) -> ResourceSnapshot:
    return ResourceSnapshot(
        account_id=account_id, region=region, collector="kms.keys", resource_id="key-1", config={}
    )


def test_the_scratch_file_reads_findings_back_in_report_order() -> None:
    judged = [f for a in reversed(ACCOUNTS) for r in REGIONS for f in shard_findings(a, r)]
    with ScratchFile() as scratch:
        for account_id in reversed(ACCOUNTS):  # shards may come in any order (Dask)
            for region in REGIONS:
                scratch.add(shard_findings(account_id, region), [snapshot_of(account_id, region)])
        findings = scratch.findings()

        assert list(findings) == sorted(judged, key=finding_order)  # a stable sort
        assert list(findings) == list(findings)  # read again, the same
        assert len(findings) == len(judged) == 16
        assert (findings[0], findings[-1], findings[3:5]) == (
            list(findings)[0],
            list(findings)[-1],
            list(findings)[3:5],
        )
        with pytest.raises(IndexError):
            findings[16]
        assert [findings.count_status(status) for status in Status] == [
            sum(f.status is status for f in judged) for status in Status
        ]
        assert [(s.account_id, s.region) for s in scratch.resources()] == [
            (a, r) for a in ACCOUNTS for r in REGIONS
        ]


def test_without_history_the_snapshots_are_not_kept() -> None:
    with ScratchFile(keep_resources=False) as scratch:
        scratch.add(shard_findings(*ACCOUNTS[:1], REGIONS[0]), [snapshot_of(ACCOUNTS[0], "x")])
        assert len(scratch.findings()) == 4 and list(scratch.resources()) == []


def test_each_shard_is_recorded_before_the_next_is_scanned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The pipeline consumes the engine's shards one at a time: when shard n is yielded, the
    n - 1 before it are in the scratch file already, and nothing holds them in memory."""
    added: list[int] = []
    real_add = ScratchFile.add

    def add(self: ScratchFile, findings: Any, resources: Any) -> None:
        real_add(self, findings, resources)
        added.append(len(self.findings()))

    def shards(*_: Any, **__: Any) -> Iterator[ShardFindings]:
        for n, (account_id, region) in enumerate((a, r) for a in ACCOUNTS for r in REGIONS):
            assert len(added) == n  # every earlier shard was recorded before this one
            yield ShardFindings(
                account_id=account_id,
                region=region,
                findings=tuple(shard_findings(account_id, region)),
                denied=frozenset({"kms:ListKeys"} if n == 3 else ()),
                account_error=ReadError(code="AccessDenied", action="sts:AssumeRole")
                if n == 3
                else None,
            )

    monkeypatch.setattr(ScratchFile, "add", add)
    monkeypatch.setattr(pipeline, "scan_shards", shards)
    monkeypatch.setattr(pipeline, "resolve_targets", lambda *_: [])
    out = tmp_path / "findings.json"

    code = run(
        ["scan", "--region", "us-east-1", "--region", "us-west-2", "--no-history"]
        + ["--accounts", ",".join(ACCOUNTS), "--role-name", "audit"]
        + ["--format", "json", "--output", str(out), "--fail-on", "never"]
    )

    assert code == 4  # the shards carry ERROR findings
    assert added == [4, 8, 12, 16]
    document = json.loads(out.read_text())
    assert document["scan"]["account_ids"] == list(ACCOUNTS)
    assert document["summary"]["missing_actions"] == ["kms:ListKeys"]
    assert [f["finding_id"] for f in document["findings"]] == [
        f.finding_id
        for f in sorted(
            (f for a in ACCOUNTS for r in REGIONS for f in shard_findings(a, r)),
            key=finding_order,
        )
    ]


def test_a_cli_scan_keeps_no_log_of_its_calls(
    account: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests read AwsSession.requests; an organization's scan would grow it by every call."""
    account.client("kms").create_key()
    sessions: list[AwsSession] = []
    real_execute = cli.execute

    def execute(request: Any, session: AwsSession, region: str | None) -> int:
        sessions.append(session)
        return real_execute(request, session, region)

    monkeypatch.setattr(cli, "execute", execute)

    code = run(["scan", "-r", "us-east-1", "--checks", "kms.cmk_rotation_enabled", "--no-history"])

    assert code == 1 and len(sessions) == 1  # the key's rotation is off: it was read
    assert sessions[0].requests.calls == []
    assert not sessions[0].options.record_requests


class FullDisk:
    """A SQLite connection whose inserts fail as they do on a full disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def executemany(self, *_: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")


def test_a_scratch_file_that_cannot_be_written_is_one_line_and_exit_3(
    account: DemoAccount, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: FullDisk(connect(*a, **k)))

    code = run(["scan", "-r", "us-east-1", "--checks", "kms.cmk_rotation_enabled", "--no-history"])

    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("driftscan: cannot write the scan's scratch file: database or disk")
    assert err.count("\n") == 1


class TakesEverything:
    """A destination that takes every batch; its items are made one at a time."""

    destination = parse_destination("https://siem.example.com/hook")
    max_items = 100
    max_bytes = 1 << 20

    def __init__(self, count: int) -> None:
        self.count = count
        self.sent = 0

    def items(self, _: Outgoing) -> Iterator[Item]:
        for n in range(self.count):
            yield Item(scan_id="scan-1", finding_id=f"f-{n}", payload={"n": n, "text": "x" * 4000})

    def send(self, batch: Sequence[Item]) -> Sent:
        self.sent += len(batch)
        return Sent(settled=len(batch))


def test_delivery_holds_a_batch_not_the_queue(tmp_path: Path) -> None:
    """5,000 items of 4 KB go through the spool file; memory holds a batch, not 20 MB."""
    transport = TakesEverything(5_000)
    result = history_result("scan-1")

    tracemalloc.start()
    try:
        [report] = deliver(Outgoing(result=result), [transport], tmp_path / "spool")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert transport.sent == report.delivered == 5_000 and report.pending == 0
    assert peak < 8_000_000
    assert not list((tmp_path / "spool").glob("*.jsonl"))  # all delivered: nothing owed


def test_a_recorded_scan_streams_from_its_store(history: HistoryLocation) -> None:
    """export, history show: the findings are read from the store as they are rendered
    (with PostgreSQL, through a server-side cursor), and equal the loaded ones."""
    findings = [finding(f"key-{n}", Status.FAIL if n % 3 else Status.PASS) for n in range(7)]
    with history.open() as store:
        recorded = record(store, history_result("scan-1", findings))
        loaded = store.load(recorded)
        streamed = store.load(recorded, resources=False, streamed=True)

        assert isinstance(streamed.findings, CountedFindings)
        assert list(streamed.findings) == list(loaded.findings) == findings
        assert list(streamed.findings) == findings  # read again, the same
        assert len(streamed.findings) == 7 and streamed.findings[2] == findings[2]
        assert [streamed.count(status) for status in Status] == [
            loaded.count(status) for status in Status
        ]
        assert streamed.resources == ()


def test_a_spool_line_that_is_not_an_item_is_dropped_and_the_rest_is_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.save([Item(scan_id="s", finding_id="f-1", payload={"a": 1})])
    with spool.path.open("ab") as file:
        file.write(b'{"scan_id": "s"}\n\xff\xfe not text\n{"truncated\n')
    spool.save([*spool.items(), Item(scan_id="s", finding_id="f-2", payload={"b": 2})])

    assert [item.finding_id for item in spool.items()] == ["f-1", "f-2"]
    assert [r.getMessage().split(":")[-1] for r in caplog.records] == [
        " not a spooled finding, dropped"
    ] * 3
