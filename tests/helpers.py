"""Run controls against a moto account and assert whole findings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.awsrequest import AWSResponse

from scanner.demo.base import DemoAccount
from scanner.engine.inventory import Scope
from scanner.engine.registry import get_check
from scanner.engine.runner import ScanPlan, run_scan
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, ScanResult, Status


def scan(
    account: DemoAccount,
    *check_ids: str,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    scope: Scope | None = None,
    session: AwsSession | None = None,
    workers: int = 4,
) -> ScanResult:
    """Scan the account's region with the given controls (defaults overlaid by ``params``).

    Pass ``workers=1`` with a botocore Stubber: its responses are consumed in call order.
    """
    specs = tuple(get_check(check_id) for check_id in check_ids)
    plan = ScanPlan(
        checks=specs,
        params={s.id: {**s.defaults(), **(params or {}).get(s.id, {})} for s in specs},
        regions=(account.region,),
        scope=scope or Scope(),
        workers=workers,
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


def fail_operation(
    session: AwsSession,
    service: str,
    operation: str,
    *,
    code: str = "AccessDeniedException",
    status: int = 400,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> None:
    """Make calls of ``service:operation`` fail (all, or those whose API params match ``when``).

    moto simulates no faults: a ``before-call`` handler answers instead of the endpoint.
    ``service`` is the botocore event name (``kms``, ``efs``, ``elasticache``...).
    """
    events = session.boto_session.events

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["driftscan_test_params"] = dict(params)

    def answer(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if when is not None and not when(context.get("driftscan_test_params", {})):
            return None
        response = AWSResponse("https://injected.invalid", status, {}, None)
        return response, {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    events.register(f"before-parameter-build.{service}.{operation}", remember)
    events.register(f"before-call.{service}.{operation}", answer)
