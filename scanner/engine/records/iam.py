"""IAM roles that ECS task definitions run as, with every policy document they carry. Their
records and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/iam.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from scanner.engine.inventory import Collector, declare
from scanner.engine.records import ecs
from scanner.model import ReadError, ResourceRef, UnreadableResource


@dataclass(frozen=True, kw_only=True)
class RolePolicy:
    name: str
    """Inline policy name, or the managed policy's name."""
    kind: str
    """``inline`` or ``managed``."""
    arn: str | None
    """The managed policy's ARN; None for inline policies."""
    document: Mapping[str, Any] | ReadError
    """The policy document (for a managed policy, its default version)."""

    @property
    def label(self) -> str:
        if self.kind == "inline":
            return f"inline policy {self.name}"
        return f"managed policy {self.name} ({self.arn})"


@dataclass(frozen=True, kw_only=True)
class IamRole:
    name: str
    arn: str
    policies: tuple[RolePolicy, ...]
    task_definitions: tuple[str, ...]
    """``family:revision`` of the task definitions that name this role as their task role."""
    tags: Mapping[str, str] | None = None
    """Not read: task roles are in scope with the task definitions that use them."""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::IAM::Role", id=self.name, arn=self.arn)


def role_name(role_arn: str) -> str:
    """The role name: the ARN's last path segment (``arn:aws:iam::1:role/path/name``)."""
    return role_arn.rsplit("/", 1)[-1]


def decode_document(raw: Any, action: str) -> Mapping[str, Any] | ReadError:
    """A policy document as a dict.

    boto3 URL-decodes and parses IAM policy documents itself, but leaves the string as AWS
    sent it (URL-encoded JSON) when its own parse fails; both forms are accepted.
    """
    if isinstance(raw, Mapping):
        return raw
    try:
        text = str(raw).strip()
        document = json.loads(text if text.startswith("{") else unquote(text))
    except ValueError as exc:
        return ReadError(code="MalformedPolicyDocument", action=action, detail=str(exc)[:300])
    if not isinstance(document, Mapping):
        return ReadError(code="MalformedPolicyDocument", action=action, detail="not an object")
    return document


task_roles: Collector[list[IamRole | UnreadableResource]] = declare(
    "iam.task_roles",
    resource_type="AWS::IAM::Role",
    actions=[
        "iam:GetRole",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
    ],
    requires=[ecs.task_definitions],
    fetch="scanner.engine.collectors.iam:task_roles",
)
"""The task role of every task definition an in-scope ECS service runs."""
