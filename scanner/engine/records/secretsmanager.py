"""Secrets Manager: secret metadata from ListSecrets. Secret values are never read. Their
records and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/secretsmanager.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scanner.engine.inventory import Collector, declare
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


secrets: Collector[list[Secret]] = declare(
    "secretsmanager.secrets",
    resource_type=RESOURCE_TYPE,
    actions=["secretsmanager:ListSecrets"],
    fetch="scanner.engine.collectors.secretsmanager:secrets",
)
"""Every in-scope secret that is not scheduled for deletion (ListSecrets' default)."""
