"""Amazon S3 and Amazon Security Lake: each scan's findings as objects, one per account and
region, each written completely or not at all.

``s3://BUCKET/PREFIX`` (``?format=jsonl|ocsf|asff``, default jsonl): gzip-compressed lines,
under a key that sorts by time and names the scan, the account and the region::

    PREFIX/2026/12/07/20261207T120000Z_<scan id>_<account>_<region>.jsonl.gz

(``.ocsf.jsonl.gz``, ``.asff.jsonl.gz`` for the other formats). ``security-lake://BUCKET/
ext/SOURCE``: OCSF 1.3.0 Compliance Finding events as Parquet, in the partitions a custom
source writes (``scanner.delivery.security_lake``).

An object of up to MULTIPART_THRESHOLD bytes is one PutObject; a larger one is a multipart
upload that is completed only when every part is in, and aborted on any failure. Either way
the object is whole or absent, and the item (the object's records) stays in the spool until
S3 took it: sending it again writes the same key.

The client is a plain boto3 S3 client built here, from a botocore session of its own that
borrows the scan session's credentials: the scan's clients are built from read-only API
models (``scanner.engine.session``) and record every request they make, and this one writes.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import boto3
import botocore.credentials
import botocore.session
from botocore.config import Config

from reports import asff, ocsf
from reports.jsonl import line
from scanner.delivery import security_lake
from scanner.delivery.interface import (
    DeliveryFailed,
    Destination,
    Item,
    Kind,
    Outgoing,
    RecordFormat,
    Sent,
)
from scanner.engine.inventory import read_error
from scanner.engine.session import AWS_FAILURES, CONNECT_TIMEOUT_SECONDS, AwsSession
from scanner.model import Finding, ScanMetadata
from scanner.store.scratch import grouped

MULTIPART_THRESHOLD = 8 * 1024 * 1024
"""Bodies larger than this go up in parts: one failed request then costs a part, not all."""
PART_SIZE = 8 * 1024 * 1024
"""S3 takes parts of 5 MiB or more (the last one may be smaller)."""
ATTEMPTS = 5
"""Total attempts of one S3 request (botocore's standard retries: throttling, 5xx)."""
DEFAULT_REGION = "us-east-1"
"""Where the client starts when the session names no region; botocore follows S3's
redirect to the bucket's own region."""

Record = dict[str, Any]
Attribution = Mapping[str, Any] | None
Renderer = Callable[[Finding, ScanMetadata, Attribution], Record]
"""One finding of the scan, with who changed it when the scan knows, as one record."""
GoneRenderer = Callable[[Finding, ScanMetadata], Record]
"""One finding of an earlier scan that is gone, as one record."""

_RECORDS: dict[RecordFormat, tuple[Renderer, GoneRenderer, str]] = {
    RecordFormat.JSONL: (line, lambda f, meta: {**line(f, meta), "resolved": True}, "jsonl"),
    RecordFormat.OCSF: (
        ocsf.event,
        lambda f, meta: ocsf.closed(ocsf.event(f, meta)),
        "ocsf.jsonl",
    ),
    RecordFormat.ASFF: (
        lambda f, meta, attribution: asff.document(f, meta, attribution=attribution),
        lambda f, meta: asff.document(f, meta, archived=True),
        "asff.jsonl",
    ),
}


class _ScanCredentials(botocore.credentials.CredentialProvider):
    """The scan session's credentials (refreshed as they are for the scan: assumed roles,
    SSO)."""

    METHOD = "driftscan-scan-session"
    CANONICAL_NAME = "DriftscanScanSession"

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> botocore.credentials.Credentials:
        return self._credentials


def s3_client(session: AwsSession) -> Any:
    """A plain S3 client (the full API model) with the scan session's credentials, or the
    default chain's when the scan session has none yet."""
    scan = session.boto_session
    own = botocore.session.get_session()
    credentials = scan.get_credentials()
    if credentials is not None:
        own.register_component(
            "credential_provider",
            botocore.credentials.CredentialResolver([_ScanCredentials(credentials)]),
        )
    return boto3.Session(botocore_session=own).client(
        "s3",
        region_name=scan.region_name or DEFAULT_REGION,
        endpoint_url=session.options.endpoint_url,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
            connect_timeout=min(CONNECT_TIMEOUT_SECONDS, session.timeout),
            read_timeout=session.timeout,
            user_agent_extra="driftscan",
        ),
    )


class ObjectWriter:
    """Writes whole objects: one PutObject, or a multipart upload aborted on failure."""

    def __init__(
        self,
        session: AwsSession,
        sse_kms_key: str | None = None,
        *,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ) -> None:
        self._session = session
        self.sse_kms_key = sse_kms_key
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """Built on first use: a scan that sends nothing builds none."""
        with self._lock:
            if self._client is None:
                self._client = s3_client(self._session)
            return self._client

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        """Raises DeliveryFailed (safe to print) when S3 did not take the whole object."""
        extra: dict[str, Any] = {"ContentType": content_type}
        if self.sse_kms_key is not None:
            extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.sse_kms_key}
        action = "s3:PutObject"
        try:
            if len(body) <= self.multipart_threshold:
                self.client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            else:
                self._multipart(bucket, key, body, extra)
        except AWS_FAILURES as exc:
            error = read_error(exc, action)
            raise DeliveryFailed(
                f"{action} s3://{bucket}/{key}: {error.code}: {error.detail}".rstrip(": ")
            ) from None

    def _multipart(self, bucket: str, key: str, body: bytes, extra: Mapping[str, Any]) -> None:
        client = self.client
        where = {"Bucket": bucket, "Key": key}
        upload_id = client.create_multipart_upload(**where, ChecksumAlgorithm="CRC32", **extra)[
            "UploadId"
        ]
        try:
            parts = []
            for number, start in enumerate(range(0, len(body), self.part_size), start=1):
                answer = client.upload_part(
                    **where,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body[start : start + self.part_size],
                    ChecksumAlgorithm="CRC32",
                )
                parts.append(
                    {
                        "PartNumber": number,
                        "ETag": answer["ETag"],
                        "ChecksumCRC32": answer["ChecksumCRC32"],
                    }
                )
            client.complete_multipart_upload(
                **where, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # The parts already sent would otherwise stay (and be billed) until a lifecycle
            # rule removes them. If the abort fails too, the upload's own error is the news.
            with contextlib.suppress(*AWS_FAILURES):
                client.abort_multipart_upload(**where, UploadId=upload_id)
            raise


def stamp(meta: ScanMetadata) -> datetime:
    """When the scan finished (the time every record of it carries)."""
    return datetime.fromisoformat(meta.finished_at.replace("Z", "+00:00"))


class Objects:
    """``s3://`` and ``security-lake://`` destinations: an item is one object."""

    max_items = 1
    max_bytes = 0
    """Unused: one item, one object, one batch."""

    def __init__(self, destination: Destination, writer: ObjectWriter) -> None:
        assert destination.bucket is not None
        self.destination = destination
        self.writer = writer
        self._bucket = destination.bucket

    def items(self, outgoing: Outgoing) -> Iterator[Item]:
        """An item per object, made one at a time: the records wait in a scratch table
        until their object's turn (scanner.store.scratch.grouped)."""
        meta = outgoing.result.metadata
        if self.destination.kind is Kind.SECURITY_LAKE:
            records = security_lake.events(outgoing, self.destination.prefix)
        else:
            records = self._records(outgoing)
        for key, group in grouped(records):
            if self.destination.kind is Kind.SECURITY_LAKE:
                security_lake.in_time_order(group)
            yield Item(
                scan_id=meta.scan_id,
                finding_id=key,
                payload={"key": key, "records": group},
                findings=len(group),
            )

    def _records(self, outgoing: Outgoing) -> Iterator[tuple[str, Record]]:
        """Each record and the key of its object: one object per account and region."""
        meta = outgoing.result.metadata
        render, render_gone, extension = _RECORDS[self.destination.record_format]
        attributions = outgoing.result.attributions
        at = stamp(meta)
        folder = f"{self.destination.prefix}{at:%Y/%m/%d}/{at:%Y%m%dT%H%M%SZ}_{meta.scan_id}"
        for f in outgoing.result.findings:
            key = f"{folder}_{f.account_id}_{f.region}.{extension}.gz"
            yield key, render(f, meta, attributions.get(f.finding_id))
        for f in outgoing.gone:
            key = f"{folder}_{f.account_id}_{f.region}.{extension}.gz"
            yield key, render_gone(f, meta)

    def send(self, batch: Sequence[Item]) -> Sent:
        [item] = batch
        key, records = str(item.payload["key"]), item.payload["records"]
        if self.destination.kind is Kind.SECURITY_LAKE:
            body, content_type = security_lake.parquet(records), security_lake.CONTENT_TYPE
        else:
            body, content_type = json_lines_gz(records), "application/gzip"
        self.writer.put(self._bucket, key, body, content_type)
        return Sent(settled=1)


def json_lines_gz(records: Iterable[Mapping[str, Any]]) -> bytes:
    """One JSON object a line, gzip-compressed; no timestamp in the gzip header, so that the
    same records make the same bytes when an object is sent again."""
    text = "".join(json.dumps(record, default=str) + "\n" for record in records)
    return gzip.compress(text.encode(), mtime=0)
