"""`driftscan scan --endpoint-url` in a subprocess against a moto server holding the
reference stack: all PASS when compliant, a FAIL for every control when broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scanner.demo.base import DemoAccount
from scanner.demo.stack import BROKEN_ENV, COMPLIANT_ENV, baseline_for, build_reference_stack
from scanner.engine.registry import all_checks
from tests.faultproxy import moto_server

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "reports" / "schemas" / "findings.schema.json").read_text()
)
OFF_UNLESS_ENABLED = {"cloudformation.stack_drift"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def scan_stack(endpoint: str, tmp_path: Path, *, compliant: bool) -> tuple[int, dict[str, Any]]:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto's CloudFormation warns about unmodelled types
        env = COMPLIANT_ENV if compliant else BROKEN_ENV
        build_reference_stack(DemoAccount(endpoint_url=endpoint), compliant=compliant, env=env)
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(baseline_for([env]))
    out = tmp_path / "out.json"
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--baseline",
            str(baseline),
            "--format",
            "json",
            "--output",
            str(out),
            "--no-history",
        ],
        env={**os.environ, **credentials},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert "Traceback" not in process.stderr, process.stderr
    document = json.loads(out.read_text())
    jsonschema.validate(document, SCHEMA)
    return process.returncode, document


def statuses_by_check(document: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in document["findings"]:
        found.setdefault(finding["check_id"], set()).add(finding["status"])
    return found


def test_compliant_stack_passes_every_control(endpoint: str, tmp_path: Path) -> None:
    code, document = scan_stack(endpoint, tmp_path, compliant=True)

    expected = {spec.id for spec in all_checks()} - OFF_UNLESS_ENABLED
    assert statuses_by_check(document) == {check_id: {"PASS"} for check_id in expected}
    assert code == 0


def test_broken_stack_fails_every_control(endpoint: str, tmp_path: Path) -> None:
    code, document = scan_stack(endpoint, tmp_path, compliant=False)

    by_check = statuses_by_check(document)
    expected = {spec.id for spec in all_checks()} - OFF_UNLESS_ENABLED
    assert set(by_check) == expected
    assert {check_id for check_id, statuses in by_check.items() if "FAIL" not in statuses} == set()
    assert all("ERROR" not in statuses for statuses in by_check.values()), by_check
    assert code == 1
