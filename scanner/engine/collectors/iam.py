"""IAM roles that ECS task definitions run as, with every policy document they carry.

IAM is global: a role or policy used in several scanned regions is read once per account,
through the client of the first region that needs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records import ecs
from scanner.engine.records.iam import IamRole, RolePolicy, decode_document, role_name
from scanner.model import ReadError, ResourceRef, UnreadableResource


@dataclass(frozen=True, kw_only=True)
class _Listing:
    """What one role's own reads return; managed policy documents are read afterwards."""

    arn: str
    inline: tuple[RolePolicy, ...]
    attached: Mapping[str, str]
    """Managed policy ARN -> name."""


def _role_ref(name: str, arn: str | None) -> ResourceRef:
    return ResourceRef(type="AWS::IAM::Role", id=name, arn=arn)


def task_roles(scope: RegionScope) -> list[IamRole | UnreadableResource]:
    """The task role of every task definition an in-scope ECS service runs.

    Unreadable ECS clusters, services and task definitions are passed on as
    ``UnreadableResource``: the roles they would name are unknown. A role that cannot be
    read (including one that no longer exists: ``NoSuchEntity``) is unreadable too.
    """
    users: dict[str, list[str]] = {}
    arns: dict[str, str] = {}
    listed: list[IamRole | UnreadableResource] = []
    for definition in scope.get(ecs.task_definitions):
        if isinstance(definition, UnreadableResource):
            listed.append(definition)
        elif definition.task_role_arn:
            name = role_name(definition.task_role_arn)
            users.setdefault(name, []).append(definition.name)
            arns.setdefault(name, definition.task_role_arn)
    names = sorted(users)
    roles = scope.map(
        lambda name: scope.once_per_account(
            ("iam.role", name), lambda: _read_role(scope, name, arns[name])
        ),
        names,
    )
    # A managed policy attached to several roles is read once.
    policy_arns = sorted(
        {arn for role in roles if not isinstance(role, UnreadableResource) for arn in role.attached}
    )
    documents = dict(
        zip(
            policy_arns,
            scope.map(
                lambda arn: scope.once_per_account(
                    ("iam.policy", arn), lambda: _managed_document(scope, arn)
                ),
                policy_arns,
            ),
            strict=True,
        )
    )
    for name, role in zip(names, roles, strict=True):
        if isinstance(role, UnreadableResource):
            listed.append(role)
            continue
        managed = tuple(
            RolePolicy(
                name=policy_name, kind="managed", arn=policy_arn, document=documents[policy_arn]
            )
            for policy_arn, policy_name in role.attached.items()
        )
        listed.append(
            IamRole(
                name=name,
                arn=role.arn,
                policies=role.inline + managed,
                task_definitions=tuple(sorted(users[name])),
            )
        )
    return listed


def _read_role(scope: RegionScope, name: str, arn_hint: str) -> _Listing | UnreadableResource:
    """The role's ARN, its inline policies, and its attached policies (ARN -> name)."""
    role = scope.attempt(lambda: scope.call("iam", "get_role", RoleName=name))
    if isinstance(role, ReadError):
        return UnreadableResource(ref=_role_ref(name, arn_hint), error=role, what="the task role")
    arn = role["Role"]["Arn"]
    inline_names = scope.attempt(
        lambda: list(scope.pages("iam", "list_role_policies", "PolicyNames", RoleName=name))
    )
    if isinstance(inline_names, ReadError):
        return UnreadableResource(
            ref=_role_ref(name, arn), error=inline_names, what="the task role"
        )
    attached = scope.attempt(
        lambda: list(
            scope.pages("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name)
        )
    )
    if isinstance(attached, ReadError):
        return UnreadableResource(ref=_role_ref(name, arn), error=attached, what="the task role")
    inline = tuple(
        RolePolicy(
            name=policy, kind="inline", arn=None, document=_inline_document(scope, name, policy)
        )
        for policy in inline_names
    )
    policies = {item["PolicyArn"]: item["PolicyName"] for item in attached}
    return _Listing(arn=arn, inline=inline, attached=policies)


def _inline_document(scope: RegionScope, role: str, policy: str) -> Mapping[str, Any] | ReadError:
    response = scope.attempt(
        lambda: scope.call("iam", "get_role_policy", RoleName=role, PolicyName=policy)
    )
    if isinstance(response, ReadError):
        return response
    return decode_document(response.get("PolicyDocument"), "iam:GetRolePolicy")


def _managed_document(scope: RegionScope, arn: str) -> Mapping[str, Any] | ReadError:
    """The default version's document of a managed policy."""
    policy = scope.attempt(lambda: scope.call("iam", "get_policy", PolicyArn=arn))
    if isinstance(policy, ReadError):
        return policy
    version_id = policy["Policy"]["DefaultVersionId"]
    version = scope.attempt(
        lambda: scope.call("iam", "get_policy_version", PolicyArn=arn, VersionId=version_id)
    )
    if isinstance(version, ReadError):
        return version
    return decode_document(version["PolicyVersion"].get("Document"), "iam:GetPolicyVersion")
