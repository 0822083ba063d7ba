"""Controls from outside the project: a package whose module is an entry point of the
``driftscan.checks`` group adds a control that every command sees, with no change to
driftscan; a plugin that cannot be loaded stops driftscan with one line.

The example package (tests/plugin_fixture) is not installed into the test environment, which
would add its control to every other test's registry. Each test gives a subprocess what
``pip install`` would leave on its path: the package's source, and a ``.dist-info`` holding
the entry points of the package's own pyproject.toml, which importlib.metadata discovers on
``sys.path`` exactly as it discovers an installed distribution.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import distribution
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import pytest

from scanner.cli import run
from scanner.engine import registry
from scanner.errors import PluginError
from tests.faultproxy import moto_server

REPOSITORY = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "plugin_fixture"
PLUGIN_CHECK = "example.audit_logs_watched"
PLUGIN_ACTION = "logs:DescribeMetricFilters"
"""The one IAM action only the plugin's own collector calls."""
GROUP = "driftscan.checks"


def add_distribution(site: Path, name: str, entry_points: Mapping[str, str]) -> None:
    """What installing a distribution leaves for importlib.metadata to find on ``site``."""
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}")


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The example package, as if installed: its source and its entry points."""
    project = tomllib.loads((FIXTURE / "pyproject.toml").read_text())["project"]
    site = tmp_path_factory.mktemp("site")
    add_distribution(site, project["name"], project["entry-points"][GROUP])
    return [site, FIXTURE]


def driftscan(*args: str, path: Sequence[Path] = (), cwd: Path | None = None) -> Any:
    """``driftscan ARGS`` in a subprocess that finds the distributions on ``path``."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    process = subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in process.stderr, process.stderr
    return process


EACH_COMMAND = """
import contextlib, io, json, sys
from scanner.cli import run
ran = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    ran.append([code, out.getvalue(), err.getvalue()])
json.dump(ran, sys.stdout)
"""


class Ran(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def driftscan_each(*commands: Sequence[str], path: Sequence[Path]) -> list[Ran]:
    """``driftscan COMMAND`` for each of ``commands`` in turn, in one subprocess that finds
    the distributions on ``path``: the first loads the registry as its own process would,
    the others find it loaded (a process each would only repeat Python's start)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    process = subprocess.run(
        [sys.executable, "-c", EACH_COMMAND, json.dumps(commands)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0 and "Traceback" not in process.stderr, process.stderr
    ran = [Ran(*each) for each in json.loads(process.stdout)]
    assert all("Traceback" not in each.stderr for each in ran), ran
    return ran


def test_driftscan_registers_its_own_check_modules_as_entry_points() -> None:
    """A check module missing from pyproject.toml would never be imported: its controls
    would silently not run. The installed distribution must agree (else reinstall)."""
    declared = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"][
        "entry-points"
    ][GROUP]
    modules = {p.stem for p in (REPOSITORY / "checks").glob("*.py") if p.stem != "__init__"}
    assert declared == {module: f"checks.{module}" for module in modules}
    installed = {ep.name: ep.value for ep in distribution("driftscan").entry_points}
    assert {name: installed.get(name) for name in declared} == declared, (
        "the installed driftscan predates pyproject.toml's entry points: pip install -e ."
    )


def test_the_documented_example_is_the_tested_package() -> None:
    guide = (REPOSITORY / "docs" / "adding-a-control.md").read_text()
    assert (FIXTURE / "driftscan_example_plugin" / "checks.py").read_text() in guide
    assert 'example = "driftscan_example_plugin.checks"' in guide


def test_an_install_without_driftscan_s_own_entry_points_refuses_to_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An install older than the entry points (a venv not reinstalled) would otherwise judge
    nothing and report a clean account."""
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    with pytest.raises(PluginError, match=r"controls are not registered.*pip install -e \."):
        registry._load_controls.__wrapped__()  # the cached load already ran in this process


def test_checks_list_and_show_the_plugin_control(
    plugin_path: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["checks", "list"]) == 0  # this process has no plugin
    assert PLUGIN_CHECK not in capsys.readouterr().out
    listed, shown = driftscan_each(
        ["checks", "list"], ["checks", "show", PLUGIN_CHECK], path=plugin_path
    )
    assert listed.returncode == 0, listed.stderr
    assert any(
        line.split()[:3] == [PLUGIN_CHECK, "example", "low"] for line in listed.stdout.splitlines()
    )
    assert shown.returncode == 0, shown.stderr
    assert "name_contains" in shown.stdout and PLUGIN_ACTION in shown.stdout


def test_iam_policy_allows_the_plugin_collectors_actions(
    plugin_path: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["iam-policy"]) == 0  # this process has no plugin
    assert PLUGIN_ACTION not in capsys.readouterr().out
    policy = driftscan("iam-policy", path=plugin_path)
    assert policy.returncode == 0, policy.stderr
    actions = {a for s in json.loads(policy.stdout)["Statement"] for a in s["Action"]}
    assert {PLUGIN_ACTION, "logs:DescribeLogGroups"} <= actions


def test_baseline_schema_and_init_hold_the_plugin_parameters(
    plugin_path: list[Path], tmp_path: Path
) -> None:
    # The schema validates the plugin's parameter like any other.
    (tmp_path / "bad.yaml").write_text(
        f"version: 1\ncontrols:\n  {PLUGIN_CHECK}:\n    name_contains: 7\n"
    )
    schema_printed, written, invalid = driftscan_each(
        ["baseline", "schema"],
        ["baseline", "init", str(tmp_path / "b.yaml")],
        ["baseline", "validate", str(tmp_path / "bad.yaml")],
        path=plugin_path,
    )
    schema = json.loads(schema_printed.stdout)
    control = schema["properties"]["controls"]["properties"][PLUGIN_CHECK]
    assert control["properties"]["name_contains"]["type"] == "string"
    assert written.returncode == 0, written.stderr
    text = (tmp_path / "b.yaml").read_text()
    assert f"  {PLUGIN_CHECK}:\n    enabled: true\n" in text
    assert 'name_contains: "audit"' in text
    assert invalid.returncode == 2 and "name_contains" in invalid.stderr


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto account with two audit log groups, one watched by a metric filter."""
    with moto_server() as url:
        client = boto3.client(
            "logs",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="testing",  # module scope: before the per-test credentials
            aws_secret_access_key="testing",
        )
        for name in ("/prod/trail", "/stage/trail", "/prod/app"):
            client.create_log_group(logGroupName=name)
        client.put_metric_filter(
            logGroupName="/prod/trail",
            filterName="root-logins",
            filterPattern='{ $.userIdentity.type = "Root" }',
            metricTransformations=[
                {"metricName": "RootLogins", "metricNamespace": "Audit", "metricValue": "1"}
            ],
        )
        yield url


def test_a_scan_reports_the_plugin_findings_in_every_format(
    plugin_path: list[Path], endpoint: str, tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(f"version: 1\ncontrols:\n  {PLUGIN_CHECK}:\n    name_contains: trail\n")
    scanned = driftscan(
        *("scan", "--endpoint-url", endpoint, "--region", "us-east-1"),
        *("--baseline", str(baseline), "--checks", PLUGIN_CHECK, "--format", "json"),
        path=plugin_path,
    )
    assert scanned.returncode == 0, scanned.stderr  # a low FAIL is below --fail-on high
    findings = json.loads(scanned.stdout)["findings"]
    assert {(f["check_id"], f["resource_id"], f["status"]) for f in findings} == {
        (PLUGIN_CHECK, "/prod/trail", "PASS"),
        (PLUGIN_CHECK, "/stage/trail", "FAIL"),
    }
    # Every format, from the recorded scan (export loads the registry as a scan does).
    outputs = {
        output_format: tmp_path / f"export.{output_format}"
        for output_format in ("table", "csv", "ocsf", "asff", "jsonl", "html")
    }
    exports = [["export", "--last", "-f", fmt, "-o", str(out)] for fmt, out in outputs.items()]
    exported = driftscan_each(*exports, path=plugin_path)
    assert [each.returncode for each in exported] == [0] * len(exports), exported
    for output_format, output in outputs.items():
        text = output.read_text()
        assert PLUGIN_CHECK in text and "/stage/trail" in text, output_format
    rows = csv.DictReader(io.StringIO(outputs["csv"].read_text()))
    assert {(row["resource_id"], row["status"]) for row in rows} == {
        ("/prod/trail", "PASS"),
        ("/stage/trail", "FAIL"),
    }


def test_a_plugin_that_cannot_be_imported_stops_driftscan_with_one_line(
    plugin_path: list[Path], tmp_path: Path
) -> None:
    (tmp_path / "broken_plugin.py").write_text("import driftscan_no_such_dependency\n")
    add_distribution(tmp_path, "broken-plugin", {"broken": "broken_plugin"})
    listed = driftscan("checks", "list", path=[tmp_path, *plugin_path])
    assert listed.returncode == 3
    assert listed.stdout == ""
    assert listed.stderr == (
        "driftscan: check plugin broken (broken_plugin, from broken-plugin) cannot be loaded: "
        "ModuleNotFoundError: No module named 'driftscan_no_such_dependency'\n"
    )


DUPLICATE_CHECK = """
@check(id="logs.retention_set", reads=[logs.log_groups], **DECLARATION)
def retention_set(inputs, params):
    return []
"""
SHADOWING_COLLECTOR = """
def fetch_log_groups(scope):
    return []


log_groups = declare(
    "logs.log_groups",
    resource_type="AWS::Logs::LogGroup",
    actions=[],
    fetch="duplicate_plugin:fetch_log_groups",
)


@check(id="shadow.its_own_groups", reads=[log_groups], **DECLARATION)
def its_own_groups(inputs, params):
    return []
"""


@pytest.mark.parametrize(
    ("declarations", "duplicate"),
    [
        (
            DUPLICATE_CHECK,
            "check id logs.retention_set is declared twice: by checks.logs.retention_set "
            "and by duplicate_plugin.retention_set",
        ),
        (
            SHADOWING_COLLECTOR,
            "collector name logs.log_groups is declared twice: by "
            "scanner.engine.collectors.logs.log_groups and by duplicate_plugin.fetch_log_groups",
        ),
    ],
    ids=["check id", "collector name"],
)
def test_a_plugin_redeclaring_a_name_is_refused_naming_both(
    declarations: str, duplicate: str, tmp_path: Path
) -> None:
    """A second control of one id, or a second collector of one name (the inventory's
    memo key: checks would read the other's records), stops every command."""
    (tmp_path / "duplicate_plugin.py").write_text(
        "from scanner.engine.records import logs\n"
        "from scanner.engine.compliance import Compliance\n"
        "from scanner.engine.inventory import declare\n"
        "from scanner.model import Severity\n"
        "from scanner.engine.registry import check\n"
        "DECLARATION = dict(severity=Severity.LOW, title='t', description='d', "
        "remediation='r', compliance=Compliance.none('a test'))\n" + declarations
    )
    add_distribution(tmp_path, "duplicate-plugin", {"duplicate": "duplicate_plugin"})
    scanned = driftscan("scan", "--demo", "--no-history", path=[tmp_path])
    assert scanned.returncode == 3
    plugin = "check plugin duplicate (duplicate_plugin, from duplicate-plugin)"
    assert scanned.stderr == f"driftscan: {plugin}: {duplicate}\n"
