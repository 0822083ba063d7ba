"""Suppressions: accepted failures become MUTED; expired, stale and malformed entries."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reports import table
from scanner.app.config import parse_baseline
from scanner.app.suppressions import Suppression, apply
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key
from scanner.engine.runner import FailOn, exit_code
from scanner.errors import ConfigError
from scanner.model import Status
from tests.helpers import scan

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "reports" / "schemas" / "findings.schema.json").read_text()
)
ROTATION = "kms.cmk_rotation_enabled"
TODAY = date.today()


def _scan_json(
    tmp_path: Path, entries: list[dict[str, Any]], *extra: str
) -> tuple[int, dict[str, Any]]:
    rules = tmp_path / "suppressions.yaml"
    rules.write_text(json.dumps({"suppressions": entries}))
    out = tmp_path / "out.json"
    argv = ["scan", "-r", "us-east-1", "--checks", ROTATION, "--no-history", "--format", "json"]
    code = run([*argv, "--suppressions", str(rules), "--output", str(out), *extra])
    document = json.loads(out.read_text())
    jsonschema.validate(document, SCHEMA)
    return code, document


def _statuses(document: dict[str, Any]) -> dict[str, str]:
    return {f["resource_arn"]: f["status"] for f in document["findings"]}


def test_active_suppression_mutes_the_matching_failure_and_not_the_others(
    account: DemoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted, other = make_key(account, rotation=False), make_key(account, rotation=False)
    key_id = accepted.rsplit("/", 1)[1]
    entry = {
        "check": ROTATION,
        "resource": f"*{key_id[:8]}*",
        "reason": "OPS-42: legacy key",
        "expires": str(TODAY + timedelta(days=30)),
    }
    code, document = _scan_json(tmp_path, [entry])
    assert _statuses(document) == {accepted: "MUTED", other: "FAIL"}
    muted = next(f for f in document["findings"] if f["status"] == "MUTED")
    assert muted["message"].endswith(f"[suppressed until {entry['expires']}: OPS-42: legacy key]")
    assert muted["evidence"]["suppression"] == {
        "reason": "OPS-42: legacy key",
        "expires": entry["expires"],
    }
    assert document["summary"]["by_status"] == {"PASS": 0, "FAIL": 1, "ERROR": 0, "MUTED": 1}
    assert code == 1  # the other key still fails
    assert "suppression" not in capsys.readouterr().err


def test_muted_failures_do_not_count_for_fail_on(account: DemoAccount, tmp_path: Path) -> None:
    make_key(account, rotation=False)
    entry = {
        "check": ROTATION,
        "resource": "arn:aws:kms:*",
        "reason": "accepted",
        "account": "123456789012",
        "region": "us-east-1",
    }
    code, document = _scan_json(tmp_path, [entry], "--fail-on", "low")
    assert set(_statuses(document).values()) == {"MUTED"}
    assert code == 0
    assert document["summary"]["posture_score"] is None  # MUTED counts for neither side


def test_an_entry_for_another_account_or_region_does_not_match(account: DemoAccount) -> None:
    make_key(account, rotation=False)
    result = scan(account, ROTATION)
    for other in ({"account": "210987654321"}, {"region": "eu-west-1"}):
        applied = apply(result, [Suppression(check=ROTATION, reason="r", **other)], TODAY)
        assert [f.status for f in applied.result.findings] == [Status.FAIL]
    # Not stale either when its region or account was not scanned.
    elsewhere = [
        Suppression(check=ROTATION, reason="r", region="eu-west-1"),
        Suppression(check=ROTATION, reason="r", account="210987654321"),
    ]
    assert apply(result, elsewhere, TODAY).stale == ()


def test_expired_entry_stops_suppressing_and_warns(
    account: DemoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_key(account, rotation=False)
    yesterday = str(TODAY - timedelta(days=1))
    entry = {"check": ROTATION, "reason": "was accepted", "expires": yesterday}
    code, document = _scan_json(tmp_path, [entry])
    assert set(_statuses(document).values()) == {"FAIL"}
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"driftscan: suppression {tmp_path / 'suppressions.yaml'}: suppressions/0 "
        f"({ROTATION} on *) expired on {yesterday}: it no longer suppresses"
    ]


def test_entry_that_matches_no_failure_is_stale(
    account: DemoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_key(account, rotation=False)
    entries = [
        {"check": ROTATION, "resource": "no-such-key", "reason": "gone"},
        {"check": "rds.backup_retention", "reason": "control not run: not stale"},
    ]
    code, _ = _scan_json(tmp_path, entries)
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"driftscan: suppression {tmp_path / 'suppressions.yaml'}: suppressions/0 "
        f"({ROTATION} on no-such-key) matches no failure: stale"
    ]


def test_a_passing_resource_is_not_muted(account: DemoAccount) -> None:
    make_key(account, rotation=True)
    applied = apply(scan(account, ROTATION), [Suppression(check=ROTATION, reason="r")], TODAY)
    assert [f.status for f in applied.result.findings] == [Status.PASS]
    assert len(applied.stale) == 1


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (
            '{"suppressions": [{"check": "kms.cmk_rotation_enabled"}]}',
            "suppressions/0: missing 'reason'",
        ),
        (
            '{"suppressions": [{"check": "kms.cmk_rotation_enable", "reason": "r"}]}',
            "suppressions/0/check: unknown control 'kms.cmk_rotation_enable'; "
            "did you mean kms.cmk_rotation_enabled?",
        ),
        (
            '{"suppressions": [{"check": "kms.cmk_rotation_enabled", "reason": "r", '
            '"expires": "2027-02-30"}]}',
            "suppressions/0/expires: '2027-02-30' is not a date",
        ),
        (
            '{"suppressions": [{"check": "kms.cmk_rotation_enabled", "reason": "r", '
            '"expires": "next week"}]}',
            "suppressions/0/expires: 'next week' is not a date YYYY-MM-DD",
        ),
        (
            '{"suppressions": [{"check": "kms.cmk_rotation_enabled", "reason": " "}]}',
            "suppressions/0/reason: ' ' is not a non-blank reason",
        ),
        (
            '{"suppressions": [{"check": "kms.cmk_rotation_enabled", "reason": ""}]}',
            "suppressions/0/reason: must not be empty",  # once, though two rules break
        ),
        ("suppressions: [check: x", "not valid YAML or JSON at line"),
        ("suppressions: []\nmuted: []\n", "(top level): unknown key 'muted'"),
    ],
)
def test_malformed_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, line: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(content)
    code = run(["scan", "-r", "us-east-1", "--no-history", "--suppressions", str(rules)])
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"driftscan: {rules}: ") and line in err[0], err[0]


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["scan", "--no-history", "--suppressions", str(tmp_path / "none.yaml")])
    assert code == 2
    assert "cannot read suppressions file" in capsys.readouterr().err


def test_baseline_section_suppresses_and_yaml_dates_are_dates(account: DemoAccount) -> None:
    make_key(account, rotation=False)
    baseline = parse_baseline(
        f"suppressions:\n  - check: {ROTATION}\n    reason: OPS-7\n    expires: 2999-12-31\n"
    )
    assert baseline.suppressions[0].expires == date(2999, 12, 31)
    applied = apply(scan(account, ROTATION), baseline.suppressions, TODAY)
    assert [f.status for f in applied.result.findings] == [Status.MUTED]
    assert exit_code(applied.result, FailOn.LOW) == 0
    rendered = table.render(applied.result)
    assert "== suppressed (MUTED) ==" in rendered and "OPS-7" in rendered
    assert "0 failed, 0 errors, 1 suppressed" in rendered
    with pytest.raises(ConfigError, match="suppressions/0/check: unknown control"):
        parse_baseline("suppressions: [{check: nope.nope, reason: r}]", "b.yaml")


def test_every_problem_of_a_file_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "suppressions:\n"
        "  - {check: kms.cmk_rotation_enable, reason: r}\n"
        f"  - {{check: {ROTATION}, reason: r, expires: 2027-02-30}}\n"
        f"  - {{check: {ROTATION}}}\n"
    )
    code = run(["scan", "-r", "us-east-1", "--no-history", "--suppressions", str(rules)])
    assert code == 2
    assert sorted(capsys.readouterr().err.splitlines()) == [
        f"driftscan: {rules}: suppressions/0/check: unknown control "
        "'kms.cmk_rotation_enable'; did you mean kms.cmk_rotation_enabled?",
        f"driftscan: {rules}: suppressions/1/expires: '2027-02-30' is not a date",
        f"driftscan: {rules}: suppressions/2: missing 'reason'",
    ]


def test_a_bare_list_is_told_where_the_entries_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"- check: {ROTATION}\n  reason: accepted\n")
    code = run(["scan", "-r", "us-east-1", "--no-history", "--suppressions", str(rules)])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"driftscan: {rules}: (top level): expected a mapping with a `suppressions:` list, "
        "got a list"
    ]
