"""Naming contract: every in-scope resource's name carries the environment suffix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scanner.engine.compliance import Compliance
from scanner.engine.inventory import CheckInputs, Collector
from scanner.engine.records import (
    apigateway,
    ec2,
    ecs,
    efs,
    elasticache,
    kinesis,
    logs,
    rds,
    secretsmanager,
)
from scanner.engine.registry import Param, Params, check
from scanner.model import (
    Outcome,
    Severity,
    failed,
    passed,
)

NAMED_RESOURCES: tuple[Collector[Any], ...] = (
    ec2.vpcs,
    ecs.clusters,
    rds.clusters,
    rds.instances,
    elasticache.replication_groups,
    efs.file_systems,
    kinesis.streams,
    secretsmanager.secrets,
    apigateway.rest_apis,
    logs.log_groups,
)
"""The stack's resources of controls.md, each record with ``name`` and ``tags``."""


@check(
    id="tagging.environment_suffix",
    severity=Severity.LOW,
    title="Resource names carry the environment suffix",
    description=(
        "When an environment suffix is configured, the name (or Name tag) of each in-scope "
        "VPC, ECS cluster, RDS cluster and instance, ElastiCache replication group, EFS file "
        "system, Kinesis stream, secret, REST API and log group contains it, so that no "
        "resource of one environment can be mistaken for another's. Default VPCs (IsDefault) "
        "are not judged: AWS made them, not the stack. Off until `suffix` is set."
    ),
    remediation="Rename the resource (or set its Name tag) to include the environment suffix",
    rationale=(
        "Names that state their environment prevent changing prod when stage was meant, and "
        "keep cost and access reports readable."
    ),
    cfn_property=(
        "the resource's name property, or Tags: [{Key: Name, Value: <name with the suffix>}]"
    ),
    reads=NAMED_RESOURCES,
    independent=NAMED_RESOURCES,
    reads_tags=True,  # for the Name tag
    params=[
        Param(
            name="suffix",
            default=None,
            schema={"type": ["string", "null"], "minLength": 1},
            description="the text every name must contain, e.g. -prod (null: control off)",
        )
    ],
    configured_by="suffix",
    compliance=Compliance.none("a naming convention, no security requirement"),
)
def environment_suffix(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    suffix = params["suffix"]
    for source in NAMED_RESOURCES:
        for record in inputs[source]:
            if getattr(record, "is_default", False):
                continue  # the default VPC is AWS's, not the stack's
            name_tag = (record.tags or {}).get("Name", "")
            if suffix in record.name:
                yield passed(
                    record.ref, f"name {record.name!r} contains {suffix!r}", Name=record.name
                )
            elif suffix in name_tag:
                yield passed(
                    record.ref,
                    f"Name tag {name_tag!r} of {record.name!r} contains {suffix!r}",
                    Name=record.name,
                    NameTag=name_tag,
                )
            else:
                yield failed(
                    record.ref,
                    f"name {record.name!r} lacks the suffix {suffix!r}",
                    Name=record.name,
                    NameTag=name_tag or None,
                )
