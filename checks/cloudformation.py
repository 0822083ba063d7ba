"""CloudFormation controls: configured stacks publish the outputs other stacks consume."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.collectors import cloudformation
from scanner.collectors.cloudformation import STACK_TYPE
from scanner.inventory import CheckInputs
from scanner.model import Outcome, ResourceRef, Severity, failed, passed
from scanner.registry import Param, Params, check


@check(
    id="cloudformation.required_outputs",
    severity=Severity.LOW,
    title="Configured CloudFormation stacks publish their required outputs",
    description=(
        "Each stack named in the baseline has every output key listed for it, so the stacks "
        "and pipelines that read them keep working. An output key present in the stack's "
        "Outputs satisfies the baseline; whether it is also exported (ExportName, for "
        "Fn::ImportValue) is shown in the evidence but not judged. A configured stack that "
        "does not exist in the region (or is outside the scan scope) fails. Off until "
        "stack_outputs names a stack. Read from DescribeStacks."
    ),
    remediation="Add the missing keys to the template's Outputs section and update the stack",
    reads=[cloudformation.stacks],
    params=[
        Param(
            name="stack_outputs",
            default={},
            schema={
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            description="Stack name -> the output keys that stack must have "
            '(e.g. {"prod-network": ["VpcId", "PrivateSubnetIds"]}).',
        )
    ],
    configured_by="stack_outputs",
)
def required_outputs(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    required = params["stack_outputs"] or {}
    if not required:
        return
    by_name = {stack.stack_name: stack for stack in inputs[cloudformation.stacks]}
    for stack_name, keys in sorted(required.items()):
        stack = by_name.get(stack_name)
        if stack is None:
            ref = ResourceRef(type=STACK_TYPE, id=stack_name)
            yield failed(
                ref,
                f"stack {stack_name} does not exist in {inputs.region} (or is outside the scope)",
                required=list(keys),
            )
            continue
        missing = [key for key in keys if key not in stack.outputs]
        exports = {key: stack.outputs[key].export_name for key in keys if key in stack.outputs}
        evidence = {
            "StackStatus": stack.status,
            "required": list(keys),
            "missing": missing,
            "exports": exports,
        }
        if missing:
            yield failed(
                stack.ref,
                f"stack {stack_name} ({stack.status}) lacks outputs {', '.join(missing)}",
                **evidence,
            )
        else:
            exported = [key for key, name in exports.items() if name]
            yield passed(
                stack.ref,
                f"stack {stack_name} has all {len(keys)} required outputs "
                f"({len(exported)} of them exported)",
                **evidence,
            )
