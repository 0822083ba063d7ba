"""CloudFormation stacks and their outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scanner.inventory import RegionScope, collector
from scanner.model import ResourceRef

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


@collector(
    name="cloudformation.stacks",
    resource_type=STACK_TYPE,
    actions=["cloudformation:DescribeStacks"],
)
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
