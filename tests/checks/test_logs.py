"""logs.retention_set."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.demo.base import DemoAccount
from scanner.demo.logs import make_log_group, reference_log_group_names, reference_logs
from scanner.engine.inventory import Scope
from scanner.engine.records import logs
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Status
from tests.checks.judge import by_resource, denied, judge
from tests.factories import log_group
from tests.helpers import expect, fail_operation, findings_of, scan

RETENTION = "logs.retention_set"


GROUPS = [
    log_group("/ecs/app", retention_days=30),
    log_group("/ecs/worker", retention_days=90),
    log_group("/aws/lambda/job", retention_days=7),
    log_group("/aws/apigateway/access", retention_days=None),
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            {
                "/ecs/app": (Status.PASS, "log group /ecs/app keeps events 30 days (baseline 30)"),
                "/ecs/worker": (Status.PASS, "keeps events 90 days"),
                "/aws/lambda/job": (Status.FAIL, "keeps events 7 days, below the baseline's 30"),
                "/aws/apigateway/access": (
                    Status.FAIL,
                    "has no retention policy (events never expire)",
                ),
            },
        ),
        (
            {"min_days": 60},
            {
                "/ecs/app": (Status.FAIL, "30 days, below the baseline's 60"),
                "/ecs/worker": (Status.PASS, "(baseline 60)"),
                "/aws/lambda/job": (Status.FAIL, "7 days"),
                "/aws/apigateway/access": (Status.FAIL, "never expire"),
            },
        ),
    ],
)
def test_retention_set(params: Any, expected: Any) -> None:
    expect(by_resource(judge(RETENTION, {logs.log_groups: GROUPS}, **params)), expected)


def test_describe_denied_is_one_error_for_the_region() -> None:
    found = judge(RETENTION, {logs.log_groups: denied("logs:DescribeLogGroups")})
    expect(
        by_resource(found),
        {"*": (Status.ERROR, "could not read logs.log_groups: AccessDeniedException")},
    )


# --- moto: what the collector reads ---------------------------------------------------------


def test_tags_denied_is_error_for_that_group_only(account: DemoAccount) -> None:
    readable = make_log_group(account, name="/ecs/prod-app", tags={"env": "prod"})
    denied = make_log_group(account, name="/ecs/prod-worker", tags={"env": "prod"})
    make_log_group(account, name="/ecs/stage-app", tags={"env": "stage"})  # out of scope
    session = AwsSession(SessionOptions())
    fail_operation(
        session,
        "cloudwatch-logs",
        "ListTagsForResource",
        when=lambda params: params["resourceArn"].endswith(denied),
    )

    result = scan(account, "logs.retention_set", scope=Scope(tags={"env": "prod"}), session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {
            readable: (Status.PASS, "keeps events 30 days"),
            denied: (Status.ERROR, "AccessDeniedException on logs:ListTagsForResource"),
        },
    )


def test_reference_stack(account: DemoAccount) -> None:
    reference_logs(account, compliant=True, prefix="prod")
    reference_logs(account, compliant=False, prefix="stage")
    prod_app, prod_access = reference_log_group_names("prod")
    stage_app, stage_access = reference_log_group_names("stage")

    expect(
        findings_of(account, "logs.retention_set"),
        {
            prod_app: (Status.PASS, "30 days"),
            prod_access: (Status.PASS, "90 days"),
            stage_app: (Status.FAIL, "never expire"),
            stage_access: (Status.FAIL, "7 days"),
        },
    )
