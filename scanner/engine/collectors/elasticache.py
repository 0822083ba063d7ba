"""ElastiCache (Redis/Valkey) replication groups and the security groups of their members."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records import elasticache as declared
from scanner.engine.records.elasticache import (
    DEFAULT_PORT,
    CacheCluster,
    ReplicationGroup,
)
from scanner.model import ReadError, UnreadableResource


def replication_groups(scope: RegionScope) -> list[ReplicationGroup | UnreadableResource]:
    """Every replication group in the region that the baseline scope admits."""
    pages = scope.pages("elasticache", "describe_replication_groups", "ReplicationGroups")
    listing = [_group(raw) for raw in pages]
    if not scope.scope.needs_tags:
        return [group for group in listing if scope.scope.includes(group.name, None)]

    def read(group: ReplicationGroup) -> ReplicationGroup | UnreadableResource | None:
        if not (scope.scope.read_tags or scope.scope.needs_tags_of(group.name)):
            return group  # its name carries the suffix and no control judges its tags
        tags = _tags(scope, group.arn or group.group_id)  # AWS always returns the ARN
        if isinstance(tags, ReadError):
            return UnreadableResource(ref=group.ref, error=tags, what="replication group tags")
        return replace(group, tags=tags) if scope.scope.includes(group.name, tags) else None

    return [item for item in scope.map(read, listing) if item is not None]


def _group(raw: Mapping[str, Any]) -> ReplicationGroup:
    at_rest = bool(raw.get("AtRestEncryptionEnabled"))
    multi_az = str(raw.get("MultiAZ") or "disabled")
    failover = str(raw.get("AutomaticFailover") or "disabled")
    return ReplicationGroup(
        group_id=raw["ReplicationGroupId"],
        arn=raw.get("ARN"),
        engine=str(raw.get("Engine") or "redis"),
        at_rest_encryption=at_rest,
        transit_encryption=bool(raw.get("TransitEncryptionEnabled")),
        transit_encryption_mode=raw.get("TransitEncryptionMode"),
        multi_az=multi_az == "enabled",
        multi_az_status=multi_az,
        automatic_failover=failover == "enabled",
        automatic_failover_status=failover,
        snapshot_retention_limit=int(raw.get("SnapshotRetentionLimit") or 0),
        snapshot_window=raw.get("SnapshotWindow") or None,
        member_clusters=tuple(raw.get("MemberClusters", ())),
        kms_key_id=(raw.get("KmsKeyId") or None) if at_rest else None,
        port=_port(raw),
        name=raw["ReplicationGroupId"],
    )


def _port(raw: Mapping[str, Any]) -> int:
    # Cluster mode enabled: ConfigurationEndpoint; disabled: each node group's primary.
    endpoints = [raw.get("ConfigurationEndpoint")] + [
        group.get("PrimaryEndpoint") for group in raw.get("NodeGroups", ())
    ]
    for endpoint in endpoints:
        if endpoint and endpoint.get("Port"):
            return int(endpoint["Port"])
    return DEFAULT_PORT


def _tags(scope: RegionScope, arn: str) -> dict[str, str] | ReadError:
    response = scope.attempt(
        lambda: scope.call("elasticache", "list_tags_for_resource", ResourceName=arn)
    )
    if isinstance(response, ReadError):
        return response
    return {tag["Key"]: tag.get("Value", "") for tag in response.get("TagList", [])}


def cache_clusters(scope: RegionScope) -> list[CacheCluster]:
    """The member clusters of in-scope replication groups, with their VPC security groups.

    DescribeCacheClusters is the only API that names a replication group's security groups.
    Clusters outside any in-scope replication group (Memcached, standalone Redis) are dropped.
    """
    groups = {
        group.group_id
        for group in scope.get(declared.replication_groups)
        if isinstance(group, ReplicationGroup)
    }
    clusters = []
    for raw in scope.pages("elasticache", "describe_cache_clusters", "CacheClusters"):
        group_id = raw.get("ReplicationGroupId")
        if group_id not in groups:
            continue
        clusters.append(
            CacheCluster(
                cache_cluster_id=raw["CacheClusterId"],
                arn=raw.get("ARN"),
                replication_group_id=group_id,
                security_group_ids=tuple(
                    sg["SecurityGroupId"]
                    for sg in raw.get("SecurityGroups", ())
                    if sg.get("SecurityGroupId")
                ),
                maintenance_window=raw.get("PreferredMaintenanceWindow") or None,
                name=raw["CacheClusterId"],
            )
        )
    return clusters
