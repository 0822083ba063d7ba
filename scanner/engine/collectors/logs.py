"""CloudWatch Logs log groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records.logs import LogGroup
from scanner.model import ReadError, UnreadableResource


def log_groups(scope: RegionScope) -> list[LogGroup | UnreadableResource]:
    """Every log group in the region that the baseline scope admits."""
    listing = [_group(raw) for raw in scope.pages("logs", "describe_log_groups", "logGroups")]
    if not scope.scope.needs_tags:
        return [group for group in listing if scope.scope.includes(group.name, None)]

    def read(group: LogGroup) -> LogGroup | UnreadableResource | None:
        if not (scope.scope.read_tags or scope.scope.needs_tags_of(group.name)):
            return group  # its name carries the suffix and no control judges its tags
        tags = _tags(scope, group)
        if isinstance(tags, ReadError):
            return UnreadableResource(ref=group.ref, error=tags, what="log group tags")
        return replace(group, tags=tags) if scope.scope.includes(group.name, tags) else None

    return [item for item in scope.map(read, listing) if item is not None]


def _group(raw: Mapping[str, Any]) -> LogGroup:
    arn = raw.get("logGroupArn") or raw.get("arn")
    if arn and arn.endswith(":*"):
        arn = arn[:-2]
    retention = raw.get("retentionInDays")
    return LogGroup(
        name=raw["logGroupName"],
        arn=arn,
        retention_days=int(retention) if retention else None,
        kms_key_id=raw.get("kmsKeyId") or None,
    )


def _tags(scope: RegionScope, group: LogGroup) -> dict[str, str] | ReadError:
    response = scope.attempt(
        lambda: scope.call("logs", "list_tags_for_resource", resourceArn=group.arn or group.name)
    )
    if isinstance(response, ReadError):
        return response
    return dict(response.get("tags", {}))
