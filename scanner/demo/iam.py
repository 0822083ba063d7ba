"""IAM builders: ECS task and execution roles with inline and customer-managed policies."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from scanner.demo.base import DemoAccount

ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}

ADMIN_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
"""The document of AWS's AdministratorAccess. moto has no AWS-managed policies (gap
iam-no-aws-managed-policies): attach it as a customer-managed copy."""


def scoped_policy(bucket: str = "app-data") -> dict[str, Any]:
    """A least-privilege task policy: read and write one bucket's objects."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


def data_policy(account: DemoAccount, prefix: str, *, scoped: bool) -> dict[str, Any]:
    """The task's access to the stack's data: put records to stream ``<prefix>-events`` and
    read secret ``<prefix>-db-credentials``, on those ARNs when ``scoped``, else on "*"."""
    where = f"{account.region}:{account.account_id}"
    grants = {
        "kinesis:PutRecord*": f"arn:aws:kinesis:{where}:stream/{prefix}-events",
        "secretsmanager:GetSecretValue": f"arn:aws:secretsmanager:{where}:secret:{prefix}-db-*",
    }
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": action, "Resource": resource if scoped else "*"}
            for action, resource in grants.items()
        ],
    }


EXECUTION_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ecr:GetAuthorizationToken",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
}
"""The permissions of AWS's AmazonECSTaskExecutionRolePolicy, as an inline policy."""


def make_role(
    account: DemoAccount,
    *,
    name: str | None = None,
    path: str = "/",
    inline_policy: Mapping[str, Any] | None = None,
    managed_policy_documents: Sequence[Mapping[str, Any]] = (),
) -> str:
    """A role ECS tasks can assume; returns its ARN.

    ``inline_policy`` is put as the inline policy ``<name>-inline``; each of
    ``managed_policy_documents`` becomes a customer-managed policy ``<name>-managed-<i>``
    attached to the role. With neither, the role has no permissions at all.
    """
    client = account.client("iam")
    name = name or account.name("task-role")
    arn = str(
        client.create_role(
            RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST)
        )["Role"]["Arn"]
    )
    if inline_policy is not None:
        client.put_role_policy(
            RoleName=name, PolicyName=f"{name}-inline", PolicyDocument=json.dumps(inline_policy)
        )
    for index, document in enumerate(managed_policy_documents, start=1):
        policy_arn = client.create_policy(
            PolicyName=f"{name}-managed-{index}", PolicyDocument=json.dumps(document)
        )["Policy"]["Arn"]
        client.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return arn


def make_execution_role(account: DemoAccount, *, name: str | None = None) -> str:
    """A task execution role (image pulls, logs); returns its ARN."""
    return make_role(
        account, name=name or account.name("execution-role"), inline_policy=EXECUTION_POLICY
    )
