"""logs.retention_set."""

from __future__ import annotations

from scanner.demo.base import DemoAccount
from scanner.demo.logs import make_log_group, reference_log_group_names, reference_logs
from scanner.engine.inventory import Scope
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Status
from tests.helpers import expect, fail_operation, findings_of, scan


def test_retention_set(account: DemoAccount) -> None:
    month = make_log_group(account, name="/ecs/app", retention_days=30)
    quarter = make_log_group(account, name="/ecs/worker", retention_days=90)
    week = make_log_group(account, name="/aws/lambda/job", retention_days=7)
    forever = make_log_group(account, name="/aws/apigateway/access", retention_days=None)

    expect(
        findings_of(account, "logs.retention_set"),
        {
            month: (Status.PASS, "log group /ecs/app keeps events 30 days (baseline 30)"),
            quarter: (Status.PASS, "keeps events 90 days"),
            week: (Status.FAIL, "keeps events 7 days, below the baseline's 30"),
            forever: (Status.FAIL, "has no retention policy (events never expire)"),
        },
    )
    expect(
        findings_of(account, "logs.retention_set", min_days=60),
        {
            month: (Status.FAIL, "30 days, below the baseline's 60"),
            quarter: (Status.PASS, "(baseline 60)"),
            week: (Status.FAIL, "7 days"),
            forever: (Status.FAIL, "never expire"),
        },
    )


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


def test_describe_denied_is_one_error_for_the_region(account: DemoAccount) -> None:
    make_log_group(account)
    session = AwsSession(SessionOptions())
    fail_operation(session, "cloudwatch-logs", "DescribeLogGroups")

    result = scan(account, "logs.retention_set", session=session)

    expect(
        {f.resource_id: f for f in result.findings},
        {"*": (Status.ERROR, "could not read logs.log_groups: AccessDeniedException")},
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
