"""CloudWatch Logs log groups. Their records and collector declarations: plain data, no I/O
(the fetch functions are in scanner/engine/collectors/logs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scanner.engine.inventory import Collector, declare
from scanner.model import ResourceRef, UnreadableResource


@dataclass(frozen=True, kw_only=True)
class LogGroup:
    name: str
    arn: str | None
    """The log group ARN without the trailing ``:*`` (DescribeLogGroups' logGroupArn)."""
    retention_days: int | None
    """retentionInDays; None when the group never expires (no retention policy)."""
    kms_key_id: str | None
    tags: Mapping[str, str] | None = None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::Logs::LogGroup", id=self.name, arn=self.arn)


log_groups: Collector[list[LogGroup | UnreadableResource]] = declare(
    "logs.log_groups",
    resource_type="AWS::Logs::LogGroup",
    actions=["logs:DescribeLogGroups", "logs:ListTagsForResource"],
    fetch="scanner.engine.collectors.logs:log_groups",
)
"""Every log group in the region that the baseline scope admits."""
