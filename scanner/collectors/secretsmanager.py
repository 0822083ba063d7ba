"""Secrets Manager: secret metadata from ListSecrets. Secret values are never read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scanner.inventory import RegionScope, collector
from scanner.model import ResourceRef

RESOURCE_TYPE = "AWS::SecretsManager::Secret"

DEFAULT_KEY_ALIAS = "alias/aws/secretsmanager"
"""The AWS-managed key a secret uses when it names no KmsKeyId."""


@dataclass(frozen=True, kw_only=True)
class Secret:
    name: str
    arn: str
    kms_key_id: str | None
    """``KmsKeyId`` exactly as AWS returned it; None when the secret uses the default
    AWS-managed key ``aws/secretsmanager`` (ListSecrets then omits the field)."""
    rotation_enabled: bool
    rotation_lambda_arn: str | None
    rotation_schedule: str | None
    """``AutomaticallyAfterDays`` or ``ScheduleExpression`` of RotationRules, for messages."""
    last_rotated: str | None
    """ISO 8601, or None when never rotated."""
    owning_service: str | None
    """Set when another service (RDS, ...) created and manages the secret."""
    primary_region: str | None
    """The region the secret was created in; a replica's differs from its own region."""
    tags: Mapping[str, str] | None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type=RESOURCE_TYPE, id=self.name, arn=self.arn)

    def is_replica_in(self, region: str) -> bool:
        return bool(self.primary_region) and self.primary_region != region


@collector(
    name="secretsmanager.secrets",
    resource_type=RESOURCE_TYPE,
    actions=["secretsmanager:ListSecrets"],
)
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
