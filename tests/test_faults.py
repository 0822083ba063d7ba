"""Injected AWS faults through a real network hop: `driftscan scan` -> fault proxy -> moto.

Transient faults are retried to the very findings of a fault-free scan; persistent faults
and denied permissions become ERROR findings for exactly what they hide, every other service
is still judged, and a hung endpoint cannot hang the scan.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

import scanner.engine.session
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.stack import baseline_for, build_reference_stack
from scanner.engine.inventory import Collector, Inventory, RegionScope, Scope
from scanner.engine.registry import get_check
from scanner.engine.session import AwsSession
from scanner.model import ReadError
from tests.faultproxy import Fault, FaultProxy, moto_server, running

SERVICES = "kms,ec2,vpc,efs,elasticache,logs"
"""One or more services of each protocol: JSON (kms, logs), EC2, query, REST (efs)."""

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class Stack:
    server: str
    """The moto server's URL."""
    baseline: Path
    reference: dict[str, Any]
    """The fault-free scan's JSON document."""
    vpc_id: str


_stacks: dict[str, Stack] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def stack(server: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The broken reference stack (PASS and FAIL findings) on the moto server, its baseline
    and fault-free scan. Built once, and again when another test in this process has reset
    moto's backends (in-process mock_aws and every moto server share them)."""
    cached = _stacks.get(server)
    ec2 = DemoAccount(endpoint_url=server).client("ec2")
    if cached is None or not ec2.describe_vpcs(Filters=[vpc_filter(cached.vpc_id)])["Vpcs"]:
        reset = urllib.request.Request(f"{server}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset).close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto's CloudFormation warns about unmodelled types
            build_reference_stack(DemoAccount(endpoint_url=server), compliant=False, env="stage")
        baseline = tmp_path_factory.mktemp("faults") / "baseline.yaml"
        baseline.write_text(baseline_for(["stage"]))
        with running(server) as (_, url):
            code, reference, _ = scan(url, baseline)
        assert code == 1  # the broken stack fails high-severity controls
        [vpc] = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["stage-vpc"]}])["Vpcs"]
        _stacks[server] = cached = Stack(server, baseline, reference, vpc["VpcId"])
    return cached


def vpc_filter(vpc_id: str) -> dict[str, Any]:
    return {"Name": "vpc-id", "Values": [vpc_id]}


@pytest.fixture
def proxy(stack: Stack) -> Iterator[tuple[FaultProxy, str]]:
    with running(stack.server) as started:
        yield started


@pytest.fixture(autouse=True)
def _own_log_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs configure logging on this test's captured stderr, not on a stream an
    earlier test closed."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])


@pytest.fixture
def fast_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Client timeouts of half a second, so a held request costs a second, not minutes."""
    monkeypatch.setattr(scanner.engine.session, "DEFAULT_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(scanner.engine.session, "CONNECT_TIMEOUT_SECONDS", 0.5)


def scan(
    url: str, baseline: Path, *args: str, capsys: pytest.CaptureFixture[str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """`driftscan scan` through ``url``: exit code, JSON document, stderr."""
    out = baseline.parent / f"out-{time.monotonic_ns()}.json"
    if capsys is not None:
        capsys.readouterr()
    code = run(
        [
            "scan", "--endpoint-url", url, "--region", "us-east-1", "--no-history",
            "--baseline", str(baseline), "--services", SERVICES,
            "--format", "json", "--output", str(out), *args,
        ]
    )  # fmt: skip
    stderr = capsys.readouterr().err if capsys is not None else ""
    assert "Traceback" not in stderr
    return code, json.loads(out.read_text()), stderr


def keys(document: dict[str, Any], *, checks: set[str] | None = None) -> list[Key]:
    return sorted(
        (f["check_id"], f["resource_id"], f["status"], f["message"])
        for f in document["findings"]
        if checks is None or f["check_id"] in checks
    )


def affected_checks(document: dict[str, Any], action: str) -> set[str]:
    """The scanned controls that read ``action``."""
    return {
        check_id
        for check_id in {f["check_id"] for f in document["findings"]}
        if action in get_check(check_id).actions
    }


TRANSIENT = [
    ("ListKeys", Fault.THROTTLING, 2),  # JSON
    ("ListKeys", Fault.HTML_OK, 1),  # then a page, status 200: not an empty listing
    ("GetKeyRotationStatus", Fault.CONNECTION_RESET, 2),  # JSON, per resource
    ("DescribeVpcs", Fault.REQUEST_LIMIT_EXCEEDED, 2),  # EC2 XML
    ("DescribeSubnets", Fault.INTERNAL_ERROR, 1),
    ("DescribeReplicationGroups", Fault.SERVICE_UNAVAILABLE, 2),  # query XML
    ("GET /2015-02-01/file-systems", Fault.TOO_MANY_REQUESTS, 2),  # REST
    ("DescribeLogGroups", Fault.HANG, 1),  # slower than the read timeout
    ("DescribeSecurityGroups", Fault.HTML_BAD_GATEWAY, 2),  # a proxy's page, not XML
    ("DescribeNatGateways", Fault.TRUNCATED, 1),
    ("ListAliases", Fault.DRIP, 1),  # a byte every 1.5 s: slower than the timeout in all
]


def inject_transient(proxy: FaultProxy) -> None:
    for operation, fault, times in TRANSIENT:
        proxy.add(operation, fault, times=times, hold=1.5)


def test_transient_faults_are_retried_to_the_findings_of_a_fault_free_scan(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    fast_timeouts: None,
) -> None:
    faults, url = proxy
    inject_transient(faults)

    code, document, _ = scan(url, stack.baseline)

    assert [rule.fired for rule in faults.rules] == [times for _, _, times in TRANSIENT]
    assert keys(document) == keys(stack.reference)
    assert document["summary"]["complete"] is True
    assert code == 1


def test_without_retries_the_same_faults_become_errors(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    fast_timeouts: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The test above proves retries: with one attempt per request it would fail."""
    monkeypatch.setattr(scanner.engine.session, "MAX_ATTEMPTS", 1)
    faults, url = proxy
    inject_transient(faults)

    _, document, _ = scan(url, stack.baseline)

    assert keys(document) != keys(stack.reference)
    assert document["summary"]["complete"] is False


@pytest.mark.parametrize(
    ("operation", "action", "fault"),
    [
        ("DescribeReplicationGroups", "elasticache:DescribeReplicationGroups", Fault.THROTTLING),
        ("GET /2015-02-01/file-systems", "elasticfilesystem:DescribeFileSystems",
         Fault.INTERNAL_ERROR),
        ("DescribeLogGroups", "logs:DescribeLogGroups", Fault.SERVICE_UNAVAILABLE),
    ],
)  # fmt: skip
def test_a_persistent_fault_errors_exactly_the_controls_it_hides(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    operation: str,
    action: str,
    fault: Fault,
) -> None:
    monkeypatch.setattr(scanner.engine.session, "MAX_ATTEMPTS", 2)  # the backoff of 8 takes minutes
    faults, url = proxy
    faults.add(operation, fault)

    code, document, stderr = scan(url, stack.baseline, "--fail-on", "never", capsys=capsys)

    assert_hidden(document, stack.reference, action, fault.code)
    assert document["summary"]["complete"] is False
    assert "the scan is incomplete" in stderr
    assert code == 4


def assert_hidden(
    document: dict[str, Any], reference: dict[str, Any], action: str, code: str
) -> None:
    """Every control that reads ``action`` says ERROR with the code and the action; its own
    service's controls judge nothing else; what the others still judge, and every other
    control, is what the fault-free scan found."""
    hidden = affected_checks(reference, action)
    service = {"elasticfilesystem": "efs"}.get(action.split(":")[0], action.split(":")[0])
    assert any(get_check(check_id).service == service for check_id in hidden)
    before = set(keys(reference))
    for check_id in hidden:
        found = [f for f in document["findings"] if f["check_id"] == check_id]
        errors = [f for f in found if f["status"] == "ERROR"]
        assert errors, check_id
        assert all(code in f["message"] and action in f["message"] for f in errors), errors
        if get_check(check_id).service == service:
            assert errors == found
        judged = set(keys({"findings": found})) - set(keys({"findings": errors}))
        assert judged <= before, judged - before
    others = {f["check_id"] for f in reference["findings"]} - hidden
    assert keys(document, checks=others) == keys(reference, checks=others)


def test_a_persistent_fault_on_one_resource_errors_only_that_resource(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scanner.engine.session, "MAX_ATTEMPTS", 2)
    faults, url = proxy
    backup = "GET /2015-02-01/file-systems/*/backup-policy"
    faults.add(backup, Fault.THROTTLING)

    code, document, _ = scan(url, stack.baseline)

    check = "efs.backup_policy_enabled"
    before = {f["resource_id"]: f for f in stack.reference["findings"] if f["check_id"] == check}
    after = {f["resource_id"]: f for f in document["findings"] if f["check_id"] == check}
    assert set(after) == set(before) and "*" not in after  # one finding per file system
    assert {f["status"] for f in after.values()} == {"ERROR"}
    assert all("ThrottlingException" in f["message"] for f in after.values())
    others = {f["check_id"] for f in stack.reference["findings"]} - {check}
    assert keys(document, checks=others) == keys(stack.reference, checks=others)
    assert code == 1  # high-severity failures elsewhere reach --fail-on high


def test_a_hung_endpoint_cannot_hang_the_scan(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scanner.engine.session, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(scanner.engine.session, "CONNECT_TIMEOUT_SECONDS", 1)
    faults, url = proxy
    faults.add("DescribeLogGroups", Fault.HANG, hold=30)

    started = time.monotonic()
    code, document, _ = scan(url, stack.baseline, "--fail-on", "never", "--timeout", "1")
    elapsed = time.monotonic() - started

    # Two attempts of 1 s connect + 1 s answer plus one backoff (at most 1 s): the bound
    # worst_case_seconds computes, plus the scan itself.
    assert scanner.engine.session.worst_case_seconds(1, 2) == 5
    assert elapsed < 12, elapsed
    hung = [f for f in document["findings"] if f["service"] == "logs"]
    assert hung and {f["status"] for f in hung} == {"ERROR"}
    assert all("ReadTimeoutError" in f["message"] for f in hung)
    assert faults.rules[0].fired >= 2  # retried, then given up
    assert code == 4


def test_a_dripping_answer_ends_at_the_timeout(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    fast_timeouts: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A byte every 0.15 s never trips a read timeout of 0.5 s (fast_timeouts: --timeout
    allows no less than 1 s; the test above passes it): the answer's deadline does."""
    monkeypatch.setattr(scanner.engine.session, "MAX_ATTEMPTS", 2)
    faults, url = proxy
    faults.add("DescribeLogGroups", Fault.DRIP, hold=0.15)

    started = time.monotonic()
    code, document, _ = scan(url, stack.baseline, "--fail-on", "never")
    elapsed = time.monotonic() - started

    assert elapsed < 12, elapsed  # the drip alone lasts 2 x 30 s
    dripped = [f for f in document["findings"] if f["service"] == "logs"]
    assert dripped and {f["status"] for f in dripped} == {"ERROR"}
    assert all("ReadTimeoutError" in f["message"] for f in dripped)
    assert faults.rules[0].fired >= 2
    assert code == 4


def test_an_endpoint_that_never_answers_sts_exits_3_in_seconds(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    fast_timeouts: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults, url = proxy
    faults.add("GetCallerIdentity", Fault.HANG, hold=30)
    capsys.readouterr()

    started = time.monotonic()
    code = run(["scan", "--endpoint-url", url, "-r", "us-east-1", "--no-history", "-s", "kms"])

    assert time.monotonic() - started < 8
    assert faults.rules[0].fired == scanner.engine.session.STS_ATTEMPTS
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("driftscan: AWS endpoint unreachable"), lines
    assert code == 3


def test_access_denied_names_the_missing_actions(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults, url = proxy
    faults.add("DescribeReplicationGroups", Fault.ACCESS_DENIED)
    faults.add("DescribeNatGateways", Fault.UNAUTHORIZED_OPERATION)

    code, document, stderr = scan(url, stack.baseline, capsys=capsys)

    missing = ["ec2:DescribeNatGateways", "elasticache:DescribeReplicationGroups"]
    denied = [f for f in document["findings"] if f["status"] == "ERROR"]
    assert {f["check_id"] for f in denied} == {
        check_id for action in missing for check_id in affected_checks(stack.reference, action)
    }
    assert all(any(action in f["message"] for action in missing) for f in denied), denied
    assert f"driftscan: missing IAM permissions: {', '.join(missing)}" in stderr.splitlines()
    assert code == 1


@pytest.mark.parametrize(
    ("operation", "action", "fault", "said"),
    [
        ("DescribeSecurityGroups", "ec2:DescribeSecurityGroups", Fault.HTML_BAD_GATEWAY,
         "HTTP 502"),
        ("DescribeSecurityGroups", "ec2:DescribeSecurityGroups", Fault.TRUNCATED, "cut short"),
        ("DescribeLogGroups", "logs:DescribeLogGroups", Fault.HTML_OK, "HTTP 200"),
    ],
)  # fmt: skip
def test_an_answer_that_is_not_the_services_errors_exactly_the_controls_it_hides(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    operation: str,
    action: str,
    fault: Fault,
    said: str,
) -> None:
    """A proxy's HTML page or a cut body is retried, then ERROR: never an aborted scan, and
    never the page in a message or on stderr."""
    monkeypatch.setattr(scanner.engine.session, "MAX_ATTEMPTS", 2)
    faults, url = proxy
    faults.add(operation, fault)

    code, document, stderr = scan(url, stack.baseline, "--fail-on", "never", capsys=capsys)

    assert faults.rules[0].fired >= 2  # retried
    assert_hidden(document, stack.reference, action, said)
    errors = [f for f in document["findings"] if f["status"] == "ERROR"]
    assert all(len(f["message"]) < 400 and "\n" not in f["message"] for f in errors), errors
    assert "<h1>" not in stderr and "padding" not in stderr and "internal error" not in stderr
    assert code == 4


def test_drift_detection_moto_answers_with_an_html_500_is_error_and_the_rest_is_judged(
    proxy: tuple[FaultProxy, str],
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """moto has no DetectStackDrift: its server answers HTTP 500 with an HTML page."""
    monkeypatch.setattr(scanner.engine.session, "MAX_ATTEMPTS", 2)
    _, url = proxy

    code, document, stderr = scan(
        url,
        stack.baseline,
        "--services",
        "cloudformation",
        "--cfn-drift",
        "--fail-on",
        "never",
        capsys=capsys,
    )

    by_check: dict[str, set[str]] = {}
    for finding in document["findings"]:
        by_check.setdefault(finding["check_id"], set()).add(finding["status"])
    assert by_check.pop("cloudformation.stack_drift") == {"ERROR"}
    assert by_check and all("ERROR" not in statuses for statuses in by_check.values())
    drift = [f for f in document["findings"] if f["check_id"] == "cloudformation.stack_drift"]
    assert all("HTTP 500" in f["message"] and len(f["message"]) < 400 for f in drift), drift
    assert "internal error" not in stderr
    assert code == 4


def test_a_bug_in_a_collector_is_an_error_finding_with_its_type() -> None:
    def broken(scope: RegionScope) -> list[Any]:
        raw: dict[str, Any] = {}
        return [raw["missing"]]

    source: Collector[list[Any]] = Collector(
        name="test.broken", resource_type="AWS::Test::Thing", actions=(), fetch=broken
    )
    inventory = Inventory(
        cast(AwsSession, None), account_id="123456789012", region="us-east-1", scope=Scope()
    )

    error = inventory.try_get(source)

    assert isinstance(error, ReadError)
    assert (error.code, error.detail) == ("InternalError", "KeyError: 'missing'")
    assert inventory.try_get(source) is error  # memoised like any failed collector


def test_readme_states_the_worst_case_the_session_allows() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for timeout in (30, 10, 5):
        seconds = scanner.engine.session.worst_case_seconds(timeout)
        assert f"8 × {5 + timeout} + 71 = {seconds:g} s" in readme
        first = scanner.engine.session.worst_case_seconds(
            timeout, scanner.engine.session.STS_ATTEMPTS
        )
        assert f"2 × {5 + timeout} + 1 = {first:g} s" in readme


class _OldUrllib3Body:
    """A urllib3 < 2.1 response body (no read1) whose connection broke mid-body."""

    connection = None

    def read(self) -> bytes:
        import urllib3.exceptions

        raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(1573 bytes read)")


def test_a_body_cut_short_under_old_urllib3_is_a_retryable_connection_error() -> None:
    """The lowest urllib3 that botocore 1.34 allows has no read1: a cut body must still be
    botocore's retryable ConnectionClosedError, not a crash of the collector."""
    import botocore.exceptions

    session = object.__new__(scanner.engine.session._BoundedHttpSession)
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        session._read_body(_OldUrllib3Body(), time.monotonic() + 5, "https://rds.example")
