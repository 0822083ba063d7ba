"""cloudformation.required_outputs."""

from __future__ import annotations

from scanner.demo.base import DemoAccount
from scanner.demo.cloudformation import REFERENCE_OUTPUTS, make_stack, reference_cloudformation
from scanner.model import Status
from scanner.registry import get_check
from scanner.session import AwsSession, SessionOptions
from tests.helpers import expect, fail_operation, findings_of, scan


def test_required_outputs(account: DemoAccount) -> None:
    network = make_stack(account, name="prod-network", outputs={"VpcId": "vpc-1", "SubnetIds": "s"})
    local = make_stack(account, name="prod-app", outputs={"ClusterName": "c"}, exported=False)
    partial = make_stack(account, name="prod-data", outputs={"DbEndpoint": "db"})
    make_stack(account, name="unconfigured", outputs={})  # not in the baseline: not judged

    expect(
        findings_of(
            account,
            "cloudformation.required_outputs",
            stack_outputs={
                network: ["VpcId", "SubnetIds"],
                local: ["ClusterName"],
                partial: ["DbEndpoint", "RedisEndpoint", "QueueUrl"],
                "prod-missing": ["VpcId"],
            },
        ),
        {
            network: (
                Status.PASS,
                "stack prod-network has all 2 required outputs (2 of them exported)",
            ),
            local: (Status.PASS, "has all 1 required outputs (0 of them exported)"),
            partial: (
                Status.FAIL,
                "stack prod-data (CREATE_COMPLETE) lacks outputs RedisEndpoint, QueueUrl",
            ),
            "prod-missing": (Status.FAIL, "stack prod-missing does not exist in us-east-1"),
        },
    )


def test_off_until_configured(account: DemoAccount) -> None:
    make_stack(account, outputs={"VpcId": "vpc-1"})

    assert get_check("cloudformation.required_outputs").configured_by == "stack_outputs"
    assert findings_of(account, "cloudformation.required_outputs") == {}


def test_describe_denied_is_one_error_for_the_region(account: DemoAccount) -> None:
    make_stack(account, name="prod-network", outputs={"VpcId": "vpc-1"})
    session = AwsSession(SessionOptions())
    fail_operation(session, "cloudformation", "DescribeStacks")

    result = scan(
        account,
        "cloudformation.required_outputs",
        params={"cloudformation.required_outputs": {"stack_outputs": {"prod-network": ["VpcId"]}}},
        session=session,
    )

    expect(
        {f.resource_id: f for f in result.findings},
        {"*": (Status.ERROR, "could not read cloudformation.stacks: AccessDeniedException")},
    )


def test_reference_stack(account: DemoAccount) -> None:
    reference_cloudformation(account, compliant=True, stack_name="prod-platform")
    reference_cloudformation(account, compliant=False, stack_name="stage-platform")

    expect(
        findings_of(
            account,
            "cloudformation.required_outputs",
            stack_outputs={
                "prod-platform": list(REFERENCE_OUTPUTS),
                "stage-platform": list(REFERENCE_OUTPUTS),
            },
        ),
        {
            "prod-platform": (Status.PASS, "has all 4 required outputs"),
            "stage-platform": (Status.FAIL, "lacks outputs RedisEndpoint"),
        },
    )
