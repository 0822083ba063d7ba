"""Secrets Manager: secret metadata from ListSecrets. Secret values are never read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records.secretsmanager import Secret


def secrets(scope: RegionScope) -> list[Secret]:
    """Every in-scope secret that is not scheduled for deletion (ListSecrets' default).

    ListSecrets returns each secret's key, rotation settings and tags, so no per-secret
    call is made; GetSecretValue is never called.
    """
    listed = []
    for entry in scope.pages("secretsmanager", "list_secrets", "SecretList"):
        if entry.get("DeletedDate"):
            continue  # only listed with IncludePlannedDeletion, which is not asked for
        secret = _secret(entry)
        if scope.scope.includes(secret.name, secret.tags):
            listed.append(secret)
    return listed


def _secret(entry: Mapping[str, Any]) -> Secret:
    rules = entry.get("RotationRules") or {}
    schedule = rules.get("ScheduleExpression") or (
        f"every {rules['AutomaticallyAfterDays']} days"
        if rules.get("AutomaticallyAfterDays")
        else None
    )
    rotated: Any = entry.get("LastRotatedDate")
    return Secret(
        name=str(entry["Name"]),
        arn=str(entry["ARN"]),
        kms_key_id=entry.get("KmsKeyId") or None,
        rotation_enabled=bool(entry.get("RotationEnabled")),
        rotation_lambda_arn=entry.get("RotationLambdaARN") or None,
        rotation_schedule=schedule,
        last_rotated=rotated.isoformat() if isinstance(rotated, datetime) else rotated,
        owning_service=entry.get("OwningService"),
        primary_region=entry.get("PrimaryRegion"),
        tags={str(tag["Key"]): str(tag.get("Value", "")) for tag in entry.get("Tags", [])},
    )
