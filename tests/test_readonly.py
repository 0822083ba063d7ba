"""The scanner only reads: every API call of a full demo scan is Describe/List/Get-style,
is covered by the generated IAM policy, and no secret value is ever read."""

from __future__ import annotations

import re

from scanner.app.config import build_plan, parse_baseline
from scanner.app.iam_policy import required_actions
from scanner.demo.base import DemoAccount
from scanner.demo.stack import DEMO_BASELINE, build_demo
from scanner.engine.registry import all_checks
from scanner.engine.runner import run_scan
from scanner.engine.session import (
    ATTRIBUTION_OPERATIONS,
    SCANNED_SERVICES,
    AwsSession,
    SessionOptions,
    is_scanner_operation,
)

READ_ONLY = re.compile(r"^(Describe|List|Get)[A-Z]")
ATTRIBUTION_READS = {"cloudtrail": ["LookupEvents"]}
"""Named here, not taken from the code: the one non-Describe/List/Get read attribution makes."""


def test_full_scan_calls_only_read_operations_covered_by_the_policy(
    account: DemoAccount,
) -> None:
    build_demo(account)
    session = AwsSession(SessionOptions())
    plan = build_plan(parse_baseline(DEMO_BASELINE), regions=[account.region])
    # Every control but cloudformation.stack_drift: off unless enabled, it calls DetectStackDrift.
    assert {spec.id for spec in plan.checks} == {spec.id for spec in all_checks()} - {
        "cloudformation.stack_drift"
    }

    services: set[str] = set()
    session.boto_session.events.register(
        "before-call.*.*", lambda model, **_: services.add(model.service_model.service_name)
    )
    run_scan(plan, session)

    # Every service the collectors read gets a read-only model (less memory, no writes).
    assert services - {"sts"} == SCANNED_SERVICES
    operations = session.requests.operations()
    assert "GetSecretValue" not in operations
    assert all(READ_ONLY.match(operation) for operation in operations), sorted(operations)
    uncovered = session.requests.actions() - set(required_actions(plan.checks))
    assert uncovered == {"sts:GetCallerIdentity"}  # needs no IAM permission


def test_scanner_clients_cannot_write_or_read_a_secret_value() -> None:
    session = AwsSession(SessionOptions())
    for service in sorted(SCANNED_SERVICES):
        operations = session.client(service, "us-east-1").meta.service_model.operation_names
        assert operations and all(is_scanner_operation(name) for name in operations), service
        assert all(READ_ONLY.match(name) or name == "DetectStackDrift" for name in operations)
    assert not hasattr(session.client("secretsmanager", "us-east-1"), "get_secret_value")
    assert not hasattr(session.client("ec2", "us-east-1"), "run_instances")
    assert not hasattr(session.client("kms", "us-east-1"), "schedule_key_deletion")


def test_attribution_clients_have_only_lookup_events() -> None:
    session = AwsSession(SessionOptions())
    assert {service: sorted(ops) for service, ops in ATTRIBUTION_OPERATIONS.items()} == (
        ATTRIBUTION_READS
    )
    cloudtrail = session.client("cloudtrail", "us-east-1")
    assert cloudtrail.meta.service_model.operation_names == ["LookupEvents"]
    assert not hasattr(cloudtrail, "stop_logging")
    assert not hasattr(cloudtrail, "describe_trails")
