"""Kinesis controls: streams encrypt with a customer-managed key and keep records long enough."""

from __future__ import annotations

from collections.abc import Iterator

from checks.kms import THE_AWS_KEY, key_manager_verdict
from scanner.engine.compliance import KINESIS_1, KINESIS_3, Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import kinesis, kms
from scanner.engine.registry import Param, Params, check
from scanner.model import (
    Outcome,
    Severity,
    failed,
    passed,
)

STREAM_KEYS = kms.keys_used_by(kinesis.streams)
"""The keys streams encrypt with, described during the prefetch."""


@check(
    id="kinesis.stream_encrypted_with_cmk",
    severity=Severity.HIGH,
    title="Kinesis streams are encrypted with a customer-managed KMS key",
    description=(
        "Each data stream has server-side encryption (EncryptionType KMS) with a "
        "customer-managed key, not the AWS-managed alias/aws/kinesis: only a customer key's "
        "policy controls who can read the records. Reads DescribeStreamSummary and, for a key "
        "not named alias/aws/..., DescribeKey. Streams being deleted are not judged."
    ),
    remediation=(
        "aws kinesis start-stream-encryption --stream-name <stream> "
        "--encryption-type KMS --key-id <customer-key-arn>"
    ),
    rationale=(
        "A customer-managed key lets you control and audit who can decrypt the stream's records."
    ),
    cfn_property=(
        "AWS::Kinesis::Stream StreamEncryption: {EncryptionType: KMS, KeyId: <customer-managed "
        "key>}"
    ),
    reads=[kinesis.streams, STREAM_KEYS],
    partial_evidence=True,  # a key that cannot be described is ERROR for the stream
    compliance=Compliance(
        stricter_than=(KINESIS_1,),
        note="also requires a customer-managed key: alias/aws/kinesis fails here only",
    ),
)
def stream_encrypted_with_cmk(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    keys = inputs[STREAM_KEYS]
    for stream in inputs[kinesis.streams]:
        kind = stream.encryption_type
        if kind != "KMS" or not stream.kms_key_id:
            message = f"stream {stream.name} is not encrypted (EncryptionType {kind})"
            yield failed(stream.ref, message, EncryptionType=kind)
            continue
        evidence = {"EncryptionType": "KMS", "KeyId": stream.kms_key_id}
        subject, key = f"stream {stream.name}", stream.kms_key_id
        yield key_manager_verdict(stream.ref, subject, key, keys, aws_key=THE_AWS_KEY, **evidence)


@check(
    id="kinesis.retention_period",
    severity=Severity.LOW,
    title="Kinesis streams retain records for the baseline's minimum",
    description=(
        "Each data stream's RetentionPeriodHours (from DescribeStreamSummary) is at least "
        "min_hours, so consumers that fall behind or fail can replay what they missed. "
        "AWS accepts 24 to 8760 hours, so at the default of 24 every stream passes; a "
        "baseline raises min_hours to require more. Streams being deleted are not judged."
    ),
    remediation=(
        "aws kinesis increase-stream-retention-period --stream-name <stream> "
        "--retention-period-hours <hours>"
    ),
    rationale=(
        "A short retention loses records when consumers fall behind or must replay after an "
        "incident."
    ),
    cfn_property="AWS::Kinesis::Stream RetentionPeriodHours",
    reads=[kinesis.streams],
    params=[
        Param(
            name="min_hours",
            default=24,
            schema={"type": "integer", "minimum": 24, "maximum": 8760},
            description="Fewest hours a stream must keep records (AWS allows 24 to 8760).",
        )
    ],
    compliance=Compliance(
        same_as=(KINESIS_3,),
        note="the minimum is the baseline's min_hours; Security Hub's default is 168 hours",
    ),
)
def retention_period(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    minimum = int(params["min_hours"])
    for stream in inputs[kinesis.streams]:
        hours = stream.retention_hours
        evidence = {"RetentionPeriodHours": hours, "min_hours": minimum}
        if hours >= minimum:
            yield passed(
                stream.ref, f"stream {stream.name} keeps records for {hours} hours", **evidence
            )
        else:
            yield failed(
                stream.ref,
                f"stream {stream.name} keeps records for {hours} hours, "
                f"below the baseline's {minimum}",
                **evidence,
            )
