"""tagging.environment_suffix, and the Name tag in the scope's name suffix."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from scanner.demo.base import DemoAccount
from scanner.demo.kinesis import make_stream
from scanner.demo.logs import make_log_group
from scanner.demo.network import make_vpc
from scanner.engine.inventory import Scope
from scanner.engine.records import ec2, efs, kinesis, logs
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Status
from tests.checks.judge import by_resource, denied, judge, unreadable
from tests.factories import log_group, stream, vpc_layout
from tests.helpers import expect, fail_operation, findings_of, scan

SUFFIX = "tagging.environment_suffix"


def test_environment_suffix() -> None:
    found = judge(
        SUFFIX,
        {
            kinesis.streams: [
                stream("orders-prod"),
                stream("clicks", tags={"Name": "clicks-prod"}),
            ],
            logs.log_groups: [
                log_group("/ecs/app-stage", tags={"Name": "app-stage"}),
                unreadable(log_group("/ecs/hidden").ref, "log group tags"),
            ],
            ec2.vpcs: [
                replace(vpc_layout("vpc-default").vpc, is_default=True, name="vpc-default"),
                replace(vpc_layout("vpc-1").vpc, name="orders-stage"),
            ],
            efs.file_systems: denied("elasticfilesystem:DescribeFileSystems"),
        },
        suffix="-prod",
    )

    expect(
        by_resource(found),
        {
            "orders-prod": (Status.PASS, "name 'orders-prod' contains '-prod'"),
            "clicks": (Status.PASS, "Name tag 'clicks-prod' of 'clicks' contains '-prod'"),
            "/ecs/app-stage": (Status.FAIL, "name '/ecs/app-stage' lacks the suffix '-prod'"),
            "/ecs/hidden": (Status.ERROR, "could not read log group tags: AccessDeniedException"),
            "vpc-1": (Status.FAIL, "name 'orders-stage' lacks the suffix '-prod'"),
            "*": (Status.ERROR, "could not read efs.file_systems: AccessDeniedException"),
        },
    )
    assert by_resource(found)["clicks"].evidence == {"Name": "clicks", "NameTag": "clicks-prod"}


# --- moto: what the collectors read ---------------------------------------------------------


def test_the_name_tag_is_read_for_the_suffix(account: DemoAccount) -> None:
    named = make_stream(account, name="orders-prod", encryption=None)
    tagged = make_stream(account, name="clicks", tags={"Name": "clicks-prod"}, encryption=None)
    other = make_log_group(account, name="/ecs/app-stage", tags={"Name": "app-stage"})

    expect(
        findings_of(account, "tagging.environment_suffix", suffix="-prod"),
        {
            named: (Status.PASS, "name 'orders-prod' contains '-prod'"),
            tagged: (Status.PASS, "Name tag 'clicks-prod' of 'clicks' contains '-prod'"),
            other: (Status.FAIL, "name '/ecs/app-stage' lacks the suffix '-prod'"),
        },
    )


def test_default_vpcs_are_not_judged(account: DemoAccount) -> None:
    [default] = account.client("ec2").describe_vpcs(
        Filters=[{"Name": "is-default", "Values": ["true"]}]
    )["Vpcs"]  # moto makes one in every region, named nothing, as AWS does
    stack = make_vpc(account, name="orders-stage")

    found = findings_of(account, "tagging.environment_suffix", suffix="-prod")

    assert default["VpcId"] not in found
    assert (found[stack.vpc_id].status, found[stack.vpc_id].message) == (
        Status.FAIL,
        "name 'orders-stage' lacks the suffix '-prod'",
    )


def test_tags_that_cannot_be_read_are_error(account: DemoAccount) -> None:
    group = make_log_group(account, name="/ecs/app")
    session = AwsSession(SessionOptions())
    fail_operation(session, "cloudwatch-logs", "ListTagsForResource")

    result = scan(
        account,
        "tagging.environment_suffix",
        params={"tagging.environment_suffix": {"suffix": "-prod"}},
        session=session,
    )

    [finding] = result.findings
    assert (finding.status, finding.resource_id) == (Status.ERROR, group)
    assert finding.message.startswith("could not read log group tags: AccessDeniedException")


def test_name_suffix_scope_reads_the_name_tag_only_where_the_name_lacks_it(
    account: DemoAccount,
) -> None:
    named = make_stream(account, name="orders-prod")
    tagged = make_stream(account, name="clicks", tags={"Name": "clicks-prod"})
    make_stream(account, name="clicks-stage", tags={"Name": "clicks-stage"})
    session = AwsSession(SessionOptions())

    result = scan(
        account, "kinesis.retention_period", scope=Scope(name_suffix="-prod"), session=session
    )

    assert sorted(f.resource_id for f in result.findings) == sorted([named, tagged])
    made = Counter(call.operation for call in session.requests.calls)
    assert made["ListTagsForStream"] == 2  # not for orders-prod: its name decides
