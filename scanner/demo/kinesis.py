"""Kinesis builders: data streams with any encryption and retention."""

from __future__ import annotations

from typing import Literal

from scanner.demo.base import DemoAccount
from scanner.demo.kms import aws_managed_key, make_key

AWS_MANAGED_ALIAS = "alias/aws/kinesis"


def make_stream(
    account: DemoAccount,
    *,
    encryption: Literal["cmk", "aws"] | None = "cmk",
    key_arn: str | None = None,
    retention_hours: int = 24,
    shards: int = 1,
    on_demand: bool = False,
    name: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """A data stream; returns its name.

    ``encryption``: ``"cmk"`` encrypts with ``key_arn`` (a new customer-managed key when
    None); ``"aws"`` with the AWS-managed key, referenced as ``alias/aws/kinesis`` (as the
    console does) unless ``key_arn`` names it otherwise; None leaves the stream unencrypted.
    ``retention_hours``: 24 (AWS's minimum and default) to 8760.
    """
    if not 24 <= retention_hours <= 8760:
        raise ValueError(f"AWS keeps Kinesis records 24 to 8760 hours, not {retention_hours}")
    kinesis = account.client("kinesis")
    name = name or account.name("stream")
    if on_demand:
        kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    else:
        kinesis.create_stream(
            StreamName=name, ShardCount=shards, StreamModeDetails={"StreamMode": "PROVISIONED"}
        )
    if retention_hours > 24:
        kinesis.increase_stream_retention_period(
            StreamName=name, RetentionPeriodHours=retention_hours
        )
    if encryption == "cmk":
        key = key_arn or make_key(account)
        kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key)
    elif encryption == "aws":
        # moto's KMS lacks alias/aws/kinesis (gap kms-reserved-alias-incomplete): made here so
        # a DescribeKey on it (kms.key_in_use_enabled) finds an AWS-managed key.
        aws_managed_key(account, "kinesis")
        kinesis.start_stream_encryption(
            StreamName=name, EncryptionType="KMS", KeyId=key_arn or AWS_MANAGED_ALIAS
        )
    if tags:
        kinesis.add_tags_to_stream(StreamName=name, Tags=tags)
    return name


def reference_kinesis(
    account: DemoAccount, *, compliant: bool, key_arn: str | None, name: str
) -> None:
    """The reference stack's data stream, called ``name``.

    Compliant: encrypted with the customer-managed ``key_arn`` (a new key when None) and
    seven days' retention. Broken: unencrypted, 24 hours' retention (AWS's minimum, so
    kinesis.retention_period fails only under a baseline with min_hours above 24);
    ``key_arn`` is then unused.
    """
    if compliant:
        make_stream(account, encryption="cmk", key_arn=key_arn, retention_hours=168, name=name)
    else:
        make_stream(account, encryption=None, retention_hours=24, name=name)
