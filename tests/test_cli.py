"""The CLI end to end: exit codes, one-line errors, JSON against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "reports" / "schemas" / "findings.schema.json").read_text()
)


def test_scan_writes_json_valid_against_schema_and_exits_1_on_high_failure(
    account: DemoAccount, tmp_path: Path
) -> None:
    make_key(account, rotation=False)
    out = tmp_path / "out.json"
    code = run(
        [
            "scan",
            "--region",
            "us-east-1",
            "--format",
            "json",
            "--output",
            str(out),
            "--services",
            "kms",
        ]
    )
    document = json.loads(out.read_text())
    jsonschema.validate(document, SCHEMA)
    assert code == 1
    assert document["summary"]["by_status"]["FAIL"] >= 1


def test_fail_on_never_exits_0(account: DemoAccount) -> None:
    make_key(account, rotation=False)
    assert (
        run(
            [
                "scan",
                "-r",
                "us-east-1",
                "--checks",
                "kms.cmk_rotation_enabled",
                "--fail-on",
                "never",
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    ("argv", "code", "line"),
    [
        (
            ["scan", "-r", "us-east-1", "--checks", "kms.cmk_rotaton_enabled"],
            2,
            "driftscan: unknown check id 'kms.cmk_rotaton_enabled'; did you mean "
            "kms.cmk_rotation_enabled?",
        ),
        (["scan", "-r", "us-eats-1"], 2, "driftscan: unknown region 'us-eats-1'"),
        (["scan", "-r", "us-east-1", "--services", "kmz"], 2, "unknown service 'kmz'"),
        (["scan", "-r", "us-east-1", "--endpoint-url", "notaurl"], 2, "invalid endpoint URL"),
        (["checks", "show", "nope.nothing"], 2, "unknown check id 'nope.nothing'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(
    argv: list[str], code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == code
    err = capsys.readouterr().err
    assert line in err
    assert "Traceback" not in err


def test_no_credentials_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert run(["scan", "-r", "us-east-1"]) == 3
    assert "no AWS credentials found" in capsys.readouterr().err


def test_unreachable_endpoint_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["scan", "-r", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"]) == 3
    assert "AWS endpoint unreachable" in capsys.readouterr().err


def test_malformed_baseline_lists_each_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        "controls:\n  rds.backup_retention: {min_days: seven}\n  kms.rotation: {}\n"
    )
    assert run(["scan", "-r", "us-east-1", "--baseline", str(baseline)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"driftscan: {baseline}: controls: unknown key 'kms.rotation'; "
        "did you mean kms.cmk_rotation_enabled?",
        f"driftscan: {baseline}: controls/rds.backup_retention/min_days: "
        "'seven' is not of type 'integer'",
    ]


def test_baseline_init_writes_a_file_that_validates(tmp_path: Path) -> None:
    path = tmp_path / "baseline.yaml"
    assert run(["baseline", "init", str(path)]) == 0
    assert run(["baseline", "validate", str(path)]) == 0
    assert run(["baseline", "init", str(path)]) == 2  # no silent overwrite


def test_checks_list_names_every_control(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["checks", "list", "--json"]) == 0
    listed = {row["id"] for row in json.loads(capsys.readouterr().out)}
    assert "kms.cmk_rotation_enabled" in listed


def test_unwritable_output_fails_before_scanning(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["scan", "-r", "us-east-1", "--output", "/nonexistent/dir/out.json"]) == 2
    assert "does not exist" in capsys.readouterr().err
