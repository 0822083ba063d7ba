"""cloudformation.required_outputs and cloudformation.stack_drift."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from scanner.app.config import build_plan, parse_baseline
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.cloudformation import REFERENCE_OUTPUTS, reference_cloudformation
from scanner.engine.collectors import cloudformation as cloudformation_fetch
from scanner.engine.records.cloudformation import stacks
from scanner.engine.registry import get_check
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, Status
from tests.checks.judge import by_resource, denied, judge
from tests.factories import stack
from tests.helpers import expect, findings_of, scan

OUTPUTS = "cloudformation.required_outputs"


def test_required_outputs() -> None:
    found = judge(
        OUTPUTS,
        {
            stacks: [
                stack("prod-network", {"VpcId": "vpc-1", "SubnetIds": "s"}),
                stack("prod-app", {"ClusterName": "c"}, exported=False),
                stack("prod-data", {"DbEndpoint": "db"}),
                stack("unconfigured"),  # not in the baseline: not judged
            ]
        },
        stack_outputs={
            "prod-network": ["VpcId", "SubnetIds"],
            "prod-app": ["ClusterName"],
            "prod-data": ["DbEndpoint", "RedisEndpoint", "QueueUrl"],
            "prod-missing": ["VpcId"],
        },
    )

    expect(
        by_resource(found),
        {
            "prod-network": (
                Status.PASS,
                "stack prod-network has all 2 required outputs (2 of them exported)",
            ),
            "prod-app": (Status.PASS, "has all 1 required outputs (0 of them exported)"),
            "prod-data": (
                Status.FAIL,
                "stack prod-data (CREATE_COMPLETE) lacks outputs RedisEndpoint, QueueUrl",
            ),
            "prod-missing": (Status.FAIL, "stack prod-missing does not exist in us-east-1"),
        },
    )


def test_off_until_configured() -> None:
    assert get_check(OUTPUTS).configured_by == "stack_outputs"
    assert judge(OUTPUTS, {stacks: [stack(outputs={"VpcId": "vpc-1"})]}) == []


def test_describe_denied_is_one_error_for_the_region() -> None:
    found = judge(
        OUTPUTS,
        {stacks: denied("cloudformation:DescribeStacks")},
        stack_outputs={"prod-network": ["VpcId"]},
    )

    expect(
        by_resource(found),
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


# --- cloudformation.stack_drift: moto lacks the drift APIs (moto-gaps.md), so a botocore
# Stubber answers every CloudFormation call; STS still goes to moto for the account id.

NOW = "2030-01-01T00:00:00Z"


def _stack(name: str, status: str = "UPDATE_COMPLETE") -> dict[str, Any]:
    return {"StackName": name, "StackId": _arn(name), "CreationTime": NOW, "StackStatus": status}


def _arn(name: str) -> str:
    return f"arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1"


def _status(name: str, detection: str, reason: str | None = None) -> dict[str, Any]:
    status = {
        "StackId": _arn(name),
        "StackDriftDetectionId": f"det-{name}",
        "DetectionStatus": detection,
        "Timestamp": NOW,
    }
    return {**status, "DetectionStatusReason": reason} if reason else status


def _drift(
    name: str, logical: str, status: str, *differences: tuple[str, str, str]
) -> dict[str, Any]:
    return {
        "StackId": _arn(name),
        "LogicalResourceId": logical,
        "PhysicalResourceId": f"{logical}-1",
        "ResourceType": "AWS::EC2::SecurityGroup",
        "StackResourceDriftStatus": status,
        "Timestamp": NOW,
        "PropertyDifferences": [
            {
                "PropertyPath": path,
                "ExpectedValue": expected,
                "ActualValue": actual,
                "DifferenceType": "NOT_EQUAL",
            }
            for path, expected, actual in differences
        ],
    }


def _stubbed_scan(
    account: DemoAccount, stacks: list[dict[str, Any]], calls: list[tuple[str, dict[str, Any]]]
) -> dict[str, Finding]:
    session = AwsSession(SessionOptions())
    stubber = Stubber(session.client("cloudformation", account.region))
    stubber.add_response("describe_stacks", {"Stacks": stacks})
    for operation, response in calls:
        if operation.startswith("!"):
            stubber.add_client_error(operation[1:], "AccessDenied", "no", 403)
        else:
            stubber.add_response(operation, response)
    with stubber:
        result = scan(account, "cloudformation.stack_drift", session=session, workers=1)
        stubber.assert_no_pending_responses()
    return {f.resource_id: f for f in result.findings}


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloudformation_fetch, "POLL_SECONDS", 0)


@pytest.mark.usefixtures("fast_polling")
def test_stack_drift(account: DemoAccount) -> None:
    found = _stubbed_scan(
        account,
        [_stack("in-sync"), _stack("drifted"), _stack("creating", "CREATE_IN_PROGRESS")],
        [
            ("detect_stack_drift", {"StackDriftDetectionId": "det-in-sync"}),
            ("describe_stack_drift_detection_status", _status("in-sync", "DETECTION_IN_PROGRESS")),
            ("describe_stack_drift_detection_status", _status("in-sync", "DETECTION_COMPLETE")),
            (
                "describe_stack_resource_drifts",
                {
                    "StackResourceDrifts": [
                        _drift("in-sync", "A", "IN_SYNC"),
                        _drift("in-sync", "B", "NOT_CHECKED"),
                    ]
                },
            ),
            ("detect_stack_drift", {"StackDriftDetectionId": "det-drifted"}),
            ("describe_stack_drift_detection_status", _status("drifted", "DETECTION_COMPLETE")),
            (
                "describe_stack_resource_drifts",
                {
                    "NextToken": "page2",
                    "StackResourceDrifts": [
                        _drift(
                            "drifted",
                            "Sg",
                            "MODIFIED",
                            ("/SecurityGroupIngress/0/CidrIp", "10.0.0.0/16", "0.0.0.0/0"),
                        )
                    ],
                },
            ),
            (
                "describe_stack_resource_drifts",
                {
                    "StackResourceDrifts": [
                        _drift("drifted", "Gone", "DELETED"),
                        _drift("drifted", "Ok", "IN_SYNC"),
                    ]
                },
            ),
        ],
    )

    expect(
        found,
        {
            "in-sync": (
                Status.PASS,
                "stack in-sync: 1 resource in sync with the template (1 not checkable)",
            ),
            "drifted/Sg": (
                Status.FAIL,
                "stack drifted: AWS::EC2::SecurityGroup Sg (Sg-1) is "
                "MODIFIED: /SecurityGroupIngress/0/CidrIp expected "
                "10.0.0.0/16, actual 0.0.0.0/0 (NOT_EQUAL)",
            ),
            "drifted/Gone": (
                Status.FAIL,
                "Gone (Gone-1) is DELETED: the resource no longer exists",
            ),
        },
    )
    assert found["drifted/Sg"].evidence["PropertyDifferences"] == [
        {
            "PropertyPath": "/SecurityGroupIngress/0/CidrIp",
            "ExpectedValue": "10.0.0.0/16",
            "ActualValue": "0.0.0.0/0",
            "DifferenceType": "NOT_EQUAL",
        }
    ]


@pytest.mark.usefixtures("fast_polling")
def test_stack_drift_errors(account: DemoAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloudformation_fetch, "DETECTION_TIMEOUT_SECONDS", 0)
    found = _stubbed_scan(
        account,
        [_stack("slow"), _stack("partial"), _stack("denied")],
        [
            ("detect_stack_drift", {"StackDriftDetectionId": "det-slow"}),
            ("describe_stack_drift_detection_status", _status("slow", "DETECTION_IN_PROGRESS")),
            ("detect_stack_drift", {"StackDriftDetectionId": "det-partial"}),
            (
                "describe_stack_drift_detection_status",
                _status("partial", "DETECTION_FAILED", "Failed to detect drift on Hidden"),
            ),
            (
                "describe_stack_resource_drifts",
                {
                    "StackResourceDrifts": [
                        _drift("partial", "Sg", "MODIFIED", ("/Tags/0/Value", "a", "b"))
                    ]
                },
            ),
            ("!detect_stack_drift", {}),
        ],
    )

    expect(
        found,
        {
            "slow": (
                Status.ERROR,
                "DriftDetectionTimeout on "
                "cloudformation:DescribeStackDriftDetectionStatus: detection "
                "det-slow still in progress after 0 s",
            ),
            "partial/Sg": (Status.FAIL, "is MODIFIED: /Tags/0/Value expected a, actual b"),
            "partial": (
                Status.ERROR,
                "could not read the drift of every resource: DETECTION_FAILED "
                "on cloudformation:DetectStackDrift: Failed to detect drift "
                "on Hidden",
            ),
            "denied": (Status.ERROR, "AccessDenied on cloudformation:DetectStackDrift"),
        },
    )


def test_stack_drift_is_off_unless_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    def selected(baseline: str) -> bool:
        plan = build_plan(parse_baseline(baseline), default_region="us-east-1")
        return "cloudformation.stack_drift" in {spec.id for spec in plan.checks}

    assert not selected("")
    assert selected("controls: {cloudformation.stack_drift: {detect: true}}")
    assert run(["scan", "-r", "us-east-1", "--checks", "cloudformation.stack_drift"]) == 2
    assert (
        "cloudformation.stack_drift is off until the baseline sets "
        "controls/cloudformation.stack_drift/detect"
    ) in capsys.readouterr().err
    for flags, included in (([], False), (["--cfn-drift"], True)):
        assert run(["iam-policy", *flags]) == 0
        assert ("cloudformation:DetectStackDrift" in capsys.readouterr().out) is included
