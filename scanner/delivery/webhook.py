"""A generic HTTPS webhook: each batch is one POST of JSON Lines (``--format jsonl`` lines).

Optional bearer token from DRIFTSCAN_WEBHOOK_TOKEN. Each request carries an
``Idempotency-Key`` (a hash of the batch's scan and finding ids), so a receiver can drop a
batch it already took when a response was lost and the batch came again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence

from reports.jsonl import line
from scanner.delivery.http import Poster
from scanner.delivery.interface import DeliveryFailed, Destination, Item, Outgoing, Sent


def idempotency_key(batch: Sequence[Item]) -> str:
    digest = hashlib.sha256()
    for item in batch:
        digest.update(f"{item.scan_id}/{item.finding_id}\n".encode())
    return digest.hexdigest()


def items_of(outgoing: Outgoing) -> Iterator[Item]:
    """Our JSON Lines objects (with who changed it, when the scan knows), one item a
    finding, made as they are read; a gone finding is marked resolved."""
    meta, attributions = outgoing.result.metadata, outgoing.result.attributions
    for f in outgoing.result.findings:
        yield Item(
            scan_id=meta.scan_id,
            finding_id=f.finding_id,
            payload=line(f, meta, attributions.get(f.finding_id)),
        )
    for f in outgoing.gone:
        yield Item(
            scan_id=meta.scan_id,
            finding_id=f.finding_id,
            payload={**line(f, meta), "resolved": True},
        )


class Webhook:
    max_items = 500
    max_bytes = 1024 * 1024

    def __init__(self, destination: Destination, token: str | None, poster: Poster) -> None:
        assert destination.url is not None
        self.destination = destination
        self._url = destination.url
        self._token = token
        self._poster = poster

    def items(self, outgoing: Outgoing) -> Iterator[Item]:
        return items_of(outgoing)

    def send(self, batch: Sequence[Item]) -> Sent:
        body = "".join(json.dumps(item.payload, default=str) + "\n" for item in batch).encode()
        headers = {
            "Content-Type": "application/x-ndjson",
            "Idempotency-Key": idempotency_key(batch),
            "User-Agent": "driftscan",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        response = self._poster.post(self._url, body, headers, self.destination.label)
        if not 200 <= response.status < 300:
            raise DeliveryFailed(f"HTTP {response.status}")
        return Sent(settled=len(batch))
