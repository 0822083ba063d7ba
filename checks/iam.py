"""IAM controls: ECS task roles are not administrators and name the data resources they use."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from scanner.engine.compliance import IAM_1, KMS_2, Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import iam
from scanner.engine.registry import Params, check
from scanner.model import (
    Outcome,
    ReadError,
    Severity,
    failed,
    passed,
    unreadable,
)

WILDCARD_ACTIONS = frozenset({"*", "*:*"})


def _values(value: Any) -> list[str]:
    """A policy element that may be one string or a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return []


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The Allow statements of a policy document."""
    statements = document.get("Statement", [])
    return [
        statement
        for statement in ([statements] if isinstance(statements, Mapping) else statements)
        if isinstance(statement, Mapping) and str(statement.get("Effect")).lower() == "allow"
    ]


def wildcard_grants(document: Mapping[str, Any]) -> list[str]:
    """The Allow statements that grant every action (Action "*" or NotAction) on every
    resource (Resource "*" or NotResource), each described in a few words."""
    found = []
    for statement in _statements(document):
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
    partial_evidence=True,  # a policy document that cannot be read is ERROR for its role
    compliance=Compliance(
        stricter_than=(IAM_1,),
        note=(
            "judges the inline and attached policies of ECS task roles (NotAction too);"
            " IAM.1 judges each customer managed policy"
        ),
    ),
)
def task_role_least_privilege(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    yield from _judge_task_roles(inputs, wildcard_grants, 'Action "*" on Resource "*"')


def _judge_task_roles(
    inputs: CheckInputs, grants_of: Callable[[Mapping[str, Any]], list[str]], never: str
) -> Iterator[Outcome]:
    """One outcome per task role: FAIL naming each policy's grants that ``grants_of`` finds,
    else ERROR for a policy that could not be read, else PASS (none of them allows ``never``)."""
    for role in inputs[iam.task_roles]:
        broad: dict[str, list[str]] = {}
        errors: dict[str, ReadError] = {}
        for policy in role.policies:
            if isinstance(policy.document, ReadError):
                errors[policy.label] = policy.document
            elif grants := grants_of(policy.document):
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
                + never,
                **evidence,
            )


SCOPED_SERVICES = ("kinesis", "secretsmanager", "kms", "elasticfilesystem")
"""The services of the stack's data, whose grants must name the resources they are for."""


def _action_covers(pattern: str, service: str) -> bool:
    """Whether an Action pattern matches some action of ``service`` (``*``, ``kms:*``,
    ``kinesis:Put*``, ``kin*:Get*``)."""
    prefix, _, _ = pattern.lower().partition(":")
    return fnmatch.fnmatchcase(service, prefix)


def _not_action_spares(pattern: str, service: str) -> bool:
    """Whether a NotAction pattern excludes every action of ``service`` (``kms:*``, ``*``);
    one that excludes only some (``kms:Decrypt``) leaves the rest granted."""
    head = pattern.lower()
    return head.endswith("*") and f"{service}:".startswith(head.rstrip("*"))


def _unscoped(resource: str, service: str) -> bool:
    """Resource ``*``, or an ARN of ``service`` (or of any service) whose resource part is
    ``*`` (``arn:aws:kinesis:us-east-1:123456789012:*``)."""
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    return (
        len(parts) == 6
        and parts[0] == "arn"
        and fnmatch.fnmatchcase(service, parts[2].lower())
        and parts[5] == "*"
    )


def unscoped_data_grants(document: Mapping[str, Any]) -> list[str]:
    """The grants of kinesis, secretsmanager, kms or elasticfilesystem actions on every
    resource of the service, each described in a few words."""
    found = []
    for statement in _statements(document):
        if "NotAction" in statement:
            excluded = _values(statement["NotAction"])
            granted = [
                s for s in SCOPED_SERVICES if not any(_not_action_spares(p, s) for p in excluded)
            ]
        else:
            actions = _values(statement.get("Action"))
            granted = [s for s in SCOPED_SERVICES if any(_action_covers(a, s) for a in actions)]
        resources = _values(statement.get("Resource"))
        if "NotResource" in statement:
            unscoped = granted
            where = f"NotResource {json.dumps(statement['NotResource'])}"
        else:
            unscoped = [s for s in granted if any(_unscoped(r, s) for r in resources)]
            wide = [r for r in resources if any(_unscoped(r, s) for s in unscoped)]
            where = f"Resource {', '.join(wide)}"
        if not unscoped:
            continue
        if "NotAction" in statement:
            what = f"NotAction {json.dumps(statement['NotAction'])}"
        else:
            what = ", ".join(a for a in actions if any(_action_covers(a, s) for s in unscoped))
        found.append(f"{what} on {where}")
    return found


@check(
    id="iam.task_role_grants_scoped",
    severity=Severity.HIGH,
    title="ECS task roles name the Kinesis, Secrets Manager, KMS and EFS resources they use",
    description=(
        "No task role of a task definition that an ECS service runs has an Allow statement, "
        "in an inline policy or in the default version of an attached managed policy, that "
        "grants an action of kinesis, secretsmanager, kms or elasticfilesystem (named, or a "
        'wildcard such as kinesis:*, kinesis:Put* or *) on Resource "*" or on an ARN of '
        'that service whose resource part is "*" (arn:aws:kms:us-east-1:123456789012:*). '
        'An Allow with NotResource counts as "*"; so does NotAction, unless it excludes '
        "the whole service (kms:*). Conditions and permissions boundaries are not evaluated; "
        "ARNs with a partial wildcard (key/*) are not judged. Reads the same policies as "
        "iam.task_role_least_privilege; a role or policy that cannot be read is an ERROR."
    ),
    remediation=(
        "Name the stream, secret, key and file system ARNs the task uses in Resource: "
        "aws iam put-role-policy --role-name <role> --policy-name <name> --policy-document "
        "file://scoped.json"
    ),
    rationale=(
        "A task that may read every secret, decrypt with every key or write to every stream "
        "exposes all of the account's data when one container is compromised."
    ),
    cfn_property=(
        "AWS::IAM::Role Policies[].PolicyDocument.Statement[].Resource: the stream, secret, "
        'key and file system ARNs (!GetAtt / !Ref), not "*"'
    ),
    reads=[iam.task_roles],
    partial_evidence=True,  # a policy document that cannot be read is ERROR for its role
    compliance=Compliance(
        stricter_than=(KMS_2,),
        note=(
            "judges ECS task roles' inline and attached policies, and any kms, kinesis,"
            " secretsmanager or elasticfilesystem action on all resources; KMS.2 judges"
            " decryption on all KMS keys in inline policies"
        ),
    ),
)
def task_role_grants_scoped(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    yield from _judge_task_roles(
        inputs,
        unscoped_data_grants,
        "an action of kinesis, secretsmanager, kms or elasticfilesystem on every resource",
    )
