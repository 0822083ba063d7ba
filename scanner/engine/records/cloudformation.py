"""CloudFormation stacks, their outputs, and (when asked) their drift from the template. Their
records and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/cloudformation.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scanner.engine.inventory import Collector, declare
from scanner.model import ResourceRef, UnreadableResource

DRIFT = "the stack's drift"
"""What a stack listed as unreadable by drift detection hides."""


STACK_TYPE = "AWS::CloudFormation::Stack"


@dataclass(frozen=True, kw_only=True)
class StackOutput:
    value: str | None
    export_name: str | None
    """ExportName when the output is exported for Fn::ImportValue; else None."""


@dataclass(frozen=True, kw_only=True)
class Stack:
    stack_name: str
    stack_id: str
    """The stack's ARN."""
    status: str
    outputs: Mapping[str, StackOutput]
    """OutputKey -> value and export name."""
    name: str
    tags: Mapping[str, str] | None = None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type=STACK_TYPE, id=self.stack_name, arn=self.stack_id)


stacks: Collector[list[Stack]] = declare(
    "cloudformation.stacks",
    resource_type=STACK_TYPE,
    actions=["cloudformation:DescribeStacks"],
    fetch="scanner.engine.collectors.cloudformation:stacks",
)
"""Every live stack in the region that the baseline scope admits."""


@dataclass(frozen=True, kw_only=True)
class PropertyDifference:
    path: str
    """``/SecurityGroupIngress/0/CidrIp``."""
    expected: str | None
    actual: str | None
    kind: str
    """``ADD``, ``REMOVE`` or ``NOT_EQUAL``."""

    def __str__(self) -> str:
        return f"{self.path} expected {self.expected}, actual {self.actual} ({self.kind})"


@dataclass(frozen=True, kw_only=True)
class ResourceDrift:
    logical_id: str
    physical_id: str | None
    resource_type: str
    status: str
    """``IN_SYNC``, ``MODIFIED``, ``DELETED`` or ``NOT_CHECKED``."""
    differences: tuple[PropertyDifference, ...]


@dataclass(frozen=True, kw_only=True)
class StackDrift:
    stack_name: str
    stack_id: str
    detection_id: str
    failure: str | None
    """DetectionStatusReason when detection failed for some resources (DETECTION_FAILED)."""
    resources: tuple[ResourceDrift, ...]

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type=STACK_TYPE, id=self.stack_name, arn=self.stack_id)


stack_drifts: Collector[list[StackDrift | UnreadableResource]] = declare(
    "cloudformation.stack_drifts",
    resource_type=STACK_TYPE,
    actions=[
        "cloudformation:DetectStackDrift",
        "cloudformation:DescribeStackDriftDetectionStatus",
        "cloudformation:DescribeStackResourceDrifts",
    ],
    requires=[stacks],
    fetch="scanner.engine.collectors.cloudformation:stack_drifts",
)
"""Start drift detection on every settled stack in scope, wait for it, read the result."""
