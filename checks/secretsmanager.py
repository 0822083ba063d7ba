"""Secrets Manager controls: secrets use a customer-managed key and rotate automatically."""

from __future__ import annotations

from collections.abc import Iterator

from checks.kms import THE_AWS_KEY, key_manager_verdict
from scanner.engine.compliance import SECRETSMANAGER_1, Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import kms, secretsmanager
from scanner.engine.registry import Params, check
from scanner.model import Outcome, Severity, failed, passed

SECRET_KEYS = kms.keys_used_by(secretsmanager.secrets)
"""The keys secrets encrypt with, described during the prefetch."""


@check(
    id="secretsmanager.secret_encrypted_with_cmk",
    severity=Severity.MEDIUM,
    title="Secrets are encrypted with a customer-managed KMS key",
    description=(
        "Each secret names a customer-managed KmsKeyId. A secret without one is encrypted "
        "with the AWS-managed default key aws/secretsmanager, whose key policy cannot be "
        "narrowed and which cannot serve other accounts. Reads ListSecrets and DescribeKey "
        "(none for a key named alias/aws/...); never the secret's value. "
        "Secrets scheduled for deletion are not judged."
    ),
    remediation=(
        "aws secretsmanager update-secret --secret-id <secret> --kms-key-id <customer-key-arn>"
    ),
    rationale=(
        "With the AWS-managed key, whoever may use Secrets Manager in the account can decrypt; "
        "a customer-managed key's policy narrows that."
    ),
    cfn_property="AWS::SecretsManager::Secret KmsKeyId: <customer-managed key>",
    reads=[secretsmanager.secrets, SECRET_KEYS],
    partial_evidence=True,  # a key that cannot be described is ERROR for the secret
    compliance=Compliance.none(
        "no Security Hub control judges which key encrypts a secret (every secret is encrypted)"
    ),
)
def secret_encrypted_with_cmk(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    keys = inputs[SECRET_KEYS]
    for secret in inputs[secretsmanager.secrets]:
        subject, key = f"secret {secret.name}", secret.kms_key_id
        if key is None:
            default = secretsmanager.DEFAULT_KEY_ALIAS
            message = f"{subject} uses the default AWS-managed key {default} (no KmsKeyId set)"
            yield failed(secret.ref, message, KmsKeyId=None, KeyManager="AWS")
            continue
        yield key_manager_verdict(secret.ref, subject, key, keys, aws_key=THE_AWS_KEY, KmsKeyId=key)


@check(
    id="secretsmanager.rotation_enabled",
    severity=Severity.MEDIUM,
    title="Secrets rotate automatically",
    description=(
        "Each secret has RotationEnabled true (read from ListSecrets), so a leaked credential "
        "stops working on the next rotation. Whether the last rotation succeeded is not "
        "judged. Replica secrets are not judged: Secrets Manager rotates the primary and "
        "copies the value, so the primary's region reports it. Secrets scheduled for "
        "deletion are not judged."
    ),
    remediation=(
        "aws secretsmanager rotate-secret --secret-id <secret> "
        "--rotation-lambda-arn <function-arn> "
        "--rotation-rules AutomaticallyAfterDays=30  (or managed rotation for RDS secrets)"
    ),
    rationale="A secret that never rotates stays valid forever once it leaks.",
    cfn_property=(
        "AWS::SecretsManager::RotationSchedule SecretId, RotationRules and a rotation Lambda"
    ),
    reads=[secretsmanager.secrets],
    compliance=Compliance(same_as=(SECRETSMANAGER_1,)),
)
def rotation_enabled(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    for secret in inputs[secretsmanager.secrets]:
        if secret.is_replica_in(inputs.region):
            continue
        evidence = {
            "RotationEnabled": secret.rotation_enabled,
            "RotationSchedule": secret.rotation_schedule,
            "LastRotatedDate": secret.last_rotated,
        }
        if secret.rotation_enabled:
            schedule = f" ({secret.rotation_schedule})" if secret.rotation_schedule else ""
            yield passed(
                secret.ref, f"secret {secret.name} rotates automatically{schedule}", **evidence
            )
        else:
            yield failed(secret.ref, f"secret {secret.name} has rotation disabled", **evidence)
