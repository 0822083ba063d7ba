"""Bad input, tried systematically: any baseline text is a Baseline or one line per problem
naming its key path (exit 2, never a traceback); unwritable outputs, a corrupted history
store, bad endpoints, expired credentials and unknown regions are one line and an exit code;
an empty account is a clean report."""

from __future__ import annotations

import json
import os
import re
import resource
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.app.config import (
    MAX_FILE_BYTES,
    Baseline,
    key_name,
    load_suppressions,
    parse_baseline,
)
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.engine.registry import all_checks
from scanner.errors import ConfigError
from scanner.textsafe import MAX_PROBLEMS
from tests.faultproxy import Fault, running

SOURCE = "baseline.yaml"
LINE = re.compile(rf"^{re.escape(SOURCE)}: (?:not valid YAML or JSON|.+?: .+)")
"""Each problem: the file, then a key path (``controls/rds.backup_retention/min_days``,
``(top level)``) and what is wrong, or where the text is not YAML."""

CHECK = all_checks()[0]
ENTRY_KEYS = ["check", "resource", "account", "region", "reason", "expires"]
KEYS = ["version", "scope", "controls", "regions", "tags", "name_suffix", "enabled", CHECK.id,
        *(p.name for p in CHECK.params), "suppressions", *ENTRY_KEYS, "other"]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "us-east-1",
            "xx-nowhere-1",
            "1",
            "-prod",
            "",
            CHECK.id,
            "2027-02-30",
            "2027-03-01",
            "123456789012",
            " ",
        ]
    )
)
KEY = st.sampled_from(KEYS) | st.text(max_size=8) | st.integers(-3, 3) | st.booleans()
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEY, inner, max_size=4),
    max_leaves=12,
)


def outcome(text: str) -> Baseline | ConfigError:
    try:
        return parse_baseline(text, SOURCE)
    except ConfigError as exc:
        return exc


ENTRIES = st.lists(
    st.dictionaries(st.sampled_from(ENTRY_KEYS) | KEY, DOCUMENTS, max_size=5) | DOCUMENTS,
    max_size=3,
)


def document_of(text: str) -> Any:
    """The document as driftscan reads it: JSON as JSON (which joins an escaped surrogate
    pair into one character, where YAML keeps two), else YAML with libyaml's parser (which
    accepts a few texts PyYAML's own refuses, such as ``A\t``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(text, Loader=loader) if text.strip() else {}


def key_paths(document: Any, prefix: str = "") -> set[str]:
    """Every key path in the document, as problems name them."""
    paths = {prefix or "(top level)"}
    if isinstance(document, dict):
        items = [(key_name(key), value) for key, value in document.items()]
    elif isinstance(document, list):
        items = [(str(index), value) for index, value in enumerate(document)]
    else:
        items = []
    for name, value in items:
        paths |= key_paths(value, f"{prefix}/{name}" if prefix else name)
    return paths


def named_problems(lines: list[str], source: str) -> list[str]:
    """The problem lines, without the line that counts those beyond MAX_PROBLEMS."""
    if len(lines) == MAX_PROBLEMS + 1:
        assert re.fullmatch(rf"{re.escape(source)}: and \d+ more problems?", lines[-1]), lines
        return lines[:-1]
    assert len(lines) <= MAX_PROBLEMS, lines
    return lines


def assert_names_key_paths(error: ConfigError, document: Any) -> None:
    lines = named_problems(str(error).splitlines(), SOURCE)
    paths = key_paths(document)
    assert lines
    for line in lines:
        assert any(line.startswith(f"{SOURCE}: {path}: ") for path in paths), (line, document)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_baseline_or_one_clear_line_per_problem(text: str) -> None:
    result = outcome(text)
    if isinstance(result, ConfigError):
        lines = str(result).splitlines()
        assert lines and all(LINE.match(line) for line in lines), lines


@settings(max_examples=120, deadline=None)
@given(DOCUMENTS)
def test_any_document_is_a_baseline_or_problems_naming_their_key_paths(document: Any) -> None:
    text = yaml.safe_dump(document)
    result = outcome(text)
    if isinstance(result, ConfigError):
        assert_names_key_paths(result, document_of(text))
    else:
        assert isinstance(result, Baseline)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {"version": st.just(1)},
        optional={
            "scope": st.fixed_dictionaries(
                {}, optional={"regions": DOCUMENTS, "tags": DOCUMENTS, "name_suffix": DOCUMENTS}
            ),
            "controls": st.dictionaries(
                st.sampled_from([spec.id for spec in all_checks()]),
                st.dictionaries(
                    st.sampled_from(["enabled", *(p.name for s in all_checks() for p in s.params)]),
                    DOCUMENTS,
                    max_size=3,
                ),
                max_size=3,
            ),
        },
    )
)
def test_nearly_valid_baselines_name_the_exact_key_path(document: dict[str, Any]) -> None:
    """Documents shaped like a baseline reach deep into the schema's paths."""
    text = json.dumps(document, default=str)
    result = outcome(text)
    if isinstance(result, ConfigError):
        assert_names_key_paths(result, document_of(text))


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({"version": st.just(1)}, optional={"suppressions": ENTRIES}))
def test_any_suppressions_in_a_baseline_name_the_exact_key_path(document: dict[str, Any]) -> None:
    text = json.dumps(document, default=str)
    result = outcome(text)
    if isinstance(result, ConfigError):
        assert_names_key_paths(result, document_of(text))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=120) | st.fixed_dictionaries({"suppressions": ENTRIES}).map(json.dumps))
def test_any_suppressions_file_is_entries_or_problems_naming_their_key_paths(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "suppressions.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_suppressions(path)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        assert lines and all(line.startswith(f"{path}: ") for line in lines), lines
        if not lines[0].startswith(f"{path}: not valid YAML"):
            paths = key_paths(document_of(text))
            for line in named_problems(lines, str(path)):
                assert any(line.startswith(f"{path}: {p}: ") for p in paths), line


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=120) | DOCUMENTS.map(yaml.safe_dump))
def test_the_cli_answers_any_baseline_with_exit_0_or_2_and_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / SOURCE
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()

    code = run(["baseline", "validate", str(path)])

    err = capsys.readouterr().err
    assert "Traceback" not in err
    if isinstance(outcome(text), ConfigError):
        lines = err.splitlines()
        assert code == 2
        assert lines and all(line.startswith(f"driftscan: {path}: ") for line in lines), lines
    else:
        assert (code, err) == (0, "")


def scan_lines(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = run(["scan", "--region", "us-east-1", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.splitlines()


def test_an_output_path_that_is_a_directory_fails_before_scanning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = scan_lines(capsys, "--no-history", "--output", str(tmp_path))
    assert (code, lines) == (2, [f"driftscan: cannot write {tmp_path}: it is a directory"])


def test_an_output_path_under_a_file_fails_before_scanning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, lines = scan_lines(capsys, "--no-history", "--output", str(blocker / "out.json"))
    assert code == 2 and len(lines) == 1 and "does not exist" in lines[0], lines


@pytest.mark.parametrize(
    "content",
    [b"this is not a database\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4080],
    ids=["garbage", "bad-header"],
)
def test_a_corrupted_history_store_is_one_line_and_left_as_it_was(
    account: DemoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    store = tmp_path / "history.db"
    store.write_bytes(content)

    code, lines = scan_lines(capsys, "--services", "kms", "--history", str(store))

    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"driftscan: cannot open history store {store}: "), lines
    assert store.read_bytes() == content
    assert run(["history", "list", "--history", str(store)]) == 2
    assert store.read_bytes() == content


def test_a_store_damaged_inside_is_one_line_and_not_overwritten(
    account: DemoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "history.db"
    assert scan_lines(capsys, "--services", "kms", "--history", str(store))[0] == 0
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damaged = bytearray(store.read_bytes())
    page = 4096
    damaged[page:] = b"\xa5" * (len(damaged) - page)  # every page but the header's
    store.write_bytes(bytes(damaged))

    code, lines = scan_lines(capsys, "--services", "kms", "--history", str(store))

    assert code == 2 and len(lines) == 1, lines
    assert re.match(
        rf"driftscan: cannot (open|use) history store {re.escape(str(store))}: ", lines[0]
    )
    assert store.read_bytes() == bytes(damaged)


@pytest.mark.parametrize(
    "url", ["notaurl", "ftp://127.0.0.1:21", "http://", "127.0.0.1:5000", "http:///path"]
)
def test_an_invalid_endpoint_url_is_one_line_and_exit_2(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = scan_lines(capsys, "--no-history", "--endpoint-url", url)
    assert code == 2 and len(lines) == 1 and "invalid endpoint URL" in lines[0], lines


def test_expired_credentials_exit_3_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with running("http://127.0.0.1:9") as (proxy, url):  # STS answers before any forwarding
        proxy.add("GetCallerIdentity", Fault.EXPIRED_TOKEN)
        code, lines = scan_lines(capsys, "--no-history", "--endpoint-url", url, "-s", "kms")
    assert code == 3
    assert lines == [
        "driftscan: cannot verify credentials with sts:GetCallerIdentity: ExpiredToken: "
        "injected ExpiredToken by the fault proxy"
    ]


def test_an_unknown_region_in_the_baseline_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("version: 1\nscope: {regions: [xx-nowhere-9]}\n")
    capsys.readouterr()
    code = run(["scan", "--no-history", "--baseline", str(baseline)])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and "unknown region 'xx-nowhere-9'" in lines[0], lines


def test_an_empty_account_is_a_clean_report(
    account: DemoAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto's default VPC has no route to its internet gateway (AWS's has): take it away.
    ec2 = account.client("ec2")
    for subnet in ec2.describe_subnets()["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    out = tmp_path / "out.json"

    code, lines = scan_lines(capsys, "--no-history", "--format", "json", "--output", str(out))

    document = json.loads(out.read_text())
    assert document["findings"] == []
    assert document["summary"]["complete"] is True
    assert (code, lines) == (0, [])
    assert run(["scan", "--region", "us-east-1", "--no-history"]) == 0
    assert "Traceback" not in capsys.readouterr().err


# --- hostile input files: bombs, devices, deep nesting, huge values ---------------------------

BILLION_LAUGHS = "version: 1\nscope: {tags: {a: &a lol}}\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
"""Nine levels of nine aliases: a few hundred bytes that expand to 9**8 strings."""


def run_bounded(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    """run(argv), asserting it takes seconds, not minutes, and little memory."""
    capsys.readouterr()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()  # CPU seconds: a busy machine does not make it flaky
    code = run(list(argv))
    assert time.process_time() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("option", ["--baseline", "--suppressions"])
def test_a_yaml_bomb_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 500
    code, err = run_bounded(capsys, "scan", "-r", "us-east-1", "--no-history", option, str(bomb))
    assert code == 2
    assert err == [
        f"driftscan: {bomb}: not valid YAML or JSON at line 2, column 19: "
        "anchors and aliases (& and *) are not accepted"
    ]


@pytest.mark.parametrize("opening", ["[", '{"a": ', "- "])
def test_deep_nesting_is_refused_not_a_recursion_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], opening: str
) -> None:
    closing = {"[": "]", '{"a": ': "}", "- ": ""}[opening]
    deep = tmp_path / "deep.json"
    deep.write_text(opening * 50_000 + "1" + closing * 50_000)
    code, err = run_bounded(capsys, "baseline", "validate", str(deep))
    assert code == 2
    assert len(err) == 1 and "nested deeper than 20 levels" in err[0], err


def test_a_file_over_the_size_limit_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    code, err = run_bounded(capsys, "baseline", "validate", str(big))
    assert (code, err) == (2, [f"driftscan: {big}: a baseline file may hold at most 1048576 bytes"])


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_a_file_that_is_not_regular_is_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = {"device": Path("/dev/zero"), "fifo": tmp_path / "fifo", "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # no writer: a blocking open would wait forever
    code, err = run_bounded(capsys, "scan", "-r", "us-east-1", "--suppressions", str(path))
    assert (code, err) == (2, [f"driftscan: {path}: a suppressions file must be a regular file"])


def test_a_huge_value_is_quoted_by_a_short_escaped_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.json"
    hostile = "\x1b]0;owned\x07" * 20_000
    entry = {"check": "kms.cmk_rotation_enabled", "reason": "r", "region": hostile}
    rules.write_text(json.dumps({"suppressions": [entry], "k" * 1000: 1}))
    code, err = run_bounded(capsys, "scan", "-r", "us-east-1", "--suppressions", str(rules))
    assert code == 2 and len(err) == 2, err
    assert all(len(line) < 200 + len(str(rules)) for line in err), err
    assert not any("\x1b" in line or "\x07" in line for line in err)
    assert "suppressions/0/region: '\\x1b]0;owned\\x07" in err[1]


@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_a_full_size_file_of_problems_is_listed_up_to_a_limit_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], syntax: str
) -> None:
    rules = tmp_path / f"rules.{syntax}"
    reason = "r" * 40
    if syntax == "json":
        entries = [f'{{"check": "nope", "reason": "{reason}"}}'] * 13_000
        text = '{"suppressions": [\n' + ",\n".join(entries) + "]}"
    else:
        text = "suppressions:\n" + f"- check: nope\n  reason: {reason}\n" * 13_000
    assert MAX_FILE_BYTES // 2 < len(text) < MAX_FILE_BYTES
    rules.write_text(text)
    code, err = run_bounded(capsys, "scan", "-r", "us-east-1", "--suppressions", str(rules))
    assert code == 2
    assert len(err) == MAX_PROBLEMS + 1
    assert re.fullmatch(rf"driftscan: {re.escape(str(rules))}: and \d{{4,}} more problems", err[-1])
