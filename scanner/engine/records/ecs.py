"""ECS clusters, the services they run, and the task definitions those services run. Their
records and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/ecs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scanner.engine.inventory import Collector, declare
from scanner.model import ResourceRef, UnreadableResource


@dataclass(frozen=True, kw_only=True)
class EcsCluster:
    name: str
    arn: str
    status: str
    container_insights: str | None
    """The ``containerInsights`` cluster setting (``enabled``, ``enhanced``, ``disabled``), or
    None when DescribeClusters(include=SETTINGS) returned no such setting."""
    tags: Mapping[str, str] | None = None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::ECS::Cluster", id=self.name, arn=self.arn)


@dataclass(frozen=True, kw_only=True)
class EcsService:
    name: str
    arn: str
    cluster_name: str
    cluster_arn: str
    status: str
    task_definition_arns: tuple[str, ...]
    """The service's ``taskDefinition`` (the revision its primary deployment runs); for a
    service with an EXTERNAL deployment controller, which has none, its task sets' task
    definitions. Other in-flight deployments' revisions are not read."""
    tags: Mapping[str, str] | None = None
    """Not read: services are in scope with their cluster."""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(
            type="AWS::ECS::Service", id=f"{self.cluster_name}/{self.name}", arn=self.arn
        )


@dataclass(frozen=True, kw_only=True)
class TaskDefinition:
    """Only what the controls need: container definitions (environment variables, secrets)
    may hold secret values and are never kept."""

    family: str
    revision: int
    arn: str
    execution_role_arn: str | None
    task_role_arn: str | None
    services: tuple[str, ...]
    """``cluster/service`` of every in-scope service that runs this revision."""
    tags: Mapping[str, str] | None = None
    """Not read: task definitions are in scope with the services that run them."""

    @property
    def name(self) -> str:
        return f"{self.family}:{self.revision}"

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::ECS::TaskDefinition", id=self.name, arn=self.arn)


def last_segment(arn: str) -> str:
    """``arn:...:cluster/name`` -> ``name``; a bare name stays as it is."""
    return arn.rsplit("/", 1)[-1]


def task_definition_ref(arn: str) -> ResourceRef:
    return ResourceRef(type="AWS::ECS::TaskDefinition", id=last_segment(arn), arn=arn)


clusters: Collector[list[EcsCluster | UnreadableResource]] = declare(
    "ecs.clusters",
    resource_type="AWS::ECS::Cluster",
    actions=["ecs:ListClusters", "ecs:DescribeClusters"],
    fetch="scanner.engine.collectors.ecs:clusters",
)
"""Every active cluster in scope, with its settings (and tags when the scope needs them)."""


services: Collector[list[EcsService | UnreadableResource]] = declare(
    "ecs.services",
    resource_type="AWS::ECS::Service",
    actions=["ecs:ListServices", "ecs:DescribeServices"],
    requires=[clusters],
    fetch="scanner.engine.collectors.ecs:services",
)
"""Every active service of every in-scope cluster."""


task_definitions: Collector[list[TaskDefinition | UnreadableResource]] = declare(
    "ecs.task_definitions",
    resource_type="AWS::ECS::TaskDefinition",
    actions=["ecs:DescribeTaskDefinition"],
    requires=[services],
    fetch="scanner.engine.collectors.ecs:task_definitions",
)
"""Each distinct task definition an in-scope service runs, described once."""
