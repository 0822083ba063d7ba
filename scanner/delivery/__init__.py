"""Send findings to SIEMs and Security Hub, losing none.

Every destination renders findings into items (one payload per finding, keyed by scan id
and finding id) and sends them in batches. Before sending, the destination's spool file
is rewritten to hold every item still owed (last run's leftovers first, then this run's),
written as the items are made; the batches are then read back from it, so a destination
never holds a scan's items in memory, only a batch. After sending, it is rewritten to hold
only what was not delivered. A destination that is
down therefore costs nothing but time: its items are sent first by the next run, and an
item is never queued twice (same scan id and finding id). A crash between a send and the
rewrite can re-send one run's items (at-least-once), never lose them.

An S3 or Security Lake destination's item is one whole object (the findings of one account
and region), so an object is written completely or stays owed, and sending it again
overwrites the same key.
"""

from __future__ import annotations

import itertools
import logging
import re
import ssl
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, assert_never
from urllib.parse import parse_qs, urlsplit

from scanner.delivery import http, s3, security_lake, securityhub, splunk, webhook
from scanner.delivery.http import RetryPolicy
from scanner.delivery.interface import (
    DeliveryFailed,
    Destination,
    Item,
    Kind,
    Outgoing,
    RecordFormat,
    Rejected,
    Sent,
    Transport,
)
from scanner.delivery.spool import Spool
from scanner.errors import EXIT_DELIVERY_PENDING, EXIT_INCOMPLETE, EXIT_OK, ConfigError
from scanner.model import Finding, ScanResult, Status
from scanner.textsafe import clip, count

if TYPE_CHECKING:
    from scanner.engine.session import AwsSession

log = logging.getLogger(__name__)

HEC_TOKEN_ENV = "DRIFTSCAN_HEC_TOKEN"
WEBHOOK_TOKEN_ENV = "DRIFTSCAN_WEBHOOK_TOKEN"
HEC_DEFAULT_PORT = 8088
HEC_EVENT_PATH = "/services/collector/event"

DESTINATION_FORMS = (
    "splunk-hec://HOST[:PORT], https://HOST[:PORT]/services/collector[/event] (Splunk HEC), "
    "https://... (webhook), securityhub or securityhub:REGION, "
    "s3://BUCKET[/PREFIX][?format=jsonl|ocsf|asff], security-lake://BUCKET/ext/SOURCE"
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
"""S3's rules for a general purpose bucket's name (lower case, 3 to 63 characters)."""
_LAKE_LOCATION = re.compile(r"^ext/[A-Za-z0-9_.:-]{1,64}(/[A-Za-z0-9_.-]{1,64})?/$")
"""A custom source's location in a Security Lake bucket: ``ext/SOURCE/`` (newer lakes add
the source's version: ``ext/SOURCE/VERSION/``)."""


def parse_destination(text: str) -> Destination:
    """Parse one ``--send`` value; bad input is a ConfigError naming the accepted forms."""
    value = text.strip()
    if value.startswith(("s3://", "security-lake://")):
        return _bucket_destination(text, value)
    if value in ("securityhub", "securityhub://"):
        return Destination(kind=Kind.SECURITYHUB)
    for prefix in ("securityhub://", "securityhub:"):
        if value.startswith(prefix):
            region = value.removeprefix(prefix).strip("/")
            if not _REGION.match(region):
                raise ConfigError(f"--send {text}: {region!r} is not a region name")
            return Destination(kind=Kind.SECURITYHUB, region=region)
    try:
        parts = urlsplit(value)
        (parts.hostname or "").encode("idna")
    except (ValueError, UnicodeError) as exc:  # an unclosed [IPv6, a host name's label > 63
        # Not echoed: the parts of a URL that does not parse cannot be told from its secrets.
        raise ConfigError(f"--send: malformed URL ({exc}); expected {DESTINATION_FORMS}") from None
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ConfigError(f"--send {_safe(parts)}: the URL holds spaces or control characters")
    if parts.scheme == "http":
        raise ConfigError(
            f"--send {_safe(parts)}: plain http would send findings and tokens unencrypted; "
            "use https (and --ca-bundle for a private CA)"
        )
    if parts.scheme not in ("https", "splunk-hec") or not parts.hostname:
        raise ConfigError(f"--send {_safe(parts)}: expected {DESTINATION_FORMS}")
    if parts.username or parts.password:
        raise ConfigError(
            f"--send {_safe(parts)}: credentials do not belong in the URL; "
            f"set {HEC_TOKEN_ENV} or {WEBHOOK_TOKEN_ENV}"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"--send {_safe(parts)}: {exc}") from exc
    if parts.scheme == "splunk-hec":
        netloc = f"{parts.hostname}:{port or HEC_DEFAULT_PORT}"
        return Destination(kind=Kind.SPLUNK_HEC, url=f"https://{netloc}{HEC_EVENT_PATH}")
    if parts.path.rstrip("/") in ("/services/collector", HEC_EVENT_PATH):
        return Destination(kind=Kind.SPLUNK_HEC, url=parts._replace(path=HEC_EVENT_PATH).geturl())
    return Destination(kind=Kind.WEBHOOK, url=value)


def _bucket_destination(text: str, value: str) -> Destination:
    """``s3://BUCKET[/PREFIX][?format=F]`` or ``security-lake://BUCKET/ext/SOURCE``."""
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ConfigError(f"--send {clip(text)}: holds spaces or control characters")
    parts = urlsplit(value)
    kind = Kind(parts.scheme)
    if not _BUCKET.match(parts.netloc):
        raise ConfigError(f"--send {clip(text)}: {parts.netloc!r} is not an S3 bucket name")
    prefix = parts.path.strip("/") + "/" if parts.path.strip("/") else ""
    if "//" in prefix or any(segment in (".", "..") for segment in prefix.split("/")):
        raise ConfigError(f"--send {clip(text)}: the prefix has an empty, . or .. segment")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    if parts.fragment or set(query) - ({"format"} if kind is Kind.S3 else set()):
        expected = "?format=jsonl|ocsf|asff" if kind is Kind.S3 else "no query"
        raise ConfigError(f"--send {clip(text)}: expected {expected} after the prefix")
    if kind is Kind.SECURITY_LAKE:
        if not _LAKE_LOCATION.match(prefix):
            raise ConfigError(
                f"--send {clip(text)}: expected security-lake://BUCKET/ext/SOURCE, the "
                "location Security Lake gave the custom source"
            )
        return Destination(
            kind=kind,
            url=f"{kind.value}://{parts.netloc}/{prefix}",
            bucket=parts.netloc,
            prefix=prefix,
        )
    [name] = query.get("format", [RecordFormat.JSONL.value])[-1:]
    try:
        record_format = RecordFormat(name)
    except ValueError:
        raise ConfigError(
            f"--send {clip(text)}: format {name!r} is not one of jsonl, ocsf, asff"
        ) from None
    return Destination(
        kind=kind,
        url=f"s3://{parts.netloc}/{prefix}?format={record_format.value}",
        bucket=parts.netloc,
        prefix=prefix,
        record_format=record_format,
    )


def _safe(parts: Any) -> str:
    """A URL for an error message: never its path, query or credentials."""
    host = parts.hostname or ""
    return clip(f"{parts.scheme}://{host}") if parts.scheme else "(not a URL)"


def outgoing(
    result: ScanResult, previous: Iterable[Finding] | None, *, only_changes: bool
) -> Outgoing:
    """What to send: with ``only_changes``, only findings that are new or whose status or
    message changed since the previous scan of the scope (all of them without one), and
    either way, once, the previous findings that are gone, except where a control could not
    read everything in that region (an ERROR finding): absence proves nothing there.

    ``previous`` (that scan's findings, as they stream from the store) is read once; only
    ids, statuses and messages are kept of it, and the gone findings."""
    if previous is None:
        return Outgoing(result=result)
    now: set[str] = set()
    erred: set[tuple[str, str, str]] = set()
    for f in result.findings:
        now.add(f.finding_id)
        if f.status is Status.ERROR:
            erred.add((f.check_id, f.account_id, f.region))
    before: dict[str, tuple[Status, str]] = {}
    gone = []
    for f in previous:
        if only_changes:
            before[f.finding_id] = (f.status, f.message)
        if f.finding_id not in now and (f.check_id, f.account_id, f.region) not in erred:
            gone.append(f)
    findings: Sequence[Finding] = result.findings
    if only_changes:
        findings = tuple(
            f for f in result.findings if before.get(f.finding_id) != (f.status, f.message)
        )
    return Outgoing(result=replace(result, findings=findings), gone=tuple(gone))


@dataclass(frozen=True, kw_only=True)
class DeliveryOptions:
    ca_bundle: Path | None = None
    """Extra CA certificates (PEM) to trust; the system's are always trusted."""
    session: AwsSession | None = None
    """Credentials for Security Hub, S3 and Security Lake."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Where tokens are read from (the process environment)."""
    retry: RetryPolicy | None = None
    """Retries of HTTP destinations; None: ``scanner.delivery.http.DEFAULT_RETRY``."""
    sse_kms_key: str | None = None
    """``--sse-kms-key``: encrypt S3 and Security Lake objects with this KMS key (SSE-KMS);
    None: the bucket's default encryption."""


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification on, always; ``ca_bundle`` adds CAs to the system's."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"--ca-bundle {ca_bundle}: cannot load CA certificates: {exc}"
            ) from exc
    return context


def check_destinations(values: Sequence[str], options: DeliveryOptions) -> list[Destination]:
    """Parse every ``--send`` value and check what it needs besides AWS credentials (its
    token, the CA bundle, pyarrow): nothing is opened, so this runs before credentials are
    looked for."""
    destinations = [parse_destination(value) for value in values]
    if options.sse_kms_key is not None and not any(d.bucket for d in destinations):
        raise ConfigError("--sse-kms-key applies to s3:// and security-lake:// destinations")
    if destinations:
        tls_context(options.ca_bundle)
    for destination in destinations:
        if destination.kind is Kind.SPLUNK_HEC and not options.env.get(HEC_TOKEN_ENV):
            raise ConfigError(f"--send {destination.label} needs {HEC_TOKEN_ENV} set")
        if destination.kind is Kind.SECURITY_LAKE:
            security_lake.require_pyarrow()
    return destinations


def open_transports(values: Sequence[str], options: DeliveryOptions) -> list[Transport]:
    """Check every ``--send`` value (``check_destinations``) and open its transport."""
    destinations = check_destinations(values, options)
    if not destinations:
        return []
    tls = tls_context(options.ca_bundle)
    retry = options.retry or http.DEFAULT_RETRY
    transports: list[Transport] = []
    for destination in destinations:
        match destination.kind:
            case Kind.SPLUNK_HEC:
                token = options.env[HEC_TOKEN_ENV]
                transports.append(splunk.Hec(destination, token, http.Poster(tls, retry)))
            case Kind.WEBHOOK:
                transports.append(
                    webhook.Webhook(
                        destination, options.env.get(WEBHOOK_TOKEN_ENV), http.Poster(tls, retry)
                    )
                )
            case Kind.SECURITYHUB:
                if options.session is None:
                    raise ConfigError(f"--send {destination.label} needs AWS credentials")
                transports.append(securityhub.SecurityHub(destination, options.session))
            case Kind.S3 | Kind.SECURITY_LAKE:
                if options.session is None:
                    raise ConfigError(f"--send {destination.label} needs AWS credentials")
                transports.append(
                    s3.Objects(destination, s3.ObjectWriter(options.session, options.sse_kms_key))
                )
            case _:
                assert_never(destination.kind)
    return transports


class ItemQueue:
    """Items read as they are needed, and the ones a batch did not settle put back in
    front: a destination's queue is the spool file, never all in memory."""

    def __init__(self, items: Iterable[Item]) -> None:
        self._front: deque[Item] = deque()
        self._rest = iter(items)

    def __bool__(self) -> bool:
        return self.peek() is not None

    def peek(self) -> Item | None:
        if not self._front:
            following = next(self._rest, None)
            if following is None:
                return None
            self._front.append(following)
        return self._front[0]

    def popleft(self) -> Item:
        self.peek()
        return self._front.popleft()

    def put_back(self, items: Sequence[Item]) -> None:
        self._front.extendleft(reversed(items))

    def rest(self) -> Iterator[Item]:
        """Every item not taken, in order (each once)."""
        while self._front:
            yield self._front.popleft()
        yield from self._rest


def take_batch(queue: ItemQueue, max_items: int, max_bytes: int) -> list[Item]:
    """Take the next batch off the queue: at most ``max_items`` items and ``max_bytes``
    bytes of payload (a single larger item goes alone)."""
    batch: list[Item] = []
    size = 0
    while len(batch) < max_items and (following := queue.peek()) is not None:
        item_size = following.size()
        if batch and size + item_size > max_bytes:
            break
        batch.append(queue.popleft())
        size += item_size
    return batch


@dataclass(frozen=True, kw_only=True)
class DeliveryReport:
    label: str
    delivered: int
    rejected: tuple[Rejected, ...]
    pending: int
    """Items left in the spool for the next run."""
    spool: Path
    error: str | None = None
    """Why delivery stopped early."""

    @property
    def complete(self) -> bool:
        return not self.pending and not self.rejected


def unique(items: Iterable[Item]) -> Iterator[Item]:
    """First occurrence of each (scan id, finding id), in order."""
    seen: set[tuple[str, str]] = set()
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            yield item


def deliver(
    findings: Outgoing, transports: Sequence[Transport], spool_dir: Path
) -> list[DeliveryReport]:
    """Send to every destination, spooled items first. A destination's failure never
    raises: its report says what is pending."""
    return [
        _deliver_one(
            transport, transport.items(findings), Spool.of(spool_dir, transport.destination)
        )
        for transport in transports
    ]


def _deliver_one(transport: Transport, new_items: Iterable[Item], spool: Spool) -> DeliveryReport:
    label = transport.destination.label
    with spool.locked():
        owed = 0

        def counted(items: Iterable[Item]) -> Iterator[Item]:
            nonlocal owed
            for item in items:
                owed += 1
                yield item

        # The whole queue goes to the spool file as the items are made, and is read back
        # from it: from here on a crash loses nothing, and no destination holds it all.
        spool.save(unique(itertools.chain(counted(spool.items()), new_items)))
        if owed:
            log.info("%s: %d findings spooled by an earlier run go first", label, owed)
        queue = ItemQueue(spool.items())
        delivered = 0
        rejected: list[Rejected] = []
        error = None
        while batch := take_batch(queue, transport.max_items, transport.max_bytes):
            try:
                sent = transport.send(batch)
            except DeliveryFailed as exc:
                queue.put_back(batch)
                error = str(exc)
                log.warning("%s: %s", label, error)
                break
            if not 0 < sent.settled <= len(batch):
                raise AssertionError(f"{label}: settled {sent.settled} of {len(batch)}")
            queue.put_back(batch[sent.settled :])
            rejected.extend(sent.rejected)
            delivered += findings_in(batch[: sent.settled]) - findings_in(
                r.item for r in sent.rejected
            )
        pending = spool.save(queue.rest())
    log.info(
        "%s: %d findings delivered, %d rejected, %d pending",
        label,
        delivered,
        findings_in(r.item for r in rejected),
        pending,
    )
    return DeliveryReport(
        label=label,
        delivered=delivered,
        rejected=tuple(rejected),
        pending=pending,
        spool=spool.path,
        error=error,
    )


def findings_in(items: Iterable[Item]) -> int:
    return sum(item.findings for item in items)


def problems(reports: Iterable[DeliveryReport]) -> list[str]:
    """One line for each destination that did not take everything."""
    lines = []
    for report in reports:
        if report.pending:
            lines.append(
                f"{count(report.pending, 'finding')} pending delivery to {report.label} "
                f"({report.error}); spooled in {report.spool}, sent first next run"
            )
        if report.rejected:
            first = report.rejected[0].reason
            lines.append(
                f"{count(findings_in(r.item for r in report.rejected), 'finding')} rejected by "
                f"{report.label} (not retried), first: {first}"
            )
    return lines


def exit_code(scan_code: int, reports: Iterable[DeliveryReport]) -> int:
    """The scan's own exit code, unless it was 0 or 4 and something was not delivered: 5."""
    incomplete = any(not report.complete for report in reports)
    return (
        EXIT_DELIVERY_PENDING
        if incomplete and scan_code in (EXIT_OK, EXIT_INCOMPLETE)
        else scan_code
    )


# The interface's names, for the callers of open_transports() and deliver().
__all__ = [
    "DeliveryFailed",
    "Destination",
    "Item",
    "Kind",
    "Outgoing",
    "RecordFormat",
    "Rejected",
    "Sent",
    "Transport",
]
