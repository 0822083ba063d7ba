"""A fault-injecting HTTP proxy on loopback, between the scanner and a moto server.

Each request is forwarded to the upstream unless a rule matches its operation; then the
rule's fault is answered instead: an AWS error in the protocol's own shape (JSON, query XML,
EC2 XML, REST JSON), a proxy's HTML error page, a connection reset, a response held back
longer than the client's read timeout, or the upstream's answer cut short or dripped a byte
at a time. A rule fires on the first ``times`` matching requests, or always.

The operation is read from the request: the ``X-Amz-Target`` header (JSON protocols), the
``Action`` form field (query protocols: EC2, RDS, ElastiCache, CloudFormation, STS), or
``METHOD /path`` (REST protocols: EFS, API Gateway). Every wait is bounded and ends when the
proxy stops, so a test can never hang on it.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import logging
import os
import re
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from scanner.demo.base import speed_up_moto_kms

MAX_HOLD_SECONDS = 30.0
"""The longest a HANG rule holds a request, whatever it asks."""


class Fault(Enum):
    """What the proxy answers instead of forwarding: (HTTP status, AWS error code)."""

    THROTTLING = (400, "ThrottlingException")
    TOO_MANY_REQUESTS = (429, "TooManyRequestsException")
    REQUEST_LIMIT_EXCEEDED = (503, "RequestLimitExceeded")
    UNAUTHORIZED_OPERATION = (403, "UnauthorizedOperation")
    """EC2's access denied."""
    INTERNAL_ERROR = (500, "InternalFailure")
    SERVICE_UNAVAILABLE = (503, "ServiceUnavailable")
    ACCESS_DENIED = (403, "AccessDenied")
    EXPIRED_TOKEN = (403, "ExpiredToken")
    CONNECTION_RESET = (0, "connection reset")
    HANG = (0, "no answer")
    """Hold the request (up to ``Rule.hold`` s), then close the connection unanswered."""
    HTML_BAD_GATEWAY = (502, "Bad Gateway")
    """What a proxy or load balancer answers: an HTML page, no AWS error in it."""
    HTML_OK = (200, "OK")
    """The same page with status 200, as captive portals and some proxies answer."""
    TRUNCATED = (0, "truncated body")
    """The upstream's answer with its full Content-Length but half its body, then close."""
    DRIP = (0, "dripping body")
    """The upstream's answer, its body a byte every ``Rule.hold`` s (for at most
    MAX_HOLD_SECONDS in all), then close."""

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def code(self) -> str:
        return self.value[1]


@dataclass
class Rule:
    operation: str
    """A glob over the operation name: ``ListKeys``, ``DescribeVpcs``, ``GET /2015-02-01/*``."""
    fault: Fault
    times: int | None = None
    """Fail the first ``times`` matching requests; None: every one."""
    hold: float = 10.0
    fired: int = 0


@dataclass(frozen=True)
class Request:
    service: str
    operation: str
    protocol: str
    """``json``, ``query``, ``ec2`` or ``rest``."""


@dataclass
class FaultProxy:
    upstream: str
    """``http://host:port`` of the moto server."""
    rules: list[Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def add(
        self, operation: str, fault: Fault, *, times: int | None = None, hold: float = 10.0
    ) -> Rule:
        rule = Rule(operation, fault, times=times, hold=hold)
        with self._lock:
            self.rules.append(rule)
        return rule

    def fault_for(self, request: Request) -> Rule | None:
        """The first rule that matches and has not fired its ``times``; counts the firing."""
        with self._lock:
            for rule in self.rules:
                if not fnmatch.fnmatchcase(request.operation, rule.operation):
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                rule.fired += 1
                return rule
        return None


_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


def identify(method: str, path: str, headers: dict[str, str], body: bytes) -> Request:
    """The service (from the SigV4 credential scope) and operation of a request."""
    match = _SCOPE.search(headers.get("authorization", ""))
    service = match.group(1) if match else ""
    target = headers.get("x-amz-target")
    if target:
        return Request(service, target.rsplit(".", 1)[-1], "json")
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        form = parse_qs(body.decode("utf-8", "replace"))
        action = (form.get("Action") or [""])[0]
        if action:
            return Request(service, action, "ec2" if service == "ec2" else "query")
    return Request(service, f"{method} {urlparse(path).path}", "rest")


def error_response(request: Request, fault: Fault) -> tuple[dict[str, str], bytes]:
    """Headers and body of ``fault`` the way the request's protocol carries errors."""
    message = f"injected {fault.code} by the fault proxy"
    if request.protocol == "ec2":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
            f"<Code>{fault.code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>fault-proxy</RequestID></Response>"
        )
        return {"Content-Type": "text/xml"}, body.encode()
    if request.protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>fault-proxy</RequestId>"
            f"</ErrorResponse>"
        )
        return {"Content-Type": "text/xml"}, body.encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": fault.code}
    return headers, json.dumps({"__type": fault.code, "message": message}).encode()


PROXY_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html lang=en>\n<head><title>502 Bad Gateway</title>\n"
    "<style>body { font-family: sans-serif; }</style></head>\n<body>\n"
    "<h1>502 Bad Gateway</h1>\n<p>The proxy server received an invalid response from an "
    "upstream server.</p>\n" + "<!-- padding: error pages are long -->\n" * 100 + "</body></html>\n"
).encode()
"""A proxy's error page: longer than any error message should quote, and not XML."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the test asserts on what the scanner saw, not on the proxy's log."""

    def _handle(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = identify(self.command, self.path, headers, body)
        rule = proxy.fault_for(request)
        if rule is None:
            self._forward(body)
        elif rule.fault is Fault.CONNECTION_RESET:
            self._reset()
        elif rule.fault is Fault.HANG:
            proxy.stopping.wait(min(rule.hold, MAX_HOLD_SECONDS))
            self._reset()
        elif rule.fault in (Fault.HTML_BAD_GATEWAY, Fault.HTML_OK):
            self._respond(rule.fault.status, {"Content-Type": "text/html"}, PROXY_ERROR_PAGE)
        elif rule.fault is Fault.TRUNCATED:
            status, passed, payload = self._fetch(body)
            self._send_head(status, passed, len(payload))
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
        elif rule.fault is Fault.DRIP:
            status, passed, payload = self._fetch(body)
            self._send_head(status, passed, len(payload))
            self._drip(payload, rule.hold)
        else:
            extra, payload = error_response(request, rule.fault)
            self._respond(rule.fault.status, extra, payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def _forward(self, body: bytes) -> None:
        self._respond(*self._fetch(body))

    def _fetch(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The upstream's answer to this request: status, headers to pass on, body."""
        upstream = urlparse(self.server.proxy.upstream)
        connection = http.client.HTTPConnection(upstream.netloc, timeout=60)
        try:
            skip = {"host", "connection", "content-length", "transfer-encoding"}
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            passed = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in {"connection", "content-length", "transfer-encoding"}
            }
            return response.status, passed, payload
        finally:
            connection.close()

    def _send_head(self, status: int, headers: dict[str, str], length: int) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _respond(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self._send_head(status, headers, len(payload))
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drip(self, payload: bytes, interval: float) -> None:
        """A byte every ``interval`` s until the client goes, the proxy stops, or
        MAX_HOLD_SECONDS pass; then close, the body unfinished if time ran out."""
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        self.close_connection = True
        for index in range(len(payload)):
            if time.monotonic() > deadline or self.server.proxy.stopping.wait(interval):
                return
            try:
                self.wfile.write(payload[index : index + 1])
                self.wfile.flush()
            except OSError:  # the client gave up: what the fault is for
                return

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0): the client sees a reset, not a clean close."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, proxy: FaultProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy

    def handle_error(self, request: object, client_address: object) -> None:
        """A reset or closed client connection is what faults are for: no stack trace."""


def _quick_moto_server() -> Any:
    """moto's threaded server on loopback (port chosen by the OS), which stops in a twentieth
    of a second: werkzeug's serve_forever, as moto starts it, looks for a shutdown every half
    second. Imported here: moto's server needs Flask, which the lowest-versions run of .ci/run
    lacks (its tests import this module, and never start a server)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class QuickMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True)
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

    return QuickMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on loopback (port chosen by the OS), its accounts empty; yields its
    URL."""
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    speed_up_moto_kms()
    server = _quick_moto_server()
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    host, port = server.get_host_and_port()
    urllib.request.urlopen(
        urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    ).close()  # the backends are shared by the process: start from an empty account
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def running(upstream: str) -> Iterator[tuple[FaultProxy, str]]:
    """A proxy in front of ``upstream``, and its ``http://127.0.0.1:PORT`` URL."""
    proxy = FaultProxy(upstream)
    server = _Server(proxy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield proxy, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        proxy.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
