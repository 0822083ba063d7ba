"""KMS builders: customer-managed keys in any state, and AWS-managed keys."""

from __future__ import annotations

from scanner.demo.base import DemoAccount


def make_key(
    account: DemoAccount,
    *,
    rotation: bool = True,
    state: str = "Enabled",
    spec: str = "SYMMETRIC_DEFAULT",
    alias: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """A customer-managed key; returns its ARN. ``state``: Enabled, Disabled, PendingDeletion."""
    kms = account.client("kms")
    usage = {"ECC": "SIGN_VERIFY", "HMA": "GENERATE_VERIFY_MAC"}.get(spec[:3], "ENCRYPT_DECRYPT")
    meta = kms.create_key(
        KeySpec=spec,
        KeyUsage=usage,
        Tags=[{"TagKey": k, "TagValue": v} for k, v in (tags or {}).items()],
    )["KeyMetadata"]
    key_id = meta["KeyId"]
    if rotation:
        kms.enable_key_rotation(KeyId=key_id)
    if alias:
        kms.create_alias(AliasName=f"alias/{alias}", TargetKeyId=key_id)
    if state == "Disabled":
        kms.disable_key(KeyId=key_id)
    elif state == "PendingDeletion":
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return str(meta["Arn"])


def aws_managed_key(account: DemoAccount, service: str) -> str:
    """The AWS-managed key ``alias/aws/<service>``; returns its ARN.

    moto has no AWS-managed keys (gap kms-no-aws-managed-keys): made by backend patch.
    """
    backend = account.backend("kms")
    alias = f"alias/aws/{service}"
    # Not get_key_id_from_alias: for reserved aliases it creates a CUSTOMER key.
    for key in backend.keys.values():
        if alias in key.aliases:
            return str(key.arn)
    key = backend.create_key(
        policy=None,
        key_usage="ENCRYPT_DECRYPT",
        key_spec="SYMMETRIC_DEFAULT",
        description=f"Default key that protects my {service} data when no other key is defined",
        tags=None,
    )
    key.key_manager = "AWS"
    key.key_rotation_status = True
    backend.create_alias(key.id, alias)
    return str(key.arn)
