"""Run controls against a moto account and assert whole findings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.demo.base import DemoAccount
from scanner.inventory import Scope
from scanner.model import Finding, ScanResult, Status
from scanner.registry import get_check
from scanner.runner import ScanPlan, run_scan
from scanner.session import AwsSession, SessionOptions


def scan(
    account: DemoAccount,
    *check_ids: str,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    scope: Scope | None = None,
    session: AwsSession | None = None,
) -> ScanResult:
    """Scan the account's region with the given controls (defaults overlaid by ``params``)."""
    specs = tuple(get_check(check_id) for check_id in check_ids)
    plan = ScanPlan(
        checks=specs,
        params={s.id: {**s.defaults(), **(params or {}).get(s.id, {})} for s in specs},
        regions=(account.region,),
        scope=scope or Scope(),
    )
    return run_scan(plan, session or AwsSession(SessionOptions()))


def findings_of(account: DemoAccount, check_id: str, **params: Any) -> dict[str, Finding]:
    """The findings of one control, by resource id (a duplicate resource id fails the test)."""
    result = scan(account, check_id, params={check_id: params})
    found: dict[str, Finding] = {}
    for finding in result.findings:
        assert finding.resource_id not in found, f"two findings for {finding.resource_id}"
        found[finding.resource_id] = finding
    return found


def expect(found: Mapping[str, Finding], expected: Mapping[str, tuple[Status, str]]) -> None:
    """Exactly these resources were judged, each with this status and message fragment."""
    actual = {rid: (f.status, f.message) for rid, f in found.items()}
    assert set(actual) == set(expected), f"judged {sorted(actual)}, expected {sorted(expected)}"
    for rid, (status, fragment) in expected.items():
        got_status, message = actual[rid]
        assert got_status is status, f"{rid}: {got_status} ({message}), expected {status}"
        assert fragment in message, f"{rid}: {message!r} lacks {fragment!r}"
