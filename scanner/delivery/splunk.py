"""Splunk HTTP Event Collector: batches of events, each a JSON Lines finding in an envelope.

Token: DRIFTSCAN_HEC_TOKEN, sent as ``Authorization: Splunk <token>``. HEC indexes the events
of a batch in order and, on a malformed one, answers 400 with ``invalid-event-number``: the
events before it are in, that one is rejected, the ones after it are sent again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from reports.ocsf import epoch_ms
from scanner.delivery.http import Poster
from scanner.delivery.interface import DeliveryFailed, Destination, Item, Outgoing, Rejected, Sent
from scanner.delivery.webhook import items_of

SOURCE = "driftscan"
SOURCETYPE = "driftscan:finding"


def envelope(event: Mapping[str, Any]) -> dict[str, Any]:
    """HEC's envelope around one JSON Lines finding; its time is the scan's."""
    return {
        "time": epoch_ms(event["scanned_at"]) / 1000,
        "source": SOURCE,
        "sourcetype": SOURCETYPE,
        "event": dict(event),
    }


class Hec:
    max_items = 500
    max_bytes = 512 * 1024
    """Well under HEC's request size limit (``max_content_length``)."""

    def __init__(self, destination: Destination, token: str, poster: Poster) -> None:
        assert destination.url is not None
        self.destination = destination
        self._url = destination.url
        self._token = token
        self._poster = poster
        # Required when the token has indexer acknowledgement on; harmless otherwise.
        self._channel = str(uuid.uuid4())

    def items(self, outgoing: Outgoing) -> Iterator[Item]:
        return (replace(item, payload=envelope(item.payload)) for item in items_of(outgoing))

    def send(self, batch: Sequence[Item]) -> Sent:
        body = "".join(json.dumps(item.payload, default=str) + "\n" for item in batch).encode()
        headers = {
            "Authorization": f"Splunk {self._token}",
            "Content-Type": "application/json",
            "X-Splunk-Request-Channel": self._channel,
            "User-Agent": "driftscan",
        }
        response = self._poster.post(self._url, body, headers, self.destination.label)
        if 200 <= response.status < 300:
            return Sent(settled=len(batch))
        answer = _answer(response.body)
        text = f"HTTP {response.status}: {answer.get('text', 'error')} (code {answer.get('code')})"
        invalid = answer.get("invalid-event-number")
        if response.status == 400 and isinstance(invalid, int) and 0 <= invalid < len(batch):
            return Sent(settled=invalid + 1, rejected=(Rejected(item=batch[invalid], reason=text),))
        raise DeliveryFailed(text)


def _answer(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
