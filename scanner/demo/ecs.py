"""ECS builders: clusters with or without Container Insights, task definitions, services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scanner.demo.base import DemoAccount
from scanner.demo.iam import (
    ADMIN_POLICY,
    data_policy,
    make_execution_role,
    make_role,
    scoped_policy,
)

FAKE_SECRET_ENVIRONMENT: Mapping[str, str] = {
    "APP_ENV": "demo",
    "DB_PASSWORD": "driftscan-fake-secret-0d5e",
}
"""Container environment of the demo task definitions. It looks like a secret on purpose:
the scanner must never copy container environments into its records or reports."""


def make_cluster(
    account: DemoAccount,
    *,
    name: str | None = None,
    insights: str | None = "enabled",
    tags: Mapping[str, str] | None = None,
) -> str:
    """A cluster; returns its ARN. ``insights``: enabled, enhanced, disabled, or None for a
    cluster whose DescribeClusters shows no containerInsights setting at all.

    moto always reports ``containerInsights: disabled`` for a cluster created without
    settings; None empties the setting list by backend patch.
    """
    client = account.client("ecs")
    name = name or account.name("cluster")
    settings = [{"name": "containerInsights", "value": insights}] if insights else []
    arn = str(
        client.create_cluster(
            clusterName=name,
            settings=settings,
            tags=[{"key": k, "value": v} for k, v in (tags or {}).items()],
        )["cluster"]["clusterArn"]
    )
    if insights is None:
        account.backend("ecs").clusters[name].settings = []
    return arn


def make_task_definition(
    account: DemoAccount,
    *,
    family: str | None = None,
    execution_role: bool = True,
    execution_role_arn: str | None = None,
    task_role: bool = True,
    task_role_arn: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> str:
    """A Fargate task definition revision; returns its ARN.

    Roles: an explicit ``*_role_arn`` is used as given; otherwise ``execution_role`` /
    ``task_role`` make a fresh compliant role (an execution role, or a task role with a
    scoped inline policy), and False leaves the field unset.
    """
    family = family or account.name("app")
    if execution_role_arn is None and execution_role:
        execution_role_arn = make_execution_role(account, name=account.name(f"{family}-execution"))
    if task_role_arn is None and task_role:
        task_role_arn = make_role(
            account, name=account.name(f"{family}-task"), inline_policy=scoped_policy()
        )
    roles = {"executionRoleArn": execution_role_arn, "taskRoleArn": task_role_arn}
    variables = FAKE_SECRET_ENVIRONMENT if environment is None else environment
    response = account.client("ecs").register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "app",
                "image": "public.ecr.aws/nginx/nginx:stable",
                "essential": True,
                "portMappings": [{"containerPort": 8080}],
                "environment": [{"name": k, "value": v} for k, v in variables.items()],
            }
        ],
        **{key: value for key, value in roles.items() if value},
    )
    return str(response["taskDefinition"]["taskDefinitionArn"])


def make_service(
    account: DemoAccount,
    cluster: str,
    task_definition_arn: str,
    *,
    name: str | None = None,
    desired_count: int = 1,
    subnet_ids: Sequence[str] = (),
    security_group_ids: Sequence[str] = (),
) -> str:
    """A Fargate service in ``cluster`` (name or ARN) running the revision; returns its ARN."""
    network = {
        "awsvpcConfiguration": {
            "subnets": list(subnet_ids),
            "securityGroups": list(security_group_ids),
            "assignPublicIp": "DISABLED",
        }
    }
    response = account.client("ecs").create_service(
        cluster=cluster,
        serviceName=name or account.name("service"),
        taskDefinition=task_definition_arn,
        desiredCount=desired_count,
        launchType="FARGATE",
        **({"networkConfiguration": network} if subnet_ids else {}),
    )
    return str(response["service"]["serviceArn"])


def reference_ecs(
    account: DemoAccount,
    *,
    compliant: bool,
    prefix: str,
    subnet_ids: Sequence[str] = (),
    security_group_ids: Sequence[str] = (),
) -> None:
    """The stack's ECS part, with its IAM task role: cluster ``<prefix>-cluster`` running
    service ``<prefix>-app`` on task definition family ``<prefix>-app``, with task role
    ``<prefix>-app-task`` and (compliant only) execution role ``<prefix>-app-execution``.

    Broken (``compliant=False``): Container Insights disabled, the task definition has no
    execution role, and the task role has a customer-managed copy of AdministratorAccess
    (Action "*" on Resource "*") attached. The task role's data access (``data_policy``)
    names the stack's stream and secret, or (broken) grants them on Resource "*".

    Deps: ``subnet_ids`` and ``security_group_ids`` (the stack's private subnets and the
    service's security groups, from the network builders) go into the service's awsvpc
    configuration; empty is fine, no control reads them.
    """
    cluster = make_cluster(
        account, name=f"{prefix}-cluster", insights="enabled" if compliant else "disabled"
    )
    task_role = make_role(
        account,
        name=f"{prefix}-app-task",
        inline_policy=scoped_policy(f"{prefix}-app-data"),
        managed_policy_documents=(
            (data_policy(account, prefix, scoped=True),)
            if compliant
            else (data_policy(account, prefix, scoped=False), ADMIN_POLICY)
        ),
    )
    definition = make_task_definition(
        account,
        family=f"{prefix}-app",
        execution_role_arn=(
            make_execution_role(account, name=f"{prefix}-app-execution") if compliant else None
        ),
        execution_role=False,
        task_role_arn=task_role,
    )
    make_service(
        account,
        cluster,
        definition,
        name=f"{prefix}-app",
        subnet_ids=subnet_ids,
        security_group_ids=security_group_ids,
    )
