"""CloudFormation controls: configured stacks publish the outputs other stacks consume, and
(when enabled) no stack resource has drifted from its template."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.engine.compliance import Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import cloudformation
from scanner.engine.records.cloudformation import STACK_TYPE
from scanner.engine.registry import Param, Params, check
from scanner.model import (
    Outcome,
    ReadError,
    ResourceRef,
    Severity,
    failed,
    passed,
    unreadable,
)
from scanner.textsafe import count


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
    rationale=(
        "Other stacks and deploy tooling import these outputs; a missing one breaks the next "
        "deployment."
    ),
    cfn_property="Outputs: {<Name>: {Value: ...}} in the stack's template",
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
    compliance=Compliance.none(
        "a functional check of the baseline's stack outputs, no security requirement"
    ),
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


DRIFTED = ("MODIFIED", "DELETED")


@check(
    id="cloudformation.stack_drift",
    severity=Severity.MEDIUM,
    title="CloudFormation stack resources match their templates",
    description=(
        "No resource of a stack in scope was changed (MODIFIED) or deleted (DELETED) outside "
        "CloudFormation. For each settled stack, DetectStackDrift starts a detection job, "
        "DescribeStackDriftDetectionStatus is polled for up to 300 s (ERROR after that) and "
        "DescribeStackResourceDrifts gives each resource's property differences, expected vs "
        "actual. One FAIL per drifted resource, one PASS per stack without drift; resources "
        "CloudFormation cannot check (NOT_CHECKED) are counted, not judged. Off unless "
        "`detect: true` or `driftscan scan --cfn-drift`: DetectStackDrift is the one call that "
        "is not a read (it starts a job, it changes no resource)."
    ),
    remediation="Revert the manual change, or update the stack so the template matches it "
    "(aws cloudformation detect-stack-drift --stack-name <name> shows the differences)",
    rationale=(
        "A manual change outside the template is lost or conflicts at the next stack update, "
        "and the template no longer documents what runs."
    ),
    cfn_property="the drifted resource's properties in the stack's template",
    reads=[cloudformation.stack_drifts],
    partial_evidence=True,  # a detection that failed part way: drifted resources and an ERROR
    params=[
        Param(
            name="detect",
            default=False,
            schema={"type": "boolean"},
            description="Run drift detection on every stack in scope (starts one detection "
            "job per stack; also turned on by `scan --cfn-drift`).",
        )
    ],
    configured_by="detect",
    compliance=Compliance.none("no Security Hub control judges stack drift"),
)
def stack_drift(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for stack in inputs[cloudformation.stack_drifts]:
        drifted = [r for r in stack.resources if r.status in DRIFTED]
        for resource in drifted:
            what = f"{resource.resource_type} {resource.logical_id}"
            if resource.physical_id:
                what += f" ({resource.physical_id})"
            changes = "; ".join(map(str, resource.differences)) or "the resource no longer exists"
            yield failed(
                ResourceRef(
                    type=resource.resource_type,
                    id=f"{stack.stack_name}/{resource.logical_id}",
                ),
                f"stack {stack.stack_name}: {what} is {resource.status}: {changes}",
                StackResourceDriftStatus=resource.status,
                PhysicalResourceId=resource.physical_id,
                PropertyDifferences=[
                    {
                        "PropertyPath": d.path,
                        "ExpectedValue": d.expected,
                        "ActualValue": d.actual,
                        "DifferenceType": d.kind,
                    }
                    for d in resource.differences
                ],
            )
        if stack.failure is not None:
            error = ReadError(
                code="DETECTION_FAILED",
                action="cloudformation:DetectStackDrift",
                detail=stack.failure,
            )
            yield unreadable(stack.ref, error, "the drift of every resource")
        elif not drifted:
            unchecked = sum(r.status == "NOT_CHECKED" for r in stack.resources)
            yield passed(
                stack.ref,
                f"stack {stack.stack_name}: {count(len(stack.resources) - unchecked, 'resource')}"
                f" in sync with the template ({unchecked} not checkable)",
                DetectionId=stack.detection_id,
                NotChecked=unchecked,
            )
