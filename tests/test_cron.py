"""Unattended runs: overlapping scans on one store, scans killed mid-run, cron-mode flags.

Scans run in subprocesses against a moto server in this process. A hook in the subprocess
(``HELD_SCAN``) logs when each API call starts (``DRIFTSCAN_TEST_CALLS``) and holds every
call but sts:GetCallerIdentity (made before the scan begins) until the test opens a gate: the
scan is held mid-run, holding its lock, for exactly as long as a test needs to overlap or
kill it, and then runs at full speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import scanner.store.history_pg
import scanner.store.lock
from scanner.app.pipeline import _lock_scope
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key
from scanner.engine.accounts import AccountsRequest
from scanner.engine.session import SessionError
from scanner.store.history import HistoryError, ScanRecord, describe_scope, scope_key
from scanner.store.location import HistoryLocation
from tests.faultproxy import moto_server
from tests.pg import history_arg, holder

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"  # moto's
KEYS = 4

HELD_SCAN = """
import os, sys, time
import botocore.handlers

def hold(model, **_):
    with open(os.environ["DRIFTSCAN_TEST_CALLS"], "a") as calls:
        calls.write(f"{time.time()}\\n")
    if model.service_model.service_name == "sts":
        return
    gate = os.environ["DRIFTSCAN_TEST_GATE"]
    if not os.path.exists(gate):
        open(gate + ".waiting", "w").close()
    while not os.path.exists(gate):
        time.sleep(0.01)

botocore.handlers.BUILTIN_HANDLERS.insert(0, ("before-call", hold))
from scanner.cli import main
main()
"""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server holding KEYS customer-managed keys without rotation."""
    with moto_server() as url:
        account = DemoAccount(endpoint_url=url)
        for _ in range(KEYS):
            make_key(account, rotation=False)
        yield url


def scan_args(
    endpoint: str,
    history: HistoryLocation,
    *extra: str,
    checks: str = "kms.cmk_rotation_enabled",
) -> list[str]:
    return [
        "scan",
        "-r",
        "us-east-1",
        "--endpoint-url",
        endpoint,
        "--checks",
        checks,
        "--history",
        history_arg(history),
        "--fail-on",
        "never",
        *extra,
    ]


class Gate:
    """Held closed, the scans started by ``held_scan`` wait in their first API call after
    sts:GetCallerIdentity; once opened, every call goes through at once."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "gate"
        self.calls = folder / "calls.log"
        """One line per API call started: its time."""

    def wait_until_held(self, process: subprocess.Popen[str]) -> None:
        """Until a call of ``process`` waits at the gate: the scan is mid-run."""
        waiting = self.path.with_name("gate.waiting")
        deadline = time.monotonic() + 20
        while not waiting.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no call reached the gate"
            time.sleep(0.01)

    def open(self) -> None:
        self.path.touch()


def held_scan(argv: list[str], gate: Gate) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DRIFTSCAN_TEST_GATE": str(gate.path),
        "DRIFTSCAN_TEST_CALLS": str(gate.calls),
    }
    return subprocess.Popen(
        [sys.executable, "-c", HELD_SCAN, *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_running(history: HistoryLocation, process: subprocess.Popen[str]) -> None:
    """Until the scan is recorded as begun (it then holds the lock and is scanning)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with history.open(create=False) as store:
                if any(not scan.complete for scan in store.scans()):
                    return
        except HistoryError:  # not created yet
            pass
        time.sleep(0.05)
    raise AssertionError("the scan never started")


def scans(history: HistoryLocation) -> list[ScanRecord]:
    with history.open() as store:
        assert store.integrity() == "ok"
        return store.scans()


def open_once_waiting(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    """Open ``gate`` when a run in this process finds the store's lock held: it is then
    waiting for the held scan (--lock-timeout), which can finish."""
    wait = scanner.store.lock.acquire

    def acquire(
        take: Callable[[], bool], timeout: float, holder: Callable[[], str], store: str
    ) -> None:
        def take_or_open() -> bool:
            if take():
                return True
            gate.open()
            return False

        wait(take_or_open, timeout, holder, store)

    monkeypatch.setattr(scanner.store.lock, "acquire", acquire)
    monkeypatch.setattr(scanner.store.history_pg, "acquire", acquire)


def test_an_overlapping_scan_exits_3_naming_the_running_pid(
    endpoint: str,
    history: HistoryLocation,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate(tmp_path)
    first = held_scan(scan_args(endpoint, history, "--workers", "1", "--quiet"), gate)
    gate.wait_until_held(first)
    wait_until_running(history, first)

    assert run(scan_args(endpoint, history)) == 3
    # A PostgreSQL store is locked per scope (account, regions, baseline): named too.
    (running,) = scans(history)
    scope = scope_key((ACCOUNT,), running.regions, running.baseline_digest)
    assert capsys.readouterr().err == (
        f"driftscan: another driftscan run (pid {holder(history, first.pid)}) holds the "
        f"history store {history}{f' for {describe_scope(scope)}' if history.url else ''}; "
        "try later or pass --lock-timeout SECONDS\n"
    )
    open_once_waiting(gate, monkeypatch)
    assert run(scan_args(endpoint, history, "--lock-timeout", "30", "--quiet")) == 0
    assert first.wait(timeout=30) == 0, first.communicate()
    waited, ran = scans(history)  # newest first
    assert ran.complete and waited.complete
    assert ran.finished_at is not None and waited.started_at >= ran.finished_at


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_scan_leaves_a_consistent_store(
    sig: signal.Signals,
    endpoint: str,
    history: HistoryLocation,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir, gate = tmp_path / "run", Gate(tmp_path)
    run_dir.mkdir()
    output = run_dir / "out.json"
    # key_in_use_enabled reads seven more collectors: queued behind the keys with one worker.
    checks = "kms.cmk_rotation_enabled,kms.key_in_use_enabled"
    assert run(scan_args(endpoint, history, "--quiet", checks=checks)) == 0  # a scan before
    victim = held_scan(
        scan_args(
            endpoint, history, "--workers", "1", "-f", "json", "-o", str(output), checks=checks
        ),
        gate,
    )
    gate.wait_until_held(victim)  # mid-scan: listing keys, over twenty calls to go
    wait_until_running(history, victim)

    signalled = time.time()
    victim.send_signal(sig)
    gate.open()  # the read in flight ends; no other may start
    code = victim.wait(timeout=20)
    _, err = victim.communicate()

    if sig is signal.SIGTERM:
        assert (code, err) == (143, "driftscan: interrupted by SIGTERM\n")
        # The reads in flight end; the collectors still queued start none (they would: 7+).
        started = [float(line) for line in gate.calls.read_text().split()]
        assert len([t for t in started if t > signalled]) <= 2, started
    else:
        assert code == -signal.SIGKILL
    assert os.listdir(run_dir) == []  # neither the report nor its temporary file
    killed, before = scans(history)
    assert killed.state == "incomplete" and before.complete  # killed is not failed

    assert run(scan_args(endpoint, history, "--quiet", checks=checks)) == 0  # the next scan works
    capsys.readouterr()
    assert run(["diff", "--history", history_arg(history), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["from"]["id"] == before.scan_id  # the killed scan is skipped
    assert document["summary"]["new_failures"] == 0
    assert document["summary"]["still_failing"] == KEYS
    assert [s.complete for s in scans(history)] == [True, False, True]


def test_a_scan_that_fails_before_scanning_is_recorded_as_failed_with_its_reason(
    endpoint: str,
    history: HistoryLocation,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(scan_args(endpoint, history, "--quiet")) == 0
    # No credentials are refused before the store is opened (nothing to record); an
    # endpoint that cannot be reached fails the scan after it began.
    unreachable = scan_args("http://127.0.0.1:9", history, "--fail-on", "new")
    assert run(unreachable) == 3
    failed, first = scans(history)
    assert failed.state == "failed" and first.state == "complete"
    assert failed.failure is not None and "AWS endpoint unreachable" in failed.failure
    capsys.readouterr()

    # The next scan compares with the last complete one: nothing is new.
    assert run(scan_args(endpoint, history, "--fail-on", "new", "--quiet")) == 0
    assert capsys.readouterr().out == ""
    assert run(["history", "list", "--history", history_arg(history)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[3].split()[2] == "failed"
    assert listing[-1].startswith(f"{failed.scan_id[:8]} failed: AWS endpoint unreachable")
    assert run(["history", "prune", "--unfinished", "--history", history_arg(history)]) == 0
    assert [scan.state for scan in scans(history)] == ["complete", "complete"]


def test_new_failures_are_listed_beside_the_report_once_there_is_a_previous_scan(
    endpoint: str, history: HistoryLocation, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto has no CloudTrail: attribution (tests/test_attribution_e2e.py) would end the line
    # with why it is not known.
    argv = scan_args(endpoint, history, "--fail-on", "new", "--no-attribution")

    assert run(argv) == 1  # first scan of the scope: every failure is new
    first = capsys.readouterr()
    assert "kms.cmk_rotation_enabled" in first.out
    assert "new FAIL" not in first.err  # the report already lists them all

    key = make_key(DemoAccount(endpoint_url=endpoint), rotation=False).split("/")[-1]
    assert run(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "new FAIL" in line] == [
        f"driftscan: new FAIL: high kms.cmk_rotation_enabled {key} (123456789012 us-east-1): "
        f"key {key} has automatic rotation off"
    ]
    DemoAccount(endpoint_url=endpoint).client("kms").enable_key_rotation(KeyId=key)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["--no-history", "--fail-on", "new"],
            "--fail-on new and --drift-from read the history store: drop --no-history",
        ),
        (
            ["--no-history", "--drift-from", "approved"],
            "--fail-on new and --drift-from read the history store: drop --no-history",
        ),
        (["--no-history", "--history", "x.db"], "--history and --no-history contradict each other"),
    ],
)
def test_cron_flags_that_contradict_exit_2(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["scan", "-r", "us-east-1", *argv]) == 2
    assert capsys.readouterr().err == f"driftscan: {line}\n"


def test_log_format_json_makes_error_lines_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(["scan", "-r", "us-east-1", "--log-format", "json", "--no-history", "--fail-on", "new"])
        == 2
    )
    (line,) = capsys.readouterr().err.splitlines()
    event = json.loads(line)
    assert event["level"] == "error" and event["message"].startswith("--fail-on new and")
    assert run(["history", "show", "x", "--history", "/nonexistent/h.db"]) == 2
    assert capsys.readouterr().err.startswith("driftscan: no history store")  # text again


def test_scanners_of_different_scopes_share_a_postgresql_store_at_once(
    endpoint: str, postgres_url: str, tmp_path: Path
) -> None:
    history = HistoryLocation(url=postgres_url)
    gate = Gate(tmp_path)
    first = held_scan(scan_args(endpoint, history, "--workers", "1", "--quiet"), gate)
    gate.wait_until_held(first)
    wait_until_running(history, first)
    # Another control: another baseline, so another scope (the same one exits 3, above).
    assert run(scan_args(endpoint, history, "--quiet", checks="kms.key_in_use_enabled")) == 0
    assert first.poll() is None  # the second ran while the first was scanning
    gate.open()
    assert first.wait(timeout=30) == 0, first.communicate()
    assert [scan.state for scan in scans(history)] == ["complete", "complete"]


STALLED_WRITE = """
import os, sys, time
from scanner.store.history import HistoryStore
from scanner.store.history_pg import PostgresStore

def stalled(insert):
    def write(self, sql, rows):
        insert(self, sql, rows)  # the findings, inside the transaction that completes the scan
        open(os.environ["DRIFTSCAN_TEST_MARK"], "w").close()
        time.sleep(60)
    return write

for store in (HistoryStore, PostgresStore):
    store._executemany = stalled(store._executemany)
from scanner.cli import main
main()
"""


def test_a_scan_killed_while_writing_stays_incomplete_and_the_store_consistent(
    endpoint: str, history: HistoryLocation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(scan_args(endpoint, history, "--quiet")) == 0
    mark = tmp_path / "writing"
    victim = subprocess.Popen(
        [sys.executable, "-c", STALLED_WRITE, *scan_args(endpoint, history, "--quiet")],
        cwd=ROOT,
        env={**os.environ, "DRIFTSCAN_TEST_MARK": str(mark)},
    )
    deadline = time.monotonic() + 30
    while not mark.exists():
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    victim.kill()
    assert victim.wait(timeout=20) == -signal.SIGKILL

    killed, before = scans(history)  # scans() checks integrity: no finding of a killed scan
    assert (killed.state, killed.counts["FAIL"], before.state) == ("incomplete", 0, "complete")
    # The server ends a killed client's session (and its locks) once it sees the connection
    # close: a moment, which the next scan may wait for.
    assert run(scan_args(endpoint, history, "--quiet", "--lock-timeout", "10")) == 0
    assert [scan.state for scan in scans(history)] == ["complete", "incomplete", "complete"]
    capsys.readouterr()
    assert run(["diff", "--history", history_arg(history), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["from"]["id"] == before.scan_id


def test_a_scan_locks_the_scope_of_the_accounts_it_was_asked_for() -> None:
    """On PostgreSQL, scanners of different account groups (or credentials) share a store."""

    class Session:
        def __init__(self, account: str | None) -> None:
            self.account = account

        def account_id(self, region: str) -> str:
            if self.account is None:
                raise SessionError("no AWS credentials found")
            return self.account

    plan = SimpleNamespace(regions=("us-east-1",), baseline_digest="sha256:a")

    def locked(accounts: AccountsRequest | None, session: Session) -> list[str]:
        request = SimpleNamespace(accounts=accounts)
        return json.loads(_lock_scope(request, plan, session))[0]

    group = AccountsRequest(role_name="audit", account_ids=("222222222222", "111111111111"))
    organization = AccountsRequest(role_name="audit", organization=True)
    assert locked(group, Session(ACCOUNT)) == ["111111111111", "222222222222"]
    assert locked(organization, Session(ACCOUNT)) == ["organization"]
    assert locked(None, Session("333333333333")) == ["333333333333"]
    assert locked(None, Session(None)) == []  # the scan fails on it, and records why
