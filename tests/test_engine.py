"""The engine's contract with checks: a check judges prefetched plain records and never
performs I/O; the engine reports unreadable evidence; a crashing check is one ERROR finding
and the scan goes on."""

from __future__ import annotations

import ast
import logging
import socket
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest

from scanner.app.config import build_plan, parse_baseline
from scanner.demo.base import DemoAccount
from scanner.demo.stack import DEMO_BASELINE, build_demo
from scanner.engine.collectors import cloudformation as cloudformation_fetch
from scanner.engine.inventory import CheckInputs, Collector, Inventory, RegionScope, Scope
from scanner.engine.registry import REGISTRY, CheckSpec, all_checks, check
from scanner.engine.runner import CRASH_CODE, ScanPlan, run_scan
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Outcome, ReadError, ResourceRef, Severity, Status, UnreadableResource

CHECKS = Path(__file__).resolve().parent.parent / "checks"


def test_every_check_judges_prefetched_records_with_the_network_blocked(
    account: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo scan's prefetch, then no network at all, then every registered check: none
    attempts a request (botocore's or a socket's), and every one judges something."""
    build_demo(account)
    monkeypatch.setattr(cloudformation_fetch, "POLL_SECONDS", 0)
    baseline = parse_baseline(DEMO_BASELINE)
    params = build_plan(baseline, regions=[account.region]).params
    specs = all_checks()
    inventory = Inventory(
        AwsSession(SessionOptions()),
        account_id=account.account_id,
        region=account.region,
        scope=Scope(read_tags=True),
    )
    for spec in specs:
        for source in spec.reads:
            inventory.try_get(source)

    attempts: list[str] = []

    def blocked(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[1:])[:200])
        raise AssertionError("a check attempted I/O")

    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", blocked)
    monkeypatch.setattr(socket.socket, "connect", blocked)
    judged: dict[str, list[Outcome]] = {}
    for spec in specs:
        inputs = CheckInputs(inventory, spec.reads, spec.independent)
        checked = {**spec.defaults(), "detect": True, **params.get(spec.id, {})}
        judged[spec.id] = [*inputs.unreadable, *spec.function(inputs, checked)]

    assert attempts == []
    silent = [check_id for check_id, outcomes in judged.items() if not outcomes]
    assert silent == [], "every check judges the demo account"


ALLOWED_IMPORTS = (
    "__future__",
    "collections.abc",
    "dataclasses",
    "typing",
    "fnmatch",
    "json",
    "re",
    "checks",
    "scanner.engine.records",
    "scanner.engine.compliance",
    "scanner.engine.inventory",
    "scanner.model",
    "scanner.engine.registry",
    "scanner.textsafe",
    "scanner.engine.windows",
)
"""What a check module may import: records, the engine's declarations, pure helpers."""


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


def test_check_modules_import_records_and_declarations_only() -> None:
    """No check module imports boto3, botocore or a collector module's fetching code."""
    outside = {
        f"{path.name}: {module}"
        for path in CHECKS.glob("*.py")
        for module in _imports(path)
        if not any(
            module == allowed or module.startswith(f"{allowed}.") for allowed in ALLOWED_IMPORTS
        )
    }
    assert outside == set()


def _body_lines(function: ast.FunctionDef) -> int:
    """Lines of a function's body, its docstring left out."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return (body[-1].end_lineno or 0) - body[0].lineno + 1 if body else 0


def check_body_lines() -> dict[str, int]:
    """Body lines of every ``@check`` function, by function name."""
    lines = {}
    for path in CHECKS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", "") == "check"
                for d in node.decorator_list
            ):
                lines[f"{path.stem}.{node.name}"] = _body_lines(node)
    return lines


def test_median_check_body_is_short() -> None:
    """Checks judge readable records, so a body holds the judgement and little else."""
    lines = check_body_lines()
    assert len(lines) == len(all_checks())
    assert statistics.median(lines.values()) <= 15, sorted(lines.items(), key=lambda kv: kv[1])


def test_only_checks_that_declare_partial_evidence_see_read_errors() -> None:
    """A check names ReadError or UnreadableResource only if it judges partial evidence."""
    specs = {f"{spec.function.__module__}.{spec.function.__name__}": spec for spec in all_checks()}
    naming = set()
    for path in CHECKS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and f"checks.{path.stem}.{node.name}" in specs:
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                if names & {"ReadError", "UnreadableResource"}:
                    naming.add(f"checks.{path.stem}.{node.name}")
    undeclared = {name for name in naming if not specs[name].partial_evidence}
    assert undeclared == set()


# --- the engine reports unreadable evidence ------------------------------------------------

DENIED = ReadError(code="AccessDeniedException", action="test:List")


def _ref(name: str) -> ResourceRef:
    return ResourceRef(type="Test::Thing", id=name)


class Thing:
    def __init__(self, name: str) -> None:
        self.ref = _ref(name)


def _denied(scope: RegionScope) -> list[Thing]:
    raise scope._inventory.failed(DENIED)


LISTING = Collector(
    name="test.listing",
    resource_type="Test::Thing",
    actions=("test:List",),
    fetch=lambda scope: [Thing("a"), UnreadableResource(ref=_ref("b"), error=DENIED, what="b's x")],
)
DETAILS = Collector(
    name="test.details",
    resource_type="Test::Thing",
    actions=("test:Get",),
    fetch=lambda scope: {
        "a": UnreadableResource(ref=_ref("a"), error=DENIED, what="a's details"),
        "c": 1,
    },
)
DENIED_LISTING = Collector(
    name="test.denied", resource_type="Test::Other", actions=("test:List",), fetch=_denied
)


def _inputs(*reads: Collector[Any], independent: tuple[Collector[Any], ...] = ()) -> CheckInputs:
    inventory = Inventory(
        AwsSession(SessionOptions()), account_id="123456789012", region="us-east-1", scope=Scope()
    )
    return CheckInputs(inventory, reads, independent)


def test_the_engine_reports_unreadable_resources_and_hides_them() -> None:
    inputs = _inputs(LISTING, DETAILS)

    assert inputs.complete
    assert [(o.resource.id, o.status, o.message) for o in inputs.unreadable] == [
        ("b", Status.ERROR, "could not read b's x: AccessDeniedException on test:List"),
        ("a", Status.ERROR, "could not read a's details: AccessDeniedException on test:List"),
    ]
    assert inputs[LISTING] == []  # a: its details are unreadable; b: unreadable itself
    assert inputs[DETAILS] == {"c": 1}


def test_a_failed_collector_is_one_error_and_stops_the_check_unless_independent() -> None:
    required = _inputs(LISTING, DENIED_LISTING)
    alone = _inputs(LISTING, DENIED_LISTING, independent=(DENIED_LISTING,))

    assert not required.complete
    assert alone.complete and alone[DENIED_LISTING] == []
    for inputs in (required, alone):
        [error] = [o for o in inputs.unreadable if o.resource.id == "*"]
        assert (error.resource.type, error.message) == (
            "Test::Other",
            "could not read test.denied: AccessDeniedException on test:List",
        )


# --- a crashing check ----------------------------------------------------------------------


@pytest.fixture
def crashing_check() -> Iterator[CheckSpec]:
    @check(
        id="test.crashes",
        severity=Severity.LOW,
        title="crashes",
        description="raises after judging one record",
        remediation="none",
        reads=[],
        compliance=REGISTRY["kms.cmk_rotation_enabled"].compliance,
    )
    def crashes(inputs: CheckInputs, params: Any) -> Iterator[Outcome]:
        yield Outcome(status=Status.PASS, resource=_ref("judged"), message="judged")
        raise KeyError("secret-looking detail")

    try:
        yield REGISTRY["test.crashes"]
    finally:
        del REGISTRY["test.crashes"]


def test_a_crashing_check_is_one_error_and_the_scan_goes_on(
    account: DemoAccount, crashing_check: CheckSpec, caplog: pytest.LogCaptureFixture
) -> None:
    build_demo(account)
    rotation = REGISTRY["kms.cmk_rotation_enabled"]
    plan = ScanPlan(
        checks=(crashing_check, rotation),
        params={crashing_check.id: {}, rotation.id: {}},
        regions=(account.region,),
    )

    with caplog.at_level(logging.INFO):
        result = run_scan(plan, AwsSession(SessionOptions()))

    [crash] = [f for f in result.findings if f.check_id == crashing_check.id]
    assert (crash.status, crash.resource_id, crash.evidence) == (
        Status.ERROR,
        "*",
        {"error_code": CRASH_CODE},
    )
    assert crash.message == "internal error in check: KeyError: 'secret-looking detail'"
    assert {f.status for f in result.findings if f.check_id == rotation.id} >= {Status.PASS}
    assert "Traceback" not in caplog.text  # the traceback is for debug logging only


def test_independent_collectors_must_be_read() -> None:
    with pytest.raises(ValueError, match="independent= names a collector missing from reads="):
        check(
            id="test.misdeclared",
            severity=Severity.LOW,
            title="misdeclared",
            description="declares an independent collector it does not read",
            remediation="none",
            reads=[LISTING],
            independent=[DETAILS],
            compliance=REGISTRY["kms.cmk_rotation_enabled"].compliance,
        )
