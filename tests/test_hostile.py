"""Names chosen by an attacker, scanned into every format.

An account whose log groups, secrets, streams and key Name tags hold terminal escape and
OSC sequences, newlines that would forge a row, bidi overrides, C1 controls, ``<script>``,
spreadsheet formulas and 1,200-character names. Text outputs must show every control
character as a visible escape; CSV must not hand a spreadsheet a formula; HTML must escape
markup; the JSON formats must parse and keep the exact value.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from reports import OutputFormat, csv_report, renderer_for, table
from scanner.cli import run
from scanner.demo.base import DemoAccount, speed_up_moto_kms
from scanner.demo.kinesis import make_stream
from scanner.demo.kms import make_key
from scanner.demo.logs import make_log_group
from scanner.demo.secretsmanager import make_secret
from scanner.model import ScanResult
from scanner.pipeline import say, text_log_handler
from tests.helpers import scan

HOSTILE = {
    "csi": "\x1b[2J\x1b[31mred",
    "osc": "\x1b]0;owned\x07title",
    "newline": "x\nPASS      high      fake.row",
    "return": "x\rPASS",
    "tab": "a\tb",
    "bidi": "gorp\u202eslx.exe",
    "isolate": "\u2067rtl\u2069",
    "c1": "\x9b31m\x85next\x7f",
    "separator": "line\u2028para\u2029",
    "script": "<script>alert(1)</script>",
    "formula": "=cmd|' /C calc'!A0",
    "plus": "+1+1",
    "at": "@SUM(A1)",
}
LONG = "L" * 1200
CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
"""Every character a text output must escape; newline is allowed only between lines."""
CHECKS = (
    "logs.retention_set",
    "secretsmanager.rotation_enabled",
    "kinesis.retention_period",
    "kms.cmk_rotation_enabled",
    "tagging.environment_suffix",
)
TAGGING = {"tagging.environment_suffix": {"suffix": "prod"}}


def build_hostile(account: DemoAccount) -> dict[str, str]:
    """Resources named after every hostile value; returns each name as AWS holds it."""
    names = {}
    for label, text in HOSTILE.items():
        names[f"log {label}"] = make_log_group(
            account, name=f"/{label}/{text}", retention_days=None
        )
        names[f"secret {label}"] = make_secret(account, name=text, rotation=False)
        names[f"stream {label}"] = make_stream(account, name=f"s-{label}-{text}"[:128])
        make_key(account, rotation=False, tags={"Name": text[:256]})
    names["secret long"] = make_secret(account, name=LONG, rotation=False)
    return names


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[ScanResult, dict[str, str]]]:
    speed_up_moto_kms()
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]:
            env.setenv(name, value)
        account = DemoAccount()
        names = build_hostile(account)
        yield scan(account, *CHECKS, params=TAGGING), names


def rendered(result: ScanResult, output_format: OutputFormat, **options: bool) -> str:
    return "".join(renderer_for(output_format, **options)(result))


def assert_plain_text(text: str) -> None:
    found = CONTROL.search(text)
    assert found is None, repr(text[max(0, found.start() - 40) : found.end() + 40])
    for line in text.splitlines():
        assert not re.match(r"\s*PASS\s+high\s+fake\.row", line), line  # no forged row


def test_the_account_holds_every_hostile_name(hostile: tuple[ScanResult, dict[str, str]]) -> None:
    result, names = hostile
    ids = {f.resource_id for f in result.findings}
    assert set(names.values()) <= ids
    assert LONG in ids


@pytest.mark.parametrize("width", [None, 80, 100, 200])
def test_the_table_escapes_every_control_character(
    hostile: tuple[ScanResult, dict[str, str]], width: int | None
) -> None:
    result, _ = hostile
    text = table.render(result, width=width)
    assert_plain_text(text)
    assert "\\x1b]0;owned\\x07title" in " ".join(text.split()) or width is not None
    assert "gorp\\u202eslx.exe" in text
    # In the reason column too: a newline is shown, never folded into a space.
    assert not re.search(r"log group \S*x PASS", " ".join(text.split()))
    if width is None:
        assert "x\\nPASS" in text and "a\\tb" in text
    if width is not None:
        assert max(len(line) for line in text.splitlines()) <= width
        assert sum(line.count("L") for line in text.splitlines()) >= 1200  # wrapped, not cut
    else:
        assert any(LONG in line for line in text.splitlines())


def test_csv_neutralises_formulas_and_raw_keeps_them(
    hostile: tuple[ScanResult, dict[str, str]],
) -> None:
    result, names = hostile
    rows = list(csv.reader(io.StringIO(rendered(result, OutputFormat.CSV), newline="")))
    assert not [cell for row in rows for cell in row if cell.startswith(csv_report.FORMULA_STARTS)]
    assert any(row[9] == "'" + names["secret formula"] for row in rows)
    raw = list(
        csv.reader(io.StringIO(rendered(result, OutputFormat.CSV, csv_raw=True), newline=""))
    )
    assert any(row[9] == names["secret formula"] for row in raw)
    assert any(row[9] == names["secret newline"] for row in raw)  # RFC 4180 quotes it


def test_html_escapes_every_name(hostile: tuple[ScanResult, dict[str, str]]) -> None:
    result, _ = hostile
    page = rendered(result, OutputFormat.HTML)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the report's own filter script
    assert "</script>" not in page.split("<script>", 1)[0]
    assert_plain_text(page)  # a bidi override would make gorp\u202eslx.exe read gorpexe.xls
    assert "gorp\\u202eslx.exe" in page


@pytest.mark.parametrize(
    "output_format", [OutputFormat.JSON, OutputFormat.JSONL, OutputFormat.OCSF, OutputFormat.ASFF]
)
def test_json_formats_parse_and_keep_the_exact_names(
    hostile: tuple[ScanResult, dict[str, str]], output_format: OutputFormat
) -> None:
    result, names = hostile
    text = rendered(result, output_format)
    if output_format is OutputFormat.JSONL:
        documents = [json.loads(line) for line in text.splitlines()]
    else:
        documents = [json.loads(text)]
    assert_plain_text(text)  # JSON escapes control characters itself
    values = set(_strings(documents))
    if output_format in (OutputFormat.JSON, OutputFormat.JSONL):
        assert set(names.values()) <= values
    else:  # ids inside ARNs and ASFF's cut text: the escape sequence survives as data
        assert any(HOSTILE["osc"] in value for value in values)


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_quiet_lines_and_stderr_lines_are_escaped(
    account: DemoAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    for text in HOSTILE.values():
        make_log_group(account, name=f"/q/{text}", retention_days=None)
    code = run(
        [
            "scan",
            "-r",
            "us-east-1",
            "--checks",
            "logs.retention_set",
            "--no-history",
            "-q",
            "--fail-on",
            "low",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.out.splitlines()
    assert all(line.startswith("new FAIL: ") for line in lines)  # one line a problem
    assert len([line for line in lines if " /q/" in line]) == len(HOSTILE)
    assert_plain_text(captured.out)
    assert "\\x1b]0;owned\\x07title" in captured.out
    say(f"could not scan account 1: {HOSTILE['osc']} {HOSTILE['newline']}")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert_plain_text(err)


def test_text_log_lines_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("driftscan.test_hostile")
    handler = text_log_handler()
    logger.addHandler(handler)
    try:
        logger.warning("cannot assume role in %s: %s", HOSTILE["csi"], HOSTILE["newline"])
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert err == (
        "WARNING driftscan.test_hostile: cannot assume role in \\x1b[2J\\x1b[31mred: "
        "x\\nPASS      high      fake.row\n"
    )


def test_a_verbose_scan_logs_nothing_raw(
    account: DemoAccount,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CLI configures the root logger once a process: give it a fresh one, on capsys.
    monkeypatch.setattr(logging.root, "handlers", [])
    monkeypatch.setattr(logging.root, "level", logging.WARNING)
    for text in HOSTILE.values():
        make_log_group(account, name=f"/v/{text}", retention_days=None)
    out = tmp_path / "report.txt"
    code = run(["-vv", "scan", "-r", "us-east-1", "--checks", "logs.retention_set",
                "--no-history", "--fail-on", "low", "--output", str(out)])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "API call logs:DescribeLogGroups" in err
    assert_plain_text(err)
    assert_plain_text(out.read_text())
