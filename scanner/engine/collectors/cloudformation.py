"""CloudFormation stacks, their outputs, and (when asked) their drift from the template."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records import cloudformation as declared
from scanner.engine.records.cloudformation import (
    DRIFT,
    PropertyDifference,
    ResourceDrift,
    Stack,
    StackDrift,
    StackOutput,
)
from scanner.model import ReadError, UnreadableResource


def stacks(scope: RegionScope) -> list[Stack]:
    """Every live stack in the region that the baseline scope admits.

    DescribeStacks without a name lists no deleted (DELETE_COMPLETE) stacks; it returns the
    stack's tags, so scoping by tag needs no extra call.
    """
    listed = [_stack(raw) for raw in scope.pages("cloudformation", "describe_stacks", "Stacks")]
    return [stack for stack in listed if scope.scope.includes(stack.name, stack.tags)]


def _stack(raw: Mapping[str, Any]) -> Stack:
    outputs = {
        output["OutputKey"]: StackOutput(
            value=output.get("OutputValue"), export_name=output.get("ExportName") or None
        )
        for output in raw.get("Outputs", ())
        if output.get("OutputKey")
    }
    return Stack(
        stack_name=raw["StackName"],
        stack_id=raw["StackId"],
        status=raw.get("StackStatus", ""),
        outputs=outputs,
        name=raw["StackName"],
        tags={tag["Key"]: tag.get("Value", "") for tag in raw.get("Tags", ())},
    )


DETECTION_TIMEOUT_SECONDS = 300.0
"""How long to wait for one stack's drift detection before reporting it as ERROR."""


POLL_SECONDS = 5.0
"""Interval between DescribeStackDriftDetectionStatus calls."""


DETECTABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_FAILED",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)
"""Stack statuses in which CloudFormation accepts DetectStackDrift; other stacks (being
created, updated or deleted, or failed on create) have no settled template to compare."""


def stack_drifts(scope: RegionScope) -> list[StackDrift | UnreadableResource]:
    """Start drift detection on every settled stack in scope, wait for it, read the result.

    DetectStackDrift is the one call driftscan makes that is not a read: it starts a job
    (it changes no resource). CloudFormation then reads each resource with the caller's
    permissions.
    """
    settled = [stack for stack in scope.get(declared.stacks) if stack.status in DETECTABLE]
    return scope.map(lambda stack: _detect(scope, stack), settled)


def _detect(scope: RegionScope, stack: Stack) -> StackDrift | UnreadableResource:
    started = scope.attempt(
        lambda: scope.call("cloudformation", "detect_stack_drift", StackName=stack.stack_id)
    )
    if isinstance(started, ReadError):
        return UnreadableResource(ref=stack.ref, error=started, what=DRIFT)
    detection_id = started["StackDriftDetectionId"]
    status = _wait(scope, detection_id)
    if isinstance(status, ReadError):
        return UnreadableResource(ref=stack.ref, error=status, what=DRIFT)
    drifts = scope.attempt(lambda: _resource_drifts(scope, stack.stack_id))
    if isinstance(drifts, ReadError):
        return UnreadableResource(ref=stack.ref, error=drifts, what=DRIFT)
    failed = status.get("DetectionStatus") == "DETECTION_FAILED"
    return StackDrift(
        stack_name=stack.stack_name,
        stack_id=stack.stack_id,
        detection_id=detection_id,
        failure=str(status.get("DetectionStatusReason") or "no reason given") if failed else None,
        resources=tuple(drifts),
    )


def _wait(scope: RegionScope, detection_id: str) -> dict[str, Any] | ReadError:
    """Poll the detection until it leaves DETECTION_IN_PROGRESS or the timeout passes."""
    action = "cloudformation:DescribeStackDriftDetectionStatus"
    deadline = time.monotonic() + DETECTION_TIMEOUT_SECONDS
    while True:
        status = scope.attempt(
            lambda: scope.call(
                "cloudformation",
                "describe_stack_drift_detection_status",
                StackDriftDetectionId=detection_id,
            )
        )
        if isinstance(status, ReadError) or status["DetectionStatus"] != "DETECTION_IN_PROGRESS":
            return status
        if time.monotonic() >= deadline:
            return ReadError(
                code="DriftDetectionTimeout",
                action=action,
                detail=f"detection {detection_id} still in progress after "
                f"{DETECTION_TIMEOUT_SECONDS:g} s",
            )
        time.sleep(POLL_SECONDS)


def _resource_drifts(scope: RegionScope, stack_id: str) -> list[ResourceDrift]:
    """Every resource's drift (DescribeStackResourceDrifts has no boto3 paginator)."""
    drifts: list[ResourceDrift] = []
    token: dict[str, str] = {}
    while True:
        page = scope.call(
            "cloudformation", "describe_stack_resource_drifts", StackName=stack_id, **token
        )
        drifts += [_resource_drift(raw) for raw in page.get("StackResourceDrifts", ())]
        if not page.get("NextToken"):
            return drifts
        token = {"NextToken": page["NextToken"]}


def _resource_drift(raw: Mapping[str, Any]) -> ResourceDrift:
    return ResourceDrift(
        logical_id=raw["LogicalResourceId"],
        physical_id=raw.get("PhysicalResourceId"),
        resource_type=raw["ResourceType"],
        status=raw.get("StackResourceDriftStatus", ""),
        differences=tuple(
            PropertyDifference(
                path=diff.get("PropertyPath", ""),
                expected=diff.get("ExpectedValue"),
                actual=diff.get("ActualValue"),
                kind=diff.get("DifferenceType", ""),
            )
            for diff in raw.get("PropertyDifferences", ())
        ),
    )
