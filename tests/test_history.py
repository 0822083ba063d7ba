"""The history store: scans round-trip, incomplete scans stay incomplete, schema migrations,
approval per scope, pruning; and the `history` / `snapshot` commands over a store."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from scanner.cli import run
from scanner.model import (
    Finding,
    ResourceSnapshot,
    ScanMetadata,
    ScanResult,
    Severity,
    Status,
)
from scanner.store.history import (
    FAILURE_CHARS,
    SCHEMA_VERSION,
    HistoryError,
    HistoryStore,
    ScanRecord,
    Store,
    default_path,
)
from scanner.store.location import HistoryLocation
from tests.pg import history_arg, holder

ACCOUNT = "123456789012"


def finding(
    resource_id: str, status: Status, check_id: str = "kms.cmk_rotation_enabled"
) -> Finding:
    return Finding(
        finding_id=f"{check_id}|{resource_id}",
        check_id=check_id,
        title="title",
        status=status,
        severity=Severity.HIGH,
        service=check_id.split(".")[0],
        account_id=ACCOUNT,
        region="us-east-1",
        resource_type="AWS::KMS::Key",
        resource_id=resource_id,
        resource_arn=None,
        message=f"{resource_id} is {status.value}",
        evidence={"KeyRotationEnabled": status is Status.PASS},
        remediation="fix it",
    )


def snapshot(resource_id: str, **config: object) -> ResourceSnapshot:
    return ResourceSnapshot(
        account_id=ACCOUNT,
        region="us-east-1",
        collector="kms.keys",
        resource_id=resource_id,
        config=config,
    )


def result(
    scan_id: str,
    findings: Sequence[Finding] = (),
    resources: Sequence[ResourceSnapshot] = (),
    *,
    digest: str = "sha256:a",
    started_at: str = "2030-01-01T00:00:00Z",
) -> ScanResult:
    return ScanResult(
        metadata=ScanMetadata(
            scan_id=scan_id,
            tool_version="0.1.0",
            started_at=started_at,
            finished_at=started_at,
            account_ids=(ACCOUNT,),
            regions=("us-east-1",),
            baseline_digest=digest,
            checks=("kms.cmk_rotation_enabled",),
        ),
        findings=tuple(findings),
        resources=tuple(resources),
        missing_actions=("kms:ListKeys",),
    )


def record(store: Store, scan: ScanResult) -> ScanRecord:
    meta = scan.metadata
    store.begin(meta.scan_id, meta.regions, meta.baseline_digest)
    store.finish(scan)
    return store.find(meta.scan_id)


def test_a_scan_round_trips_and_is_complete_only_when_finished(history: HistoryLocation) -> None:
    scan = result(
        "scan-1",
        [finding("key-1", Status.FAIL), finding("key-2", Status.PASS)],
        [snapshot("key-1", state="Enabled", aliases=["alias/a"], nested={"a": {"b": 1}})],
    )
    with history.open() as store:
        store.begin("scan-1", ("us-east-1",), "sha256:a")
        (started,) = store.scans()
        assert not started.complete and started.finished_at is None
        assert store.latest() is None  # an incomplete scan is never "the last scan"
        store.finish(scan)
        stored = store.find("scan-1")
        assert stored.complete
        assert (stored.counts["PASS"], stored.counts["FAIL"], stored.counts["ERROR"]) == (1, 1, 0)
        assert store.load(stored) == scan
        assert store.integrity() == "ok"
        assert store.schema_version() == SCHEMA_VERSION


def test_an_interrupted_write_leaves_the_scan_incomplete(history: HistoryLocation) -> None:
    class Boom(Exception):
        pass

    class ExplodingResources(tuple[ResourceSnapshot, ...]):
        def __iter__(self) -> Iterator[ResourceSnapshot]:
            yield snapshot("key-1", state="Enabled")
            raise Boom

    scan = replace(
        result("scan-1", [finding("key-1", Status.PASS)]), resources=ExplodingResources()
    )
    with history.open() as store:
        store.begin("scan-1", ("us-east-1",), "sha256:a")
        with pytest.raises(Boom):
            store.finish(scan)
        (stored,) = store.scans()
        assert not stored.complete
        assert stored.counts["PASS"] == 0  # the findings inserted before the failure rolled back
        assert store.integrity() == "ok"


def test_store_is_wal_and_migrates_from_empty_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    sqlite3.connect(path).close()  # an empty database: schema version 0
    with HistoryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match=f"schema version {SCHEMA_VERSION + 1}; this driftscan"):
        HistoryStore(path)


def test_a_file_that_is_not_a_store_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    path.write_text("not a database " * 100)
    with pytest.raises(HistoryError, match=f"cannot open history store {path}"):
        HistoryStore(path)


def test_default_path_follows_xdg_data_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "driftscan" / "history.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_path() == Path.home() / ".local" / "share" / "driftscan" / "history.db"


def test_latest_and_previous_are_per_scope_and_complete(history: HistoryLocation) -> None:
    with history.open() as store:
        first = record(store, result("aaa-1"))
        record(store, result("bbb-2", digest="sha256:other"))
        second = record(store, result("aaa-3"))
        store.begin("aaa-4", ("us-east-1",), "sha256:a")  # interrupted
        assert store.latest() == second
        assert store.latest(first.scope) == second
        assert store.latest(first.scope, before=second) == first
        assert store.latest(first.scope, before=first) is None
        assert store.find("bbb").scan_id == "bbb-2"
        with pytest.raises(HistoryError, match="prefix 'aaa' matches 3 scans"):
            store.find("aaa")
        with pytest.raises(HistoryError, match="aaa-4 is incomplete"):
            store.find_complete("aaa-4")


def test_approval_is_one_scan_per_scope(history: HistoryLocation) -> None:
    with history.open() as store:
        first = record(store, result("s1"))
        other = record(store, result("s2", digest="sha256:other"))
        second = record(store, result("s3"))
        with pytest.raises(HistoryError, match="no approved snapshot for account"):
            store.resolve("approved", first.scope)
        store.approve(first)
        store.approve(other)
        assert store.resolve("approved", first.scope).scan_id == "s1"
        store.approve(second)
        assert store.resolve("approved", first.scope).scan_id == "s3"
        assert store.resolve("approved", other.scope).scan_id == "s2"
        assert [s.scan_id for s in store.scans() if s.approved_at] == ["s3", "s2"]


def test_prune_keeps_the_newest_per_scope_and_approved_scans(history: HistoryLocation) -> None:
    with history.open() as store:
        for n in range(1, 5):
            record(
                store,
                result(f"a{n}", [finding("key", Status.FAIL)], [snapshot("key", state="Enabled")]),
            )
        record(store, result("b1", digest="sha256:other"))
        store.begin("a5", ("us-east-1",), "sha256:a")  # interrupted
        store.approve(store.find("a1"))

        deleted = store.prune(keep=2, older_than_days=None)

        assert sorted(s.scan_id for s in deleted) == ["a2", "a5"]
        assert [s.scan_id for s in store.scans()] == ["b1", "a4", "a3", "a1"]
        assert store.load(store.find("a1")).findings  # the approved scan kept its data
        assert store.integrity() == "ok"


def test_prune_older_than_and_both_criteria(history: HistoryLocation) -> None:
    with history.open() as store:
        record(store, result("old1", started_at="2001-01-01T00:00:00Z"))
        record(store, result("old2", started_at="2001-01-02T00:00:00Z"))
        record(store, result("new", started_at="2999-01-01T00:00:00Z"))
        # Both: beyond the newest 2 of the scope AND older than 30 days.
        assert [s.scan_id for s in store.prune(keep=2, older_than_days=30)] == ["old1"]
        assert [s.scan_id for s in store.prune(keep=None, older_than_days=30)] == ["old2"]
        assert [s.scan_id for s in store.scans()] == ["new"]


def test_a_failed_scan_keeps_its_reason_and_is_never_compared(history: HistoryLocation) -> None:
    with history.open() as store:
        record(store, result("s1"))
        store.begin("s2", ("us-east-1",), "sha256:a")
        store.fail("s2", "no AWS credentials found\n\x1b]0;pwned\x07 \u202e" + "x" * 400)
        failed = store.find("s2")
        assert (failed.state, failed.complete) == ("failed", False)
        assert failed.finished_at is not None
        assert failed.failure is not None and len(failed.failure) == FAILURE_CHARS
        assert failed.failure.startswith(
            "no AWS credentials found; \\x1b]0;pwned\\x07 \\u202exxx"
        )  # one printable line
        assert store.latest() == store.find("s1")  # never "the previous scan"
        with pytest.raises(HistoryError, match="scan s2 failed: no AWS credentials found; "):
            store.find_complete("s2")
        store.begin("s3", ("us-east-1",), "sha256:a")  # killed: incomplete, not failed
        assert store.find("s3").state == "incomplete"
        store.fail("s1", "too late")  # a complete scan stays complete
        assert store.find("s1").state == "complete"


def test_prune_unfinished_deletes_failed_and_interrupted_scans_only(
    history: HistoryLocation,
) -> None:
    with history.open() as store:
        record(store, result("done"))
        store.begin("failed", ("us-east-1",), "sha256:a")
        store.fail("failed", "no AWS credentials found")
        store.begin("killed", ("us-east-1",), "sha256:a")
        record(store, result("later"))
        deleted = store.prune(keep=None, older_than_days=None, unfinished=True)
        assert sorted(s.scan_id for s in deleted) == ["failed", "killed"]
        assert [s.scan_id for s in store.scans()] == ["later", "done"]


def test_history_commands(history: HistoryLocation, capsys: pytest.CaptureFixture[str]) -> None:
    path = history_arg(history)
    with history.open() as store:
        record(store, result("11111111-first", [finding("key-1", Status.FAIL)]))
        record(store, result("22222222-second", [finding("key-1", Status.PASS)]))
        store.begin("33333333-killed", ("us-east-1",), "sha256:a")
        store.begin("44444444-failed", ("us-east-1",), "sha256:a")
        store.fail("44444444-failed", "no AWS credentials found")
    capsys.readouterr()

    assert run(["history", "list", "--history", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["", "44444444 failed: no AWS credentials found"]
    failed, killed, second, first = (line.split() for line in lines[2:-2])
    assert (failed[0], failed[2]) == ("44444444", "failed")
    assert (killed[0], killed[2]) == ("33333333", "incomplete")
    assert second[:3] == ["22222222", "2030-01-01T00:00:00Z", "complete"]
    assert first[:3] == ["11111111", "2030-01-01T00:00:00Z", "complete"]
    assert first[3:] == [ACCOUNT, "us-east-1", "1", "0", "1", "0"]

    assert run(["history", "show", "1111", "--history", path]) == 0
    assert "key-1 is FAIL" in capsys.readouterr().out
    assert run(["history", "show", "4444", "--history", path]) == 2
    assert capsys.readouterr().err.endswith(" failed: it holds no findings\n")

    assert run(["snapshot", "approve", "--history", path]) == 0
    assert "approved scan 22222222-second" in capsys.readouterr().out
    assert run(["history", "list", "--history", path]) == 0
    assert capsys.readouterr().out.splitlines()[4].split()[:4] == [
        "22222222",
        "2030-01-01T00:00:00Z",
        "complete",
        "yes",
    ]

    assert run(["history", "prune", "--unfinished", "--history", path]) == 0
    assert f"deleted 2 scans; 2 left in {history}" in capsys.readouterr().out
    assert run(["history", "prune", "--keep", "1", "--history", path]) == 0
    assert f"deleted 1 scan; 1 left in {history}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["history", "show", "nope"], "no scan 'nope' in"),
        (["history", "show", "33"], "is incomplete: it holds no findings"),
        (["history", "prune"], "history prune needs --keep N, --older-than DAYS or --unfinished"),
        (["snapshot", "approve", "--scan", "33"], "is incomplete"),
        (["diff"], "is the only complete scan of account 123456789012, regions us-east-1"),
        (["diff", "--from", "approved"], "no approved snapshot for account 123456789012"),
    ],
)
def test_history_command_errors_are_one_line_exit_2(
    argv: list[str], line: str, history: HistoryLocation, capsys: pytest.CaptureFixture[str]
) -> None:
    with history.open() as store:
        record(store, result("11111111-first"))
        store.begin("33333333-killed", ("us-east-1",), "sha256:a")
    assert run([*argv, "--history", history_arg(history)]) == 2
    err = capsys.readouterr().err
    assert line in err and len(err.splitlines()) == 1, err


def test_reading_commands_never_create_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing" / "h.db"
    assert run(["history", "list", "--history", str(path)]) == 2
    assert f"no history store at {path}" in capsys.readouterr().err
    assert not path.parent.exists()


def test_prune_waits_for_no_running_scan(
    history: HistoryLocation, capsys: pytest.CaptureFixture[str]
) -> None:
    path = history_arg(history)
    with history.open() as store:
        scope = record(store, result("s1")).scope
    with history.lock(0, lambda: scope):  # a scan is running
        assert run(["history", "prune", "--keep", "1", "--history", path]) == 3
        assert capsys.readouterr().err == (
            f"driftscan: another driftscan run (pid {holder(history)}) holds the history store "
            f"{history}; try later or pass --lock-timeout SECONDS\n"
        )
        argv = ["history", "prune", "--keep", "1", "--history", path, "--lock-timeout", "0.3"]
        started = time.monotonic()
        assert run(argv) == 3
        assert time.monotonic() - started >= 0.3
        assert capsys.readouterr().err.endswith("; still held after waiting 0.3 s\n")
    assert run(["history", "prune", "--keep", "1", "--history", path]) == 0


def test_report_and_export_read_either_store(
    history: HistoryLocation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with history.open() as store:
        record(store, result("11111111-first", [finding("key-1", Status.FAIL)]))
        record(store, result("22222222-second", [finding("key-1", Status.PASS)]))
    assert run(["export", "--last", "--format", "json", "--history", history_arg(history)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [f["status"] for f in document["findings"]] == ["PASS"]
    page = tmp_path / "report.html"
    assert (
        run(["report", "--scan", "1111", "-o", str(page), "--history", history_arg(history)]) == 0
    )
    assert "key-1 is FAIL" in page.read_text()


def test_the_history_url_variable_names_the_default_store(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with HistoryLocation(url=postgres_url).open() as store:
        record(store, result("11111111-first"))
    monkeypatch.setenv("DRIFTSCAN_HISTORY_URL", postgres_url)
    assert run(["history", "list"]) == 0
    assert "11111111" in capsys.readouterr().out
    assert not default_path().exists()


def test_attributions_and_cloudtrail_answers_are_kept(history: HistoryLocation) -> None:
    """Who changed it goes with its scan (report and export show it without asking AWS);
    a settled LookupEvents answer is kept once, under its whole question."""
    attribution = {"summary": "changed by arn:aws:iam::1:user/Alice", "status": "found"}
    scan = replace(
        result("scan-a", [finding("key-1", Status.FAIL)]),
        attributions={"kms.cmk_rotation_enabled|key-1": attribution},
        attribution_left_over=("kms.cmk_rotation_enabled|key-2",),
    )
    question = (ACCOUNT, "us-east-1", "ResourceName", "key-1", "2030-01-01T00:00:00Z", "x")
    with history.open() as store:
        assert store.load(record(store, scan)) == scan
        assert store.cached_lookup(question) is None
        store.cache_lookup(question, {"events": [], "truncated": False})
        store.cache_lookup(question, {"events": [{"late": True}], "truncated": False})
        assert store.cached_lookup(question) == {"events": [], "truncated": False}
        assert store.cached_lookup((*question[:-1], "y")) is None
