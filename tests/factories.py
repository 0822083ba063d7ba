"""Records as collectors return them, with defaults for a compliant resource: a case names
only the fields it is about (``key(state="Disabled")``). No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.model import ReadError
from scanner.records import kinesis, kms, logs, rds, secretsmanager
from tests.checks.judge import ACCOUNT, REGION

ARN = f"arn:aws:{{service}}:{REGION}:{ACCOUNT}:{{resource}}"


def arn(service: str, resource: str) -> str:
    """An ARN in the test account and region."""
    return ARN.format(service=service, resource=resource)


def key_arn(key_id: str) -> str:
    return arn("kms", f"key/{key_id}")


KEY_ID = "k-cmk"
KEY_ARN = key_arn(KEY_ID)


def key(key_id: str = KEY_ID, **fields: Any) -> kms.KmsKey:
    """An enabled, customer-managed, symmetric key with KMS-made material."""
    defaults: dict[str, Any] = {
        "key_id": key_id,
        "arn": key_arn(key_id),
        "manager": "CUSTOMER",
        "state": "Enabled",
        "spec": "SYMMETRIC_DEFAULT",
        "origin": "AWS_KMS",
    }
    return kms.KmsKey(**{**defaults, **fields})


def described(
    *keys: kms.KmsKey, refs: Mapping[str, kms.KmsKey | ReadError] | None = None
) -> kms.KeyReferences:
    """The keys resources reference, each by its id and ARN, and ``refs``: keys by other
    names (an alias), or references that could not be described (a ReadError)."""
    names: dict[str, kms.KmsKey | ReadError] = {}
    for item in keys:
        names[item.key_id] = item
        names[item.arn] = item
    return kms.KeyReferences({**names, **(refs or {})})


def stream(name: str = "s1", **fields: Any) -> kinesis.Stream:
    """An active stream encrypted with the customer-managed key KEY_ARN."""
    defaults: dict[str, Any] = {
        "name": name,
        "arn": arn("kinesis", f"stream/{name}"),
        "status": "ACTIVE",
        "encryption_type": "KMS",
        "kms_key_id": KEY_ARN,
        "retention_hours": 168,
        "stream_mode": "PROVISIONED",
        "open_shard_count": 1,
    }
    return kinesis.Stream(**{**defaults, **fields})


def secret(name: str = "app/db", **fields: Any) -> secretsmanager.Secret:
    """A rotating secret encrypted with KEY_ARN."""
    defaults: dict[str, Any] = {
        "name": name,
        "arn": arn("secretsmanager", f"secret:{name}-AbCdEf"),
        "kms_key_id": KEY_ARN,
        "rotation_enabled": True,
        "rotation_lambda_arn": arn("lambda", "function:rotate"),
        "rotation_schedule": "30 days",
        "last_rotated": "2026-11-01T00:00:00+00:00",
        "owning_service": None,
        "primary_region": None,
        "tags": None,
    }
    return secretsmanager.Secret(**{**defaults, **fields})


def log_group(name: str = "/ecs/app", **fields: Any) -> logs.LogGroup:
    """A log group kept 30 days, encrypted with KEY_ARN."""
    defaults: dict[str, Any] = {
        "name": name,
        "arn": arn("logs", f"log-group:{name}"),
        "retention_days": 30,
        "kms_key_id": KEY_ARN,
    }
    return logs.LogGroup(**{**defaults, **fields})


def cluster(cluster_id: str = "main", **fields: Any) -> rds.DbCluster:
    """A compliant Aurora PostgreSQL cluster with two members, encrypted with KEY_ARN."""
    defaults: dict[str, Any] = {
        "cluster_id": cluster_id,
        "arn": arn("rds", f"cluster:{cluster_id}"),
        "name": cluster_id,
        "tags": None,
        "engine": "aurora-postgresql",
        "engine_mode": "provisioned",
        "status": "available",
        "storage_encrypted": True,
        "kms_key_id": KEY_ARN,
        "backup_retention_days": 7,
        "enabled_log_exports": ("postgresql",),
        "deletion_protection": True,
        "maintenance_window": "sun:03:00-sun:03:30",
        "member_instance_ids": (f"{cluster_id}-1", f"{cluster_id}-2"),
        "port": 5432,
        "security_group_ids": (),
    }
    return rds.DbCluster(**{**defaults, **fields})


def instance(instance_id: str = "solo", **fields: Any) -> rds.DbInstance:
    """A compliant standalone PostgreSQL instance encrypted with KEY_ARN (``cluster_id=``
    makes it a member)."""
    defaults: dict[str, Any] = {
        "instance_id": instance_id,
        "arn": arn("rds", f"db:{instance_id}"),
        "name": instance_id,
        "tags": None,
        "cluster_id": None,
        "engine": "postgres",
        "status": "available",
        "availability_zone": "us-east-1a",
        "publicly_accessible": False,
        "storage_encrypted": True,
        "kms_key_id": KEY_ARN,
        "backup_retention_days": 7,
        "enabled_log_exports": ("postgresql",),
        "deletion_protection": True,
        "maintenance_window": "sun:03:00-sun:03:30",
        "multi_az": False,
        "read_replica_source": None,
        "port": 5432,
        "security_group_ids": (),
    }
    return rds.DbInstance(**{**defaults, **fields})


def members(*zones: str | None, cluster_id: str = "main") -> tuple[rds.ClusterMember, ...]:
    """A cluster's members ``<cluster>-1``, ``<cluster>-2``... in these AZs."""
    return tuple(
        rds.ClusterMember(instance_id=f"{cluster_id}-{n}", availability_zone=zone)
        for n, zone in enumerate(zones, 1)
    )
