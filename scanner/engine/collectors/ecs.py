"""ECS clusters, the services they run, and the task definitions those services run.

Scope: the baseline scope applies to clusters (name, and tags when the scope names tags).
A cluster's services, and the task definitions they run, are in scope with their cluster;
they are not filtered again by their own names or tags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from scanner.engine.inventory import RegionScope
from scanner.engine.records import ecs as declared
from scanner.engine.records.ecs import (
    EcsCluster,
    EcsService,
    TaskDefinition,
    last_segment,
    task_definition_ref,
)
from scanner.model import ReadError, ResourceRef, UnreadableResource

T = TypeVar("T")

DESCRIBE_CLUSTERS_MAX = 100
"""DescribeClusters accepts at most 100 clusters per call."""


DESCRIBE_SERVICES_MAX = 10
"""DescribeServices rejects more than 10 services per call (moto accepts any number)."""


LIST_SERVICES_PAGE = 100
"""ListServices returns 10 services per page unless asked for up to 100."""


GONE = "MISSING"
"""A ``failures[].reason`` for a resource deleted between the listing and the describe."""


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["key"]: tag.get("value", "") for tag in raw or []}


def _failure(failure: Mapping[str, str], action: str) -> ReadError:
    """A ``failures[]`` entry of a Describe call: the resource alone could not be read."""
    return ReadError(
        code=failure.get("reason") or "Failure", action=action, detail=failure.get("detail", "")
    )


def _attempt(scope: RegionScope, operation: str, **params: Any) -> dict[str, Any] | ReadError:
    return scope.attempt(lambda: scope.call("ecs", operation, **params))


def clusters(scope: RegionScope) -> list[EcsCluster | UnreadableResource]:
    """Every active cluster in scope, with its settings (and tags when the scope needs them).

    ``include=["SETTINGS"]`` is always sent: without it AWS omits ``settings`` (moto does
    not, gap ecs-settings-without-include).
    """
    arns = list(scope.pages("ecs", "list_clusters", "clusterArns"))
    include = ["SETTINGS", "TAGS"] if scope.scope.needs_tags else ["SETTINGS"]
    listed: list[EcsCluster | UnreadableResource] = []
    for chunk in chunks(arns, DESCRIBE_CLUSTERS_MAX):
        response = _attempt(scope, "describe_clusters", clusters=list(chunk), include=include)
        if isinstance(response, ReadError):
            listed.extend(_unreadable_cluster(arn, response) for arn in chunk)
            continue
        for failure in response.get("failures", []):
            if failure.get("reason") != GONE:
                error = _failure(failure, "ecs:DescribeClusters")
                listed.append(_unreadable_cluster(failure.get("arn", "?"), error))
        for raw in response.get("clusters", []):
            cluster = _cluster(raw, tags=scope.scope.needs_tags)
            if cluster.status != "INACTIVE" and scope.scope.includes(cluster.name, cluster.tags):
                listed.append(cluster)
    return listed


def _cluster(raw: Mapping[str, Any], *, tags: bool) -> EcsCluster:
    settings = {item.get("name"): item.get("value") for item in raw.get("settings") or []}
    return EcsCluster(
        name=raw["clusterName"],
        arn=raw["clusterArn"],
        status=raw.get("status", "ACTIVE"),
        container_insights=settings.get("containerInsights"),
        tags=_tags(raw.get("tags")) if tags else None,
    )


def _unreadable_cluster(arn: str, error: ReadError) -> UnreadableResource:
    return UnreadableResource(
        ref=ResourceRef(type="AWS::ECS::Cluster", id=last_segment(arn), arn=arn),
        error=error,
        what="cluster settings",
    )


def services(scope: RegionScope) -> list[EcsService | UnreadableResource]:
    """Every active service of every in-scope cluster.

    Unreadable clusters, and clusters whose services cannot be listed, are passed on as
    ``UnreadableResource`` (their ref is the cluster) so the controls report them as ERROR.
    """
    readable: list[EcsCluster] = []
    listed: list[EcsService | UnreadableResource] = []
    for cluster in scope.get(declared.clusters):
        if isinstance(cluster, UnreadableResource):
            listed.append(cluster)
        else:
            readable.append(cluster)
    for found in scope.map(lambda cluster: _services_of(scope, cluster), readable):
        listed.extend(found)
    return listed


def _services_of(scope: RegionScope, cluster: EcsCluster) -> list[EcsService | UnreadableResource]:
    arns = scope.attempt(
        lambda: list(
            scope.pages(
                "ecs",
                "list_services",
                "serviceArns",
                cluster=cluster.arn,
                PaginationConfig={"PageSize": LIST_SERVICES_PAGE},
            )
        )
    )
    if isinstance(arns, ReadError):
        return [UnreadableResource(ref=cluster.ref, error=arns, what="the cluster's services")]
    listed: list[EcsService | UnreadableResource] = []
    for chunk in chunks(arns, DESCRIBE_SERVICES_MAX):
        response = _attempt(scope, "describe_services", cluster=cluster.arn, services=list(chunk))
        if isinstance(response, ReadError):
            listed.extend(_unreadable_service(cluster, arn, response) for arn in chunk)
            continue
        for failure in response.get("failures", []):
            if failure.get("reason") != GONE:
                error = _failure(failure, "ecs:DescribeServices")
                listed.append(_unreadable_service(cluster, failure.get("arn", "?"), error))
        active = [raw for raw in response.get("services", []) if raw.get("status") != "INACTIVE"]
        listed.extend(_service(raw, cluster) for raw in active)
    return listed


def _service(raw: Mapping[str, Any], cluster: EcsCluster) -> EcsService:
    """The service with every task definition it runs: the one it deploys, those of older
    deployments still running tasks (a rolling update in progress), and its task sets'
    (the EXTERNAL and CODE_DEPLOY deployment controllers)."""
    running = [
        deployment.get("taskDefinition")
        for deployment in raw.get("deployments") or []
        if deployment.get("status") == "PRIMARY" or deployment.get("runningCount")
    ]
    task_sets = [task_set.get("taskDefinition") for task_set in raw.get("taskSets") or []]
    named = [raw.get("taskDefinition"), *running, *task_sets]
    definitions = tuple(dict.fromkeys(arn for arn in named if arn))
    return EcsService(
        name=raw["serviceName"],
        arn=raw["serviceArn"],
        cluster_name=cluster.name,
        cluster_arn=cluster.arn,
        status=raw.get("status", "ACTIVE"),
        task_definition_arns=definitions,
    )


def _unreadable_service(cluster: EcsCluster, arn: str, error: ReadError) -> UnreadableResource:
    ref = ResourceRef(type="AWS::ECS::Service", id=f"{cluster.name}/{last_segment(arn)}", arn=arn)
    return UnreadableResource(ref=ref, error=error, what="the service")


def task_definitions(scope: RegionScope) -> list[TaskDefinition | UnreadableResource]:
    """Each distinct task definition an in-scope service runs, described once.

    Unreadable clusters and services are passed on as ``UnreadableResource``: the task
    definitions they run are unknown, so a control over task definitions reports them.
    """
    runners: dict[str, list[str]] = {}
    listed: list[TaskDefinition | UnreadableResource] = []
    for service in scope.get(declared.services):
        if isinstance(service, UnreadableResource):
            listed.append(service)
            continue
        for arn in service.task_definition_arns:
            runners.setdefault(arn, []).append(service.ref.id)
    arns = list(runners)

    def describe(arn: str) -> TaskDefinition | UnreadableResource:
        response = _attempt(scope, "describe_task_definition", taskDefinition=arn)
        if isinstance(response, ReadError):
            return UnreadableResource(
                ref=task_definition_ref(arn), error=response, what="task definition"
            )
        raw = response["taskDefinition"]
        return TaskDefinition(
            family=raw["family"],
            revision=int(raw["revision"]),
            arn=raw["taskDefinitionArn"],
            execution_role_arn=raw.get("executionRoleArn") or None,
            task_role_arn=raw.get("taskRoleArn") or None,
            services=tuple(sorted(runners[arn])),
        )

    listed.extend(scope.map(describe, arns))
    return listed
