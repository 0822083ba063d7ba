"""What scan, demo and iam-policy were asked is checked in one place, before any I/O, and
errors come in the order a newcomer meets them; iam-policy covers the baseline's scan."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from scanner.app.config import build_plan, load_baseline
from scanner.app.iam_policy import required_actions
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.stack import build_demo
from scanner.engine.attribution import LOOKUP_ACTION
from scanner.engine.runner import run_scan
from scanner.engine.session import AwsSession, SessionOptions

BASELINE = """\
version: 1
scope:
  name_suffix: prod
controls:
  cloudformation.required_outputs:
    stack_outputs: {prod-stack: [ApiUrl]}
  apigateway.required_routes: {routes: ["GET /health"]}
  tagging.environment_suffix: {suffix: prod}
"""
"""Turns on every control that is off until configured, and a scope that reads Name tags."""


@pytest.fixture
def no_demo_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the demo account takes seconds: a flag the demo refuses must not wait for it."""

    @contextmanager
    def refuse() -> Iterator[Any]:
        raise AssertionError("the demo account was built before the flags were checked")
        yield

    monkeypatch.setattr("scanner.demo.stack.demo_account", refuse)


@pytest.mark.usefixtures("no_demo_account")
@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["demo", "--checks", "kms.nope"], "unknown check id 'kms.nope'"),
        (["demo", "--services", "kmz"], "unknown service 'kmz'"),
        (["demo", "--baseline", "/nonexistent/baseline.yaml"], "/nonexistent/baseline.yaml"),
        (["demo", "--suppressions", "/nonexistent/s.yaml"], "/nonexistent/s.yaml"),
        (["demo", "--format", "table", "--jsonl"], "--jsonl"),
        (["demo", "--output", "/nonexistent/dir/out.json"], "does not exist"),
        (["scan", "--demo", "--region", "moon-1"], "the demo account has one region, us-east-1"),
        (["scan", "--demo", "--profile", "x"], "--demo scans the built-in account"),
        (["scan", "--demo", "--checks", "kms.nope"], "unknown check id 'kms.nope'"),
    ],
)
def test_demo_checks_its_flags_before_it_builds_the_account(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert line in err and len(err.splitlines()) == 1, err


@pytest.mark.usefixtures("no_demo_account")
@pytest.mark.parametrize(
    "argv", [["demo", "--fail-on", "new"], ["scan", "--demo", "--drift-from", "approved"]]
)
def test_demo_fail_on_new_says_what_the_demo_records(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "the demo records none" in err
    assert "--no-history" not in err  # demo has no such option


@pytest.fixture
def nothing_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("nothing_configured")
def test_a_plain_scan_with_nothing_configured_says_no_credentials_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["scan"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("driftscan: no AWS credentials found (tried: env, ")
    assert "shared-credentials-file" in err and "`driftscan demo`" in err
    assert "region" not in err
    assert len(err.splitlines()) == 1


@pytest.mark.usefixtures("nothing_configured")
def test_a_typo_is_reported_before_the_missing_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["scan", "--checks", "kms.nope"]) == 2
    assert "unknown check id 'kms.nope'" in capsys.readouterr().err


def _foreign_database(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE accounts (id TEXT)")
        db.commit()
    return path


BAD_FLAGS = [
    (["--send", "https://[::1/x"], "--send: malformed URL"),
    (["--send", "securityhub:moon-1"], "'moon-1' is not a region name"),
    (["--ca-bundle", "/nonexistent/ca.pem", "--send", "https://hooks.example"], "--ca-bundle"),
    (["--send", "splunk-hec://splunk.example"], "needs DRIFTSCAN_HEC_TOKEN set"),
    (["--history", "FOREIGN"], "a SQLite database without driftscan's tables"),
    (["--only-changes", "--no-history", "--send", "https://h.example"], "drop --no-history"),
    (["--only-changes"], "--only-changes chooses what --send delivers"),
    (["--all-regions", "--region", "us-east-1"], "contradict each other"),
    (["--exclude-regions", "us-east-1"], "--exclude-regions needs --all-regions"),
    (["--output", "/nonexistent/dir/out.json"], "does not exist"),
]


@pytest.mark.usefixtures("nothing_configured")
@pytest.mark.parametrize(("flags", "line"), BAD_FLAGS, ids=[line for _, line in BAD_FLAGS])
def test_every_flag_and_file_is_checked_before_the_credentials(
    flags: list[str],
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DRIFTSCAN_HEC_TOKEN", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    foreign = str(_foreign_database(tmp_path / "other.db"))
    argv = ["scan", *(foreign if flag == "FOREIGN" else flag for flag in flags)]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert line in err and "credentials" not in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "data").exists()  # the default store was not created either


@pytest.mark.usefixtures("nothing_configured")
def test_an_absent_history_store_is_good_and_not_created_before_the_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "new" / "history.db"
    assert run(["scan", "-r", "us-east-1", "--history", str(store)]) == 3
    assert "no AWS credentials found" in capsys.readouterr().err
    assert not store.parent.exists()


def test_with_credentials_the_missing_region_comes_next(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert run(["scan"]) == 2
    assert "no region: pass --region" in capsys.readouterr().err


def _policy_actions(capsys: pytest.CaptureFixture[str], *argv: str) -> set[str]:
    assert run(["iam-policy", *argv]) == 0
    (statement,) = json.loads(capsys.readouterr().out)["Statement"]
    return set(statement["Action"])


def test_iam_policy_covers_what_a_scan_with_the_baseline_calls(
    account: DemoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "baseline.yaml"
    path.write_text(BASELINE)
    actions = _policy_actions(capsys, "--baseline", str(path))

    plan = build_plan(load_baseline(path), regions=[account.region])
    turned_on = {"cloudformation.required_outputs", "apigateway.required_routes"}
    assert turned_on | {"tagging.environment_suffix"} <= {spec.id for spec in plan.checks}
    assert actions == set(required_actions(plan.checks)) | {LOOKUP_ACTION}  # attribution
    assert "cloudformation:DescribeStacks" in actions
    assert "cloudformation:DescribeStacks" not in _policy_actions(capsys)  # off by default

    build_demo(account)
    session = AwsSession(SessionOptions())
    run_scan(plan, session)
    assert session.requests.actions() - actions == {"sts:GetCallerIdentity"}  # needs no grant


def test_iam_policy_takes_the_selection_flags_of_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "baseline.yaml"
    path.write_text(BASELINE)
    selected = ["--checks", "cloudformation.required_outputs", "--baseline", str(path)]
    assert _policy_actions(capsys, *selected) == {"cloudformation:DescribeStacks", LOOKUP_ACTION}
    without = _policy_actions(capsys, *selected, "--no-attribution")
    assert without == {"cloudformation:DescribeStacks"}  # a scan with --no-attribution
    assert run(["iam-policy", "--checks", "cloudformation.required_outputs"]) == 2
    assert "off until the baseline sets" in capsys.readouterr().err
    critical = _policy_actions(capsys, "--severity", "critical", "--services", "kms")
    assert critical and critical < _policy_actions(capsys, "--services", "kms")
