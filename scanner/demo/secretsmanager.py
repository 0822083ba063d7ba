"""Secrets Manager builders: secrets with or without a customer key and rotation."""

from __future__ import annotations

from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key

FAKE_SECRET_VALUE = '{"username": "app", "password": "not-a-real-password"}'
"""Every built secret holds this fixed, fake value; the scanner never reads it."""

ROTATED_AT = 1767225600
"""2026-01-01T00:00:00Z: every rotating secret's LastRotatedDate (epoch seconds)."""


def make_secret(
    account: DemoAccount,
    *,
    key_arn: str | None = None,
    rotation: bool = True,
    rotation_days: int = 30,
    name: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """A secret; returns its name.

    ``key_arn`` None leaves the secret on the default AWS-managed key aws/secretsmanager
    (ListSecrets then omits KmsKeyId). ``rotation`` turns on scheduled rotation without a
    rotation function, which moto accepts (gap secrets-rotation-without-lambda); a made-up
    Lambda ARN is never passed (gap secrets-failed-rotate-keeps-lambda).
    """
    client = account.client("secretsmanager")
    name = name or account.name("secret")
    params: dict[str, object] = {"Name": name, "SecretString": FAKE_SECRET_VALUE}
    if key_arn:
        params["KmsKeyId"] = key_arn
    if tags:
        params["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
    client.create_secret(**params)
    if rotation:
        client.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": rotation_days})
        # moto stamps the build's clock, and the snapshot records last_rotated: a fixed instant
        # keeps two builds of one account identical (no drift between two demo scans).
        account.backend("secretsmanager").secrets[name].last_rotation_date = ROTATED_AT
    return name


def reference_secretsmanager(
    account: DemoAccount, *, compliant: bool, key_arn: str | None, name: str
) -> None:
    """The reference stack's database secret, called ``name``.

    Compliant: encrypted with the customer-managed ``key_arn`` (a new key when None) and
    rotating every 30 days. Broken: on the default aws/secretsmanager key with rotation
    off; ``key_arn`` is then unused.
    """
    if compliant:
        make_secret(account, key_arn=key_arn or make_key(account), rotation=True, name=name)
    else:
        make_secret(account, key_arn=None, rotation=False, name=name)
