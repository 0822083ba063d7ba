"""Kinesis data streams: ListStreams (paged by hand), then DescribeStreamSummary per stream.
Their records and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/kinesis.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scanner.engine.inventory import Collector, declare
from scanner.model import ResourceRef, UnreadableResource

SUMMARY = "stream summary"
"""What a stream listed as unreadable hides (DescribeStreamSummary or its tags)."""


RESOURCE_TYPE = "AWS::Kinesis::Stream"


@dataclass(frozen=True, kw_only=True)
class Stream:
    name: str
    arn: str
    status: str
    """``CREATING``, ``ACTIVE`` or ``UPDATING`` (``DELETING`` streams are not listed)."""
    encryption_type: str
    """``KMS`` or ``NONE``."""
    kms_key_id: str | None
    """``KeyId`` exactly as AWS returned it (alias name or ARN, key id or ARN), only when
    ``encryption_type`` is ``KMS``; ``alias/aws/kinesis`` is the AWS-managed key."""
    retention_hours: int
    stream_mode: str | None
    """``PROVISIONED`` or ``ON_DEMAND``."""
    open_shard_count: int | None
    tags: Mapping[str, str] | None = None
    """Read only when the baseline scope filters on tags."""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type=RESOURCE_TYPE, id=self.name, arn=self.arn)


@dataclass(frozen=True)
class ListedStream:
    name: str
    arn: str | None = None
    status: str | None = None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type=RESOURCE_TYPE, id=self.name, arn=self.arn)

    @property
    def selector(self) -> dict[str, str]:
        """How to name the stream in a per-stream call: the ARN when known (AWS's advice)."""
        return {"StreamARN": self.arn} if self.arn else {"StreamName": self.name}


streams: Collector[list[Stream | UnreadableResource]] = declare(
    "kinesis.streams",
    resource_type=RESOURCE_TYPE,
    actions=[
        "kinesis:ListStreams",
        "kinesis:DescribeStreamSummary",
        "kinesis:ListTagsForStream",
    ],
    fetch="scanner.engine.collectors.kinesis:streams",
)
"""Every in-scope stream with its encryption and retention; DELETING streams are skipped."""
