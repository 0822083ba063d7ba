"""The delivery extension point: what a transport is given and what it answers.

A transport (one module per kind of destination: http, splunk, webhook, securityhub, s3)
turns what a run sends (``Outgoing``) into ``Item``s and sends them in batches; the spool
and ``scanner.delivery.deliver`` do the rest (order, retries across runs, reports). The
transports and the spool import this module, never ``scanner.delivery`` itself, which
imports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from scanner.model import Finding, ScanResult

EACH_REGION = "(each finding's region)"


class Kind(StrEnum):
    SPLUNK_HEC = "splunk-hec"
    WEBHOOK = "webhook"
    SECURITYHUB = "securityhub"
    S3 = "s3"
    SECURITY_LAKE = "security-lake"


class RecordFormat(StrEnum):
    """What an ``s3://`` destination's objects hold, one record a line."""

    JSONL = "jsonl"
    """Our JSON Lines findings (``--format jsonl``)."""
    OCSF = "ocsf"
    """OCSF Compliance Finding events (``--format ocsf --jsonl``)."""
    ASFF = "asff"
    """ASFF findings (``--format asff --jsonl``)."""


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where ``--send`` delivers: an HTTPS URL, or Security Hub in one region or each finding's."""

    kind: Kind
    url: str | None = None
    region: str | None = None
    """Security Hub region for every finding; None: each finding's own region."""
    bucket: str | None = None
    """The S3 bucket of an ``s3://`` or ``security-lake://`` destination."""
    prefix: str = ""
    """Where in the bucket objects go: empty, or ending with ``/``."""
    record_format: RecordFormat = RecordFormat.JSONL
    """What an ``s3://`` destination's objects hold."""

    @property
    def label(self) -> str:
        """Safe to print: scheme, host and port only (a webhook path may hold a secret)."""
        if self.bucket is not None:
            return f"{self.kind.value} {self.kind.value}://{self.bucket}/{self.prefix}"
        if self.url is None:
            return f"{self.kind.value} {self.region or EACH_REGION}"
        parts = urlsplit(self.url)
        return f"{self.kind.value} {parts.scheme}://{parts.netloc}"

    @property
    def key(self) -> str:
        """Identity of the destination; names its spool file (holds no token)."""
        return f"{self.kind.value} {self.url or self.region or '*'}"


@dataclass(frozen=True, kw_only=True)
class Item:
    """One finding, rendered for one destination."""

    scan_id: str
    finding_id: str
    """For an object (S3, Security Lake): the object's key."""
    payload: Mapping[str, Any]
    findings: int = 1
    """How many findings the item carries: an object carries those of one account and
    region."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.scan_id, self.finding_id)

    def size(self) -> int:
        return len(json.dumps(self.payload, separators=(",", ":"), default=str))


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """An item the destination refused for good (resending would not help)."""

    item: Item
    reason: str


@dataclass(frozen=True, kw_only=True)
class Sent:
    """What one send settled: the first ``settled`` items of the batch, some rejected.
    The rest of the batch goes back to the front of the queue."""

    settled: int
    rejected: tuple[Rejected, ...] = ()


class DeliveryFailed(Exception):
    """A batch could not be delivered after the retries; the destination is given up for
    this run. The message is safe to print (no token, no URL path)."""


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """What one run sends: a scan's findings (all, or only the changed ones), and findings
    of the previous scan of the same scope that are gone (their resource was deleted or
    left the scope): those are resolved."""

    result: ScanResult
    gone: tuple[Finding, ...] = ()


class Transport(Protocol):
    destination: Destination
    max_items: int
    max_bytes: int

    def items(self, outgoing: Outgoing) -> Iterable[Item]:
        """The outgoing findings as this destination's items, made as they are read (a
        scan's items are never all in memory: they go to the spool file first)."""
        ...

    def send(self, batch: Sequence[Item]) -> Sent: ...
