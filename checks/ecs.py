"""ECS controls: clusters run Container Insights; services' task definitions name both roles."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.engine.compliance import ECS_12, Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import ecs
from scanner.engine.registry import Params, check
from scanner.model import Outcome, Severity, failed, passed

INSIGHTS_ON = frozenset({"enabled", "enhanced"})


@check(
    id="ecs.container_insights_enabled",
    severity=Severity.LOW,
    title="ECS clusters have Container Insights on",
    description=(
        "Every active ECS cluster has the containerInsights cluster setting enabled (or "
        "enhanced), so task and service metrics reach CloudWatch. Read from "
        "DescribeClusters(include=SETTINGS); a cluster with the setting disabled or absent "
        "fails. The account-level default (ListAccountSettings) is not read: it only applies "
        "to clusters created after it was set, and each cluster records its own value."
    ),
    remediation=(
        "aws ecs update-cluster --cluster <cluster> --settings name=containerInsights,value=enabled"
    ),
    rationale=(
        "Container Insights metrics are what capacity planning and incident triage of ECS "
        "services rely on."
    ),
    cfn_property="AWS::ECS::Cluster ClusterSettings: [{Name: containerInsights, Value: enabled}]",
    reads=[ecs.clusters],
    compliance=Compliance(same_as=(ECS_12,)),
)
def container_insights_enabled(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for cluster in inputs[ecs.clusters]:
        value = cluster.container_insights
        if value in INSIGHTS_ON:
            yield passed(
                cluster.ref,
                f"cluster {cluster.name} has containerInsights {value}",
                containerInsights=value,
            )
        elif value is None:
            yield failed(
                cluster.ref,
                f"cluster {cluster.name} has no containerInsights setting",
                containerInsights=None,
            )
        else:
            yield failed(
                cluster.ref,
                f"cluster {cluster.name} has containerInsights {value}",
                containerInsights=value,
            )


@check(
    id="ecs.task_roles_defined",
    severity=Severity.HIGH,
    title="Task definitions that services run name an execution role and a task role",
    description=(
        "Every task definition that an ECS service runs (the revision of the service's "
        "primary deployment) names both an executionRoleArn (used by the ECS agent to pull "
        "images, write logs and fetch secrets) and a taskRoleArn (the containers' own AWS "
        "identity). Without a task role, containers fall back to whatever the host gives "
        "them. Read from ListServices, DescribeServices and DescribeTaskDefinition; "
        "container definitions are never read into the report. Task definitions no service "
        "runs are not judged; what the roles allow is judged by iam.task_role_least_privilege."
    ),
    remediation=(
        "aws ecs register-task-definition --family <family> --execution-role-arn <role-arn> "
        "--task-role-arn <role-arn> ... then aws ecs update-service --task-definition "
        "<family:revision>"
    ),
    rationale=(
        "Without a task role containers fall back to other credentials; without an execution "
        "role images and secrets cannot be pulled with their own identity."
    ),
    cfn_property="AWS::ECS::TaskDefinition ExecutionRoleArn and TaskRoleArn",
    reads=[ecs.clusters, ecs.services, ecs.task_definitions],
    compliance=Compliance.none(
        "no Security Hub control requires a task role (ECS.1 judges network mode and user)"
    ),
)
def task_roles_defined(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for definition in inputs[ecs.task_definitions]:
        missing = [
            field
            for field, value in (
                ("executionRoleArn", definition.execution_role_arn),
                ("taskRoleArn", definition.task_role_arn),
            )
            if not value
        ]
        evidence = {
            "executionRoleArn": definition.execution_role_arn,
            "taskRoleArn": definition.task_role_arn,
            "services": list(definition.services),
        }
        run_by = ", ".join(definition.services)
        if missing:
            yield failed(
                definition.ref,
                f"task definition {definition.name} (run by {run_by}) has no "
                f"{' and no '.join(missing)}",
                **evidence,
            )
        else:
            yield passed(
                definition.ref,
                f"task definition {definition.name} names execution role "
                f"{definition.execution_role_arn} and task role {definition.task_role_arn}",
                **evidence,
            )
