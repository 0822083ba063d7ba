"""IAM controls: ECS task roles are not administrators."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from scanner.collectors import iam
from scanner.inventory import CheckInputs
from scanner.model import (
    Outcome,
    ReadError,
    Severity,
    UnreadableResource,
    failed,
    passed,
    unreadable,
)
from scanner.registry import Params, check

WILDCARD_ACTIONS = frozenset({"*", "*:*"})

UNREADABLE_WHAT = {
    "AWS::ECS::TaskDefinition": "the task definition, so its task role is unknown",
    "AWS::ECS::Service": "the service, so its task role is unknown",
    "AWS::ECS::Cluster": "the cluster's services, so their task roles are unknown",
}
"""What could not be read, for the ECS resources the task-role collector passes on."""


def _values(value: Any) -> list[str]:
    """A policy element that may be one string or a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return []


def wildcard_grants(document: Mapping[str, Any]) -> list[str]:
    """The Allow statements that grant every action (Action "*" or NotAction) on every
    resource (Resource "*" or NotResource), each described in a few words."""
    statements = document.get("Statement", [])
    found = []
    for statement in [statements] if isinstance(statements, Mapping) else statements:
        if not isinstance(statement, Mapping) or str(statement.get("Effect")).lower() != "allow":
            continue
        if "NotAction" in statement:
            action = f"NotAction {json.dumps(statement['NotAction'])}"
        elif WILDCARD_ACTIONS & set(_values(statement.get("Action"))):
            action = 'Action "*"'
        else:
            continue
        if "*" in _values(statement.get("Resource")):
            found.append(f'{action} on Resource "*"')
        elif "NotResource" in statement:
            found.append(f"{action} on NotResource {json.dumps(statement['NotResource'])}")
    return found


@check(
    id="iam.task_role_least_privilege",
    severity=Severity.HIGH,
    title="ECS task roles do not allow every action on every resource",
    description=(
        "No task role of a task definition that an ECS service runs has an Allow statement, "
        "in an inline policy or in the default version of an attached managed policy, with "
        'Action "*" (or "*:*") on Resource "*". Allow with NotAction on Resource "*" also '
        "fails: it grants every action except the few listed, on everything (AWS's "
        "PowerUserAccess is built that way), so it is as broad as a wildcard in practice; "
        'likewise NotResource in place of Resource "*". Conditions and permissions '
        "boundaries are not evaluated, and narrower wildcards (s3:*) are not judged. A role "
        "that cannot be read, or does not exist, is an ERROR."
    ),
    remediation=(
        "Replace the wildcard statement with the actions and resources the task needs: "
        "aws iam put-role-policy --role-name <role> --policy-name <name> --policy-document "
        "file://least-privilege.json, and aws iam detach-role-policy --role-name <role> "
        "--policy-arn <arn> for broad managed policies"
    ),
    rationale=(
        "A task role that allows everything turns any compromise of the container into a "
        "compromise of the account."
    ),
    cfn_property=(
        "AWS::IAM::Role Policies[].PolicyDocument.Statement with named Action and Resource"
    ),
    reads=[iam.task_roles],
)
def task_role_least_privilege(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for role in inputs[iam.task_roles]:
        if isinstance(role, UnreadableResource):
            what = UNREADABLE_WHAT.get(role.ref.type, "the task role")
            yield unreadable(role.ref, role.error, what)
            continue
        broad: dict[str, list[str]] = {}
        errors: dict[str, ReadError] = {}
        for policy in role.policies:
            if isinstance(policy.document, ReadError):
                errors[policy.label] = policy.document
            elif grants := wildcard_grants(policy.document):
                broad[policy.label] = grants
        evidence = {
            "policies": [policy.label for policy in role.policies],
            "task_definitions": list(role.task_definitions),
        }
        if broad:
            named = "; ".join(f"{label} allows {', '.join(g)}" for label, g in broad.items())
            yield failed(role.ref, f"task role {role.name}: {named}", wildcards=broad, **evidence)
        elif errors:
            label, error = next(iter(errors.items()))
            yield unreadable(role.ref, error, f"{label} of task role {role.name}")
        else:
            yield passed(
                role.ref,
                f"task role {role.name}: none of its policies ({len(role.policies)}) allows "
                'Action "*" on Resource "*"',
                **evidence,
            )
