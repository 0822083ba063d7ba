"""--send: Splunk HEC, webhooks and Security Hub, with retries and a spool that loses nothing.

HEC and webhooks are a real HTTPS server on 127.0.0.1 (a thread, a certificate from a test
CA passed with --ca-bundle); Security Hub is moto's.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from reports.jsonl import line
from scanner.cli import run
from scanner.delivery import (
    DeliveryFailed,
    DeliveryOptions,
    DeliveryReport,
    Item,
    ItemQueue,
    Kind,
    Outgoing,
    Transport,
    deliver,
    exit_code,
    open_transports,
    outgoing,
    parse_destination,
    problems,
    take_batch,
    tls_context,
)
from scanner.delivery import http as delivery_http
from scanner.delivery.http import RetryPolicy
from scanner.delivery.spool import Spool
from scanner.delivery.webhook import idempotency_key
from scanner.delivery.webhook import items_of as webhook_items
from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import EXIT_DELIVERY_PENDING, ConfigError
from scanner.model import Finding, ScanMetadata, ScanResult, Severity, Status
from scanner.store.history import HistoryStore
from tests.helpers import fail_operation

SCHEMAS = Path(__file__).parents[1] / "reports" / "schemas"
TOKEN = "hec-token-7f3a9c2e51d84b06"

# --- a local HTTPS server -----------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca_bundle: Path
    server: ssl.SSLContext


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A test CA and a certificate for 127.0.0.1 signed by it."""
    directory = tmp_path_factory.mktemp("tls")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "driftscan test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(certificate.public_bytes(pem))
    (directory / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "server.pem", directory / "server.key")
    return Tls(ca_bundle=directory / "ca.pem", server=server)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body.decode().splitlines()]


@dataclass
class Receiver:
    """HEC or a webhook: records every request and answers it with the next scripted
    (status, JSON body, headers), or 200 once the script is used up."""

    tls: Tls
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    script: deque[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, answer, headers = (
                    receiver.script.popleft()
                    if receiver.script
                    else (200, {"text": "Success", "code": 0}, {})
                )
                receiver.requests.append(Request(self.path, dict(self.headers), body, status))
                payload = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, *args: Any) -> None:
                pass  # a client refusing our certificate is a test case, not noise

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.socket = self.tls.server.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def delivered(self) -> list[dict[str, Any]]:
        """Every record of every request that was answered 2xx, in arrival order."""
        return [r for req in self.requests if 200 <= req.status < 300 for r in req.records()]


@pytest.fixture
def receiver(tls: Tls) -> Iterator[Receiver]:
    server = Receiver(tls)
    yield server
    server.close()


# --- helpers ------------------------------------------------------------------------------


@dataclass
class Sleeps:
    seconds: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def policy(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, timeout=5.0, sleep=sleeps)


def result_of(count: int, scan_id: str, region: str = "us-east-1", first: int = 0) -> ScanResult:
    meta = ScanMetadata(
        scan_id=scan_id,
        tool_version="0.1.0",
        started_at="2026-01-02T03:04:00Z",
        finished_at="2026-01-02T03:04:05Z",
        account_ids=("123456789012",),
        regions=(region,),
        baseline_digest="",
        checks=("kms.cmk_rotation_enabled",),
    )
    findings = tuple(
        Finding(
            finding_id=f"{n:032x}",
            check_id="kms.cmk_rotation_enabled",
            title="Customer-managed KMS keys rotate",
            status=Status.FAIL,
            severity=Severity.HIGH,
            service="kms",
            account_id="123456789012",
            region=region,
            resource_type="AWS::KMS::Key",
            resource_id=f"key-{n}",
            resource_arn=f"arn:aws:kms:{region}:123456789012:key/key-{n}",
            message="rotation is off",
            evidence={"KeyRotationEnabled": False},
            remediation="Enable automatic rotation.",
        )
        for n in range(first, first + count)
    )
    return ScanResult(metadata=meta, findings=findings)


def keys(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(scan id, finding id) of HEC events or JSON Lines findings."""
    findings = [record.get("event", record) for record in records]
    return [(f["scan_id"], f["finding_id"]) for f in findings]


def expected_keys(*results: ScanResult) -> list[tuple[str, str]]:
    return [(r.metadata.scan_id, f.finding_id) for r in results for f in r.findings]


def hec_options(sleeps: Sleeps, tls: Tls) -> DeliveryOptions:
    return DeliveryOptions(
        ca_bundle=tls.ca_bundle, env={"DRIFTSCAN_HEC_TOKEN": TOKEN}, retry=policy(sleeps)
    )


def send(result: ScanResult, transports: list[Transport]) -> list[DeliveryReport]:
    return deliver(Outgoing(result=result), transports, spool_dir())


def spool_dir() -> Path:
    from scanner.delivery.spool import spool_dir as spool_dir_of

    return spool_dir_of(None)


# --- destinations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "url", "region", "label"),
    [
        (
            "splunk-hec://siem.example.com",
            Kind.SPLUNK_HEC,
            "https://siem.example.com:8088/services/collector/event",
            None,
            "splunk-hec https://siem.example.com:8088",
        ),
        (
            "splunk-hec://siem:9088",
            Kind.SPLUNK_HEC,
            "https://siem:9088/services/collector/event",
            None,
            "splunk-hec https://siem:9088",
        ),
        (
            "https://siem:8088/services/collector",
            Kind.SPLUNK_HEC,
            "https://siem:8088/services/collector/event",
            None,
            "splunk-hec https://siem:8088",
        ),
        (
            "https://hooks.example.com/in/s3cr3t?x=1",
            Kind.WEBHOOK,
            "https://hooks.example.com/in/s3cr3t?x=1",
            None,
            "webhook https://hooks.example.com",
        ),
        ("securityhub", Kind.SECURITYHUB, None, None, "securityhub (each finding's region)"),
        ("securityhub:eu-west-1", Kind.SECURITYHUB, None, "eu-west-1", "securityhub eu-west-1"),
        ("securityhub://eu-west-1", Kind.SECURITYHUB, None, "eu-west-1", "securityhub eu-west-1"),
    ],
)
def test_destinations(
    text: str, kind: Kind, url: str | None, region: str | None, label: str
) -> None:
    destination = parse_destination(text)
    assert (destination.kind, destination.url, destination.region) == (kind, url, region)
    assert destination.label == label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "http://siem:8088/s3cr3t",
            "--send http://siem: plain http would send findings and "
            "tokens unencrypted; use https (and --ca-bundle for a private CA)",
        ),
        ("https://me:s3cr3t@siem/x", "--send https://siem: credentials do not belong in the URL"),
        ("ftp://siem/s3cr3t", "--send ftp://siem: expected splunk-hec://HOST[:PORT]"),
        ("siem.example.com", "--send (not a URL): expected splunk-hec://"),
        ("splunk-hec://siem:notaport", "--send splunk-hec://siem: Port could not be cast"),
        ("securityhub:mars", "--send securityhub:mars: 'mars' is not a region name"),
        ("https://[::1/s3cr3t", "--send: malformed URL (Invalid IPv6 URL); expected"),
        ("https://siem:70000/s3cr3t", "--send https://siem: Port out of range"),
        ("https://siem/s3cr3t x", "--send https://siem: the URL holds spaces or control"),
    ],
)
def test_bad_destinations_are_one_clear_line_without_secrets(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_destination(text)
    assert str(raised.value).startswith(message)
    assert "s3cr3t" not in str(raised.value)


def test_hec_without_its_token_exits_2_before_scanning(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRIFTSCAN_HEC_TOKEN", raising=False)
    # No moto account: reaching AWS would fail differently (exit 3).
    assert run(["scan", "-r", "us-east-1", "--send", "splunk-hec://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == (
        "driftscan: --send splunk-hec https://127.0.0.1:1 needs DRIFTSCAN_HEC_TOKEN set\n"
    )


@pytest.mark.parametrize("command", [["scan", "-r", "us-east-1"], ["export", "--last"]])
def test_a_malformed_destination_is_one_line_and_exit_2_before_anything_else(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    # No moto account and no store: reaching either would fail differently.
    history = str(tmp_path / "history.db")
    code = run([*command, "--history", history, "--send", "https://[::1/x"])
    assert code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("driftscan: --send: malformed URL (Invalid IPv6 URL)")


def test_unreadable_ca_bundle_exits_2(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--ca-bundle .*: cannot load CA certificates"):
        tls_context(tmp_path / "missing.pem")


# --- Splunk HEC ---------------------------------------------------------------------------


def test_every_finding_of_a_scan_arrives_at_hec_exactly_once(
    account: DemoAccount,
    receiver: Receiver,
    tls: Tls,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for rotation in (True, False, False):
        make_key(account, rotation=rotation)
    monkeypatch.setenv("DRIFTSCAN_HEC_TOKEN", TOKEN)
    report = tmp_path / "findings.jsonl"
    scan = ["scan", "-r", "us-east-1", "--services", "kms", "--fail-on", "never"]
    send = ["--send", f"splunk-hec://127.0.0.1:{receiver.port}", "--ca-bundle", str(tls.ca_bundle)]
    code = run([*scan, *send, "--format", "jsonl", "--output", str(report)])
    assert code == 0
    written = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(written) == 3
    [request] = receiver.requests
    assert request.path == "/services/collector/event"
    assert request.headers["Authorization"] == f"Splunk {TOKEN}"
    events = request.records()
    assert [e["event"] for e in events] == written  # the same findings, each once
    assert {(e["source"], e["sourcetype"]) for e in events} == {("driftscan", "driftscan:finding")}
    assert not spool_dir().exists() or not any(spool_dir().glob("*.jsonl"))


def test_batches_keep_to_the_item_and_byte_caps(receiver: Receiver, tls: Tls) -> None:
    sleeps = Sleeps()
    [transport] = open_transports(
        [f"splunk-hec://127.0.0.1:{receiver.port}"], hec_options(sleeps, tls)
    )
    transport.max_items = 7  # type: ignore[misc]
    result = result_of(30, "scan-1")
    [report] = send(result, [transport])
    assert [len(r.records()) for r in receiver.requests] == [7, 7, 7, 7, 2]
    assert keys(receiver.delivered()) == expected_keys(result)
    assert (report.delivered, report.pending, report.rejected) == (30, 0, ())


def test_take_batch_caps_bytes_and_sends_an_oversized_item_alone() -> None:
    def item(n: int, size: int) -> Item:
        return Item(scan_id="s", finding_id=str(n), payload={"x": "y" * size})

    queue = ItemQueue(iter([item(0, 90), item(1, 90), item(2, 90), item(3, 500), item(4, 10)]))
    sizes = []
    while queue:
        sizes.append([i.finding_id for i in take_batch(queue, max_items=10, max_bytes=250)])
    assert sizes == [["0", "1"], ["2"], ["3"], ["4"]]


def test_a_server_failing_the_first_requests_still_receives_everything_once(
    receiver: Receiver, tls: Tls
) -> None:
    receiver.script.extend(
        [
            (503, {"text": "Server is busy", "code": 9}, {}),
            (429, {"text": "slow down"}, {"Retry-After": "3"}),
            (500, {"text": "oops"}, {}),
        ]
    )
    sleeps = Sleeps()
    [transport] = open_transports(
        [f"splunk-hec://127.0.0.1:{receiver.port}"], hec_options(sleeps, tls)
    )
    transport.max_items = 10  # type: ignore[misc]
    result = result_of(25, "scan-1")
    [report] = send(result, [transport])
    assert keys(receiver.delivered()) == expected_keys(result)
    assert [r.status for r in receiver.requests] == [503, 429, 500, 200, 200, 200]
    # Backoff: full jitter under base * 2**retry, at least the server's Retry-After, capped.
    first, second, third = sleeps.seconds
    assert 0 <= first <= 0.5 and 3 <= second <= 8 and 0 <= third <= 2
    assert (report.delivered, report.pending) == (25, 0)


def test_retry_delays_grow_exponentially_and_stay_capped() -> None:
    retry = RetryPolicy(base_delay=1.0, max_delay=10.0, random=lambda: 1.0)
    assert [retry.delay(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert retry.delay(0, retry_after=600) == 10.0
    assert RetryPolicy(random=lambda: 0.25).delay(2) == 1.0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_down_server_leaves_a_spool_the_next_run_delivers_first_without_duplicates(
    tls: Tls,
) -> None:
    port = _closed_port()
    sleeps = Sleeps()
    destination = [f"splunk-hec://127.0.0.1:{port}"]
    first, second = result_of(4, "scan-1"), result_of(3, "scan-2")

    [down] = send(first, open_transports(destination, hec_options(sleeps, tls)))
    assert (down.delivered, down.pending) == (0, 4)
    assert down.error is not None and down.error.startswith("connection failed")
    assert down.error.endswith("after 4 attempts")
    assert len(sleeps.seconds) == 3  # bounded: attempts - 1 pauses
    assert len(down.spool.read_text().splitlines()) == 4

    # Down again: the spool keeps the first scan once, then the second scan's findings.
    [still_down] = send(second, open_transports(destination, hec_options(sleeps, tls)))
    assert still_down.pending == 7

    server = Receiver(tls, port=port)
    try:
        transports = open_transports(destination, hec_options(sleeps, tls))
        # The first scan exported again (same scan id): nothing is queued twice.
        [up] = send(first, transports)
    finally:
        server.close()
    assert keys(server.delivered()) == expected_keys(first, second)
    assert (up.delivered, up.pending, up.error) == (7, 0, None)
    assert not down.spool.exists()


@contextmanager
def dripping_receiver(tls: Tls, interval: float, *, headers_at_once: bool = False) -> Iterator[int]:
    """An HTTPS server that reads a POST, then answers one byte every ``interval`` s (its
    status line included, or, ``headers_at_once``, the status and headers at once and the
    body a byte at a time), until the client goes or the test ends; yields its port."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n"
    answer = head + b'{"text":"Success","code":0}'
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            start = 0
            if headers_at_once:
                self.wfile.write(head)
                self.wfile.flush()
                start = len(head)
            for index in range(start, len(answer)):
                if done.wait(interval):
                    return
                self.wfile.write(answer[index : index + 1])
                self.wfile.flush()

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False

        def handle_error(self, *args: Any) -> None:
            pass  # the client hanging up on the drip is the point

    server = Server(("127.0.0.1", 0), Handler)
    server.socket = tls.server.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.daemon = True
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        done.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("headers_at_once", [False, True], ids=["status line", "body"])
def test_the_timeout_bounds_a_whole_attempt_against_a_dripping_receiver(
    tls: Tls, headers_at_once: bool
) -> None:
    """A byte every 0.06 s never trips a per-read timeout of 0.3 s; the attempt's deadline
    ends each attempt at 0.3 s (the whole answer would take 3.9 s, its body alone 1.6 s), in
    the status line or in the body, after urllib has let go of the connection's socket."""
    sleeps = Sleeps()
    retry = RetryPolicy(attempts=2, base_delay=0.5, timeout=0.3, sleep=sleeps)
    poster = delivery_http.Poster(tls_context(tls.ca_bundle), retry)
    with dripping_receiver(tls, 0.06, headers_at_once=headers_at_once) as port:
        started = time.monotonic()
        with pytest.raises(DeliveryFailed) as failed:
            poster.post(f"https://127.0.0.1:{port}/x", b"{}", {}, "webhook")
        elapsed = time.monotonic() - started
    assert str(failed.value) == "no complete answer within 0.3 s after 2 attempts"
    assert elapsed < 2, elapsed
    assert len(sleeps.seconds) == 1


def test_an_untrusted_certificate_is_not_retried_and_names_ca_bundle(receiver: Receiver) -> None:
    sleeps = Sleeps()
    options = DeliveryOptions(env={"DRIFTSCAN_HEC_TOKEN": TOKEN}, retry=policy(sleeps))
    transports = open_transports([f"splunk-hec://127.0.0.1:{receiver.port}"], options)
    [report] = send(result_of(2, "scan-1"), transports)
    assert report.pending == 2
    assert report.error is not None and "pass --ca-bundle" in report.error
    assert sleeps.seconds == []
    assert receiver.requests == []


def test_hec_rejecting_one_malformed_event_keeps_the_others(receiver: Receiver, tls: Tls) -> None:
    receiver.script.append(
        (400, {"text": "Invalid data format", "code": 6, "invalid-event-number": 1}, {})
    )
    transports = open_transports(
        [f"splunk-hec://127.0.0.1:{receiver.port}"], hec_options(Sleeps(), tls)
    )
    result = result_of(4, "scan-1")
    [report] = send(result, transports)
    first, second = receiver.requests
    assert len(first.records()) == 4  # HEC indexed event 0, refused event 1
    assert keys(second.records()) == expected_keys(result)[2:]
    assert report.delivered == 3
    [rejected] = report.rejected
    assert rejected.item.finding_id == result.findings[1].finding_id
    assert rejected.reason == "HTTP 400: Invalid data format (code 6)"
    assert (report.pending, report.spool.exists()) == (0, False)  # resending cannot help
    assert problems([report]) == [
        "1 finding rejected by splunk-hec https://127.0.0.1:"
        f"{receiver.port} (not retried), first: HTTP 400: Invalid data format (code 6)"
    ]


def test_the_token_never_reaches_logs_output_or_the_spool(
    account: DemoAccount,
    receiver: Receiver,
    tls: Tls,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_key(account, rotation=False)
    monkeypatch.setenv("DRIFTSCAN_HEC_TOKEN", TOKEN)
    monkeypatch.setattr(delivery_http, "DEFAULT_RETRY", policy(Sleeps()))
    receiver.script.extend(
        [(503, {"text": "busy"}, {}), (403, {"text": "Invalid token", "code": 4}, {})]
    )
    caplog.set_level(logging.DEBUG)
    scan = ["-vv", "scan", "-r", "us-east-1", "--services", "kms", "--fail-on", "never"]
    send = ["--send", f"splunk-hec://127.0.0.1:{receiver.port}", "--ca-bundle", str(tls.ca_bundle)]
    code = run([*scan, *send, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == EXIT_DELIVERY_PENDING
    [spool] = spool_dir().glob("*.jsonl")
    assert err.splitlines()[-1] == (
        f"driftscan: 1 finding pending delivery to splunk-hec https://127.0.0.1:{receiver.port} "
        f"(HTTP 403: Invalid token (code 4)); spooled in {spool}, sent first next run"
    )
    assert "retry 1 of 3" in caplog.text
    for text in (caplog.text, out, err, spool.read_text()):
        assert TOKEN not in text


# --- webhook ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "hook-token-0d1e"])
def test_webhook_gets_json_lines_with_an_idempotency_key(
    receiver: Receiver, tls: Tls, token: str | None
) -> None:
    env = {"DRIFTSCAN_WEBHOOK_TOKEN": token} if token else {}
    options = DeliveryOptions(ca_bundle=tls.ca_bundle, env=env, retry=policy(Sleeps()))
    transports = open_transports([f"https://127.0.0.1:{receiver.port}/hooks/driftscan"], options)
    result = result_of(3, "scan-1")
    [report] = send(result, transports)
    [request] = receiver.requests
    assert request.path == "/hooks/driftscan"
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.headers.get("Authorization") == (f"Bearer {token}" if token else None)
    assert request.records() == [line(f, result.metadata) for f in result.findings]
    validator = jsonschema.Draft202012Validator(
        json.loads((SCHEMAS / "finding.schema.json").read_text())
    )
    for record in request.records():
        validator.validate(record)
    items = transports[0].items(Outgoing(result=result))
    assert request.headers["Idempotency-Key"] == idempotency_key(items)
    assert report.complete


@pytest.mark.parametrize(
    ("status", "error"), [(401, "HTTP 401"), (301, "redirected (HTTP 301): give the final URL")]
)
def test_webhook_refusal_or_redirect_is_pending_without_retries(
    receiver: Receiver, tls: Tls, status: int, error: str
) -> None:
    receiver.script.append((status, {}, {"Location": "https://elsewhere.example/"}))
    sleeps = Sleeps()
    options = DeliveryOptions(ca_bundle=tls.ca_bundle, retry=policy(sleeps))
    transports = open_transports([f"https://127.0.0.1:{receiver.port}/in"], options)
    [report] = send(result_of(2, "scan-1"), transports)
    assert (report.pending, report.error, sleeps.seconds) == (2, error, [])
    assert len(receiver.requests) == 1


# --- Security Hub (moto) ------------------------------------------------------------------


def _enable(*regions: str) -> None:
    for region in regions:
        boto3.client("securityhub", region_name=region).enable_security_hub()


def _imported(region: str) -> list[dict[str, Any]]:
    client = boto3.client("securityhub", region_name=region)
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("get_findings").paginate():
        found.extend(page["Findings"])
    return found


def test_security_hub_imports_every_finding_in_batches_of_100(account: DemoAccount) -> None:
    _enable("us-east-1", "eu-west-1")
    east, west = result_of(250, "scan-1"), result_of(5, "scan-1", region="eu-west-1", first=250)
    result = replace(east, findings=east.findings + west.findings)
    session = AwsSession(SessionOptions())
    transports = open_transports(["securityhub"], DeliveryOptions(session=session))
    [report] = send(result, transports)
    assert (report.delivered, report.pending, report.rejected) == (255, 0, ())
    calls = [
        json.loads(call.params)["Findings"]
        for call in session.requests.calls
        if call.action == "securityhub:BatchImportFindings"
    ]
    assert [len(findings) for findings in calls] == [100, 100, 50, 5]
    assert {f["Id"] for f in _imported("us-east-1")} == {
        f"driftscan/{f.finding_id}" for f in east.findings
    }
    assert len(_imported("eu-west-1")) == 5


def test_security_hub_region_takes_every_finding(account: DemoAccount) -> None:
    _enable("eu-west-1")
    session = AwsSession(SessionOptions())
    transports = open_transports(["securityhub:eu-west-1"], DeliveryOptions(session=session))
    [report] = send(result_of(3, "scan-1"), transports)
    imported = _imported("eu-west-1")
    assert report.delivered == 3 and len(imported) == 3
    assert {f["ProductArn"].split(":")[3] for f in imported} == {"eu-west-1"}
    assert {f["Resources"][0]["Region"] for f in imported} == {"us-east-1"}


def test_security_hub_per_finding_failures_are_reported_not_resent(account: DemoAccount) -> None:
    _enable("us-east-1")
    session = AwsSession(SessionOptions())
    [transport] = open_transports(["securityhub"], DeliveryOptions(session=session))
    [broken] = transport.items(Outgoing(result=result_of(1, "scan-0")))
    # An item the API refuses (a finding must name a resource), left in the spool earlier.
    spool = Spool.of(spool_dir(), transport.destination)
    spool.save([replace(broken, payload={**broken.payload, "Resources": []})])
    [report] = send(result_of(2, "scan-1"), [transport])
    [rejected] = report.rejected
    assert rejected.item.key == broken.key
    assert rejected.reason.startswith("InvalidInput: ")
    assert (report.delivered, report.pending, spool.path.exists()) == (2, 0, False)


def test_security_hub_refusing_the_call_leaves_the_findings_pending(
    account: DemoAccount,
) -> None:
    session = AwsSession(SessionOptions())
    # moto imports without EnableSecurityHub; AWS answers this when it is not enabled.
    fail_operation(
        session, "securityhub", "BatchImportFindings", code="InvalidAccessException", status=401
    )
    transports = open_transports(["securityhub"], DeliveryOptions(session=session))
    [report] = send(result_of(2, "scan-1"), transports)
    assert report.pending == 2
    assert report.error is not None
    assert report.error == (
        "securityhub:BatchImportFindings in us-east-1: "
        "InvalidAccessException: injected InvalidAccessException"
    )


# --- exit codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scan_code", "pending", "expected"),
    [(0, 0, 0), (0, 3, 5), (4, 3, 5), (1, 3, 1), (4, 0, 4)],
)
def test_delivery_pending_exits_5_unless_a_failure_reached_fail_on(
    scan_code: int, pending: int, expected: int
) -> None:
    report = DeliveryReport(label="x", delivered=1, rejected=(), pending=pending, spool=Path("s"))
    assert exit_code(scan_code, [report]) == expected


# --- history: resolved findings, --only-changes, export -----------------------------------


def _recorded(path: Path, *results: ScanResult) -> None:
    with HistoryStore(path) as store:
        for result in results:
            meta = result.metadata
            store.begin(meta.scan_id, meta.regions, meta.baseline_digest)
            store.finish(result)


def _two_scans() -> tuple[ScanResult, ScanResult]:
    """Keys 0-3 fail; then key 0 still fails, key 1 passes, key 2 fails differently, key 3
    is gone and key 4 is new."""
    previous = result_of(4, "scan-1")
    kept, now_passing, reworded, _gone = previous.findings
    current = replace(
        result_of(1, "scan-2", first=4),
        findings=(
            kept,
            replace(now_passing, status=Status.PASS, message="rotation is on"),
            replace(reworded, message="rotation is off since 2024"),
            *result_of(1, "scan-2", first=4).findings,
        ),
    )
    return previous, current


def test_gone_findings_are_resolved_unless_their_control_could_not_read_everything() -> None:
    previous, current = _two_scans()
    # The previous scan streams from the store: it is read once.
    assert outgoing(current, iter(previous.findings), only_changes=False).gone == (
        previous.findings[3],
    )
    erred = replace(current.findings[0], finding_id="e" * 32, status=Status.ERROR)
    with_error = replace(current, findings=(*current.findings, erred))
    assert outgoing(with_error, iter(previous.findings), only_changes=False).gone == ()
    changed = outgoing(current, iter(previous.findings), only_changes=True)
    assert [f.finding_id for f in changed.result.findings] == [
        current.findings[n].finding_id for n in (1, 2, 3)
    ]
    assert changed.gone == (previous.findings[3],)


@pytest.mark.parametrize(("only_changes", "sent"), [(False, [0, 1, 2, 4]), (True, [1, 2, 4])])
def test_export_sends_changes_and_marks_gone_findings_resolved(
    receiver: Receiver, tls: Tls, tmp_path: Path, only_changes: bool, sent: list[int]
) -> None:
    previous, current = _two_scans()
    history = tmp_path / "history.db"
    _recorded(history, previous, current)
    report = tmp_path / "report.jsonl"
    argv = ["export", "--last", "--history", str(history), "--format", "jsonl"]
    webhook = ["--send", f"https://127.0.0.1:{receiver.port}/in", "--ca-bundle", str(tls.ca_bundle)]
    flag = ["--only-changes"] if only_changes else []
    assert run([*argv, "--output", str(report), *webhook, *flag]) == 0
    assert len(report.read_text().splitlines()) == 4  # the report is the whole scan
    records = receiver.delivered()
    assert [(r["finding_id"], r.get("resolved")) for r in records] == [
        *((f"{n:032x}", None) for n in sent),
        (f"{3:032x}", True),
    ]
    assert {r["scan_id"] for r in records} == {"scan-2"}


def test_export_archives_gone_findings_in_security_hub(
    account: DemoAccount, tmp_path: Path
) -> None:
    _enable("us-east-1")
    previous, current = _two_scans()
    history = tmp_path / "history.db"
    _recorded(history, previous, current)
    argv = ["export", "--scan", "scan-2", "--history", str(history), "--format", "csv"]
    assert run([*argv, "--send", "securityhub", "--output", str(tmp_path / "r.csv")]) == 0
    states = {f["Id"]: (f["RecordState"], f["Workflow"]["Status"]) for f in _imported("us-east-1")}
    assert states == {
        f"driftscan/{0:032x}": ("ACTIVE", "NEW"),
        f"driftscan/{1:032x}": ("ACTIVE", "RESOLVED"),
        f"driftscan/{2:032x}": ("ACTIVE", "NEW"),
        f"driftscan/{3:032x}": ("ARCHIVED", "RESOLVED"),
        f"driftscan/{4:032x}": ("ACTIVE", "NEW"),
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", "-r", "us-east-1", "--only-changes"],
         "--only-changes chooses what --send delivers: add --send"),
        (["scan", "-r", "us-east-1", "--no-history", "--only-changes", "--send", "securityhub"],
         "--only-changes reads the history store: drop --no-history"),
        (["export"], "export needs one of --scan ID and --last"),
        (["export", "--last", "--scan", "x"], "export needs one of --scan ID and --last"),
        (["export", "--last", "--history", "/nonexistent/h.db"],
         "no history store at /nonexistent/h.db"),
    ],
)  # fmt: skip
def test_bad_export_and_only_changes_usage_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    assert capsys.readouterr().err.startswith(f"driftscan: {message}")


def test_webhook_and_security_hub_items_say_who_changed_a_new_failure(
    account: DemoAccount,
) -> None:
    result = result_of(2, "scan-1")
    changed, unchanged = result.findings
    attribution = {
        "summary": "changed by arn:aws:iam::123456789012:user/Alice with PutKeyPolicy",
        "status": "found",
        "reason": None,
        "detail": "",
        "truncated": False,
        "events": [],
    }
    outgoing = Outgoing(result=replace(result, attributions={changed.finding_id: attribution}))
    hook, other = webhook_items(outgoing)
    assert hook.payload["attribution"] == attribution and "attribution" not in other.payload
    session = AwsSession(SessionOptions())
    [hub] = open_transports(["securityhub"], DeliveryOptions(session=session))
    first, second = (item.payload["ProductFields"] for item in hub.items(outgoing))
    assert first["driftscan/changed_by"] == attribution["summary"]
    assert "driftscan/changed_by" not in second
