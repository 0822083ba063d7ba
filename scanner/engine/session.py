"""AWS sessions: credentials, shared botocore config, cached clients, a request log."""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlparse
from xml.etree import ElementTree

import boto3
import botocore.exceptions
import botocore.loaders
import botocore.parsers
import urllib3.exceptions
from botocore.config import Config

from scanner.errors import ConfigError, SessionError
from scanner.textsafe import clip

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5
"""A hung endpoint costs at most this per connection attempt (less when ``--timeout`` is)."""
DEFAULT_TIMEOUT_SECONDS = 30.0
"""``--timeout``'s default: each read of an answer's status line and headers waits at most
this many seconds, and its body must be complete this many seconds after the attempt
started; else the attempt is retried, then reported as ERROR."""
MAX_ATTEMPTS = 8
"""Total attempts per request (first try plus retries) in botocore's adaptive mode."""
STS_ATTEMPTS = 2
"""Attempts of the first call (sts:GetCallerIdentity): an endpoint that is down should be
reported in seconds, not minutes."""
MAX_BACKOFF_SECONDS = 20
"""botocore's cap on one wait between attempts (standard and adaptive modes)."""
DEFAULT_IN_FLIGHT = 10
"""Requests in flight at once to one service in one region, unless IN_FLIGHT says otherwise:
enough to hide latency (10 answers of 50 ms each are 200 requests a second), few enough that
one scan does not use up the account's request quota, which everything else in it shares."""
IN_FLIGHT = {"kms": 16, "apigateway": 5, "iam": 5, "kinesis": 5}
"""KMS's per-key reads (DescribeKey, GetKeyRotationStatus) have request quotas far above the
other services' (AWS KMS developer guide, "Request quotas"), and a KMS key costs two of them;
API Gateway's management API, IAM and Kinesis' DescribeStreamSummary and ListTagsForStream
allow a few requests a second."""


def in_flight_limit(service: str, max_in_flight: int | None = None) -> int:
    """How many requests a scan has in flight at once to ``service`` in one region:
    IN_FLIGHT's or DEFAULT_IN_FLIGHT, at most ``max_in_flight`` (``--max-in-flight``)."""
    limit = IN_FLIGHT.get(service, DEFAULT_IN_FLIGHT)
    return limit if max_in_flight is None else min(limit, max_in_flight)


@dataclass(frozen=True, kw_only=True)
class SessionOptions:
    profile: str | None = None
    endpoint_url: str | None = None
    """Sends every request here (LocalStack, a moto server); else AWS_ENDPOINT_URL or AWS."""
    max_in_flight: int | None = None
    """At most this many requests in flight per (region, service); see ``in_flight_limit``."""
    timeout: float | None = None
    """Seconds one attempt of a request may take once connected (``--timeout``); None:
    DEFAULT_TIMEOUT_SECONDS. See ``worst_case_seconds``."""
    record_requests: bool = True
    """Keep every call made in ``AwsSession.requests``: what tests and benchmarks read. The
    CLI turns it off: an organization's scan makes tens of thousands of calls, and the log
    would grow with it."""


def backoff_seconds(attempts: int) -> float:
    """The longest botocore waits in all between ``attempts`` attempts: it waits a random
    part of 1, 2, 4, ... s (at most MAX_BACKOFF_SECONDS) before each retry."""
    return float(sum(min(MAX_BACKOFF_SECONDS, 2**retry) for retry in range(attempts - 1)))


def worst_case_seconds(timeout: float, attempts: int = MAX_ATTEMPTS) -> float:
    """The longest one API call can take before it gives up: every attempt connects for up
    to the connect timeout and then waits up to ``timeout`` for its answer, and botocore
    waits ``backoff_seconds`` in all between them."""
    connect = min(CONNECT_TIMEOUT_SECONDS, timeout)
    return attempts * (connect + timeout) + backoff_seconds(attempts)


MALLOC_ARENAS = 2
"""glibc malloc arenas a scan may use (see ``limit_malloc_arenas``)."""
M_ARENA_MAX = -8
"""mallopt's parameter number for the arena limit (glibc malloc.h)."""


def limit_malloc_arenas() -> None:
    """At most MALLOC_ARENAS glibc malloc arenas, unless MALLOC_ARENA_MAX says otherwise.

    glibc gives threads that allocate at once arenas of their own, up to eight per core, and
    keeps their freed memory: a scan's 32 threads, which mostly wait on the network, left
    10 MB of the 100 MB peak RSS at 1,000 resources there (bench/README.md). Call it before
    any thread starts; elsewhere than glibc (macOS, musl) it does nothing.
    """
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):  # not glibc
        return


def iam_action(service_model: Any, operation: str) -> str:
    """IAM action of an API operation (``kms``, ``ListKeys`` -> ``kms:ListKeys``)."""
    prefix = service_model.signing_name
    if prefix == "apigateway":  # API Gateway authorises by HTTP verb, not by operation
        return "apigateway:GET"
    return f"{prefix}:{operation}"


class Call(NamedTuple):
    """One API call: two equal calls are the same request to the same region."""

    region: str
    action: str
    """IAM action (``kms:ListKeys``)."""
    operation: str
    """API operation (``ListKeys``)."""
    params: str
    """The parameters, as JSON with sorted keys."""


class RequestLog:
    """Every API call the scanner made. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []

    def record(self, region: str, action: str, operation: str, params: dict[str, Any]) -> None:
        call = Call(region, action, operation, json.dumps(params, sort_keys=True, default=str))
        with self._lock:
            self.calls.append(call)

    def operations(self) -> set[str]:
        """API operation names called (``ListKeys``)."""
        return {call.operation for call in self.calls}

    def actions(self) -> set[str]:
        """IAM actions those calls needed."""
        return {call.action for call in self.calls}

    def duplicates(self) -> dict[Call, int]:
        return {call: n for call, n in Counter(self.calls).items() if n > 1}


SCANNED_SERVICES = frozenset(
    {
        "apigateway",
        "cloudformation",
        "ec2",
        "ecs",
        "efs",
        "elasticache",
        "iam",
        "kinesis",
        "kms",
        "logs",
        "rds",
        "secretsmanager",
    }
)
"""Services the collectors read. Their API models are loaded without write operations."""
READ_OPERATION = re.compile(r"^(Describe|List|Get)[A-Z]")
KEPT_OPERATIONS = frozenset({"DetectStackDrift"})
"""Not Describe/List/Get, yet changes nothing: starts a drift detection (an opt-in control)."""
DROPPED_OPERATIONS = frozenset({"GetSecretValue"})
"""Reads, yet the scanner must never make them."""
ATTRIBUTION_OPERATIONS: Mapping[str, frozenset[str]] = {"cloudtrail": frozenset({"LookupEvents"})}
"""Services read only to attribute a change (scanner.engine.attribution), and the one
operation of each a client of theirs has: LookupEvents reads the event history, changes
nothing; CloudTrail's other reads (trails, selectors) are none of the scanner's business."""


def is_scanner_operation(operation: str) -> bool:
    """Whether the scanner may call this API operation (``ListKeys`` yes, ``CreateKey`` no)."""
    if operation in DROPPED_OPERATIONS:
        return False
    return bool(READ_OPERATION.match(operation)) or operation in KEPT_OPERATIONS


def service_endpoint(service: str) -> str | None:
    """botocore's per-service endpoint variable (``AWS_ENDPOINT_URL_CLOUDTRAIL``), which an
    explicit ``--endpoint-url`` would override: honoured over it for the attribution services
    only, so that a test or LocalStack can send LookupEvents to a CloudTrail stand-in while
    every other call goes to an emulator that lacks it (moto)."""
    if service not in ATTRIBUTION_OPERATIONS:
        return None
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or None


def make_read_only(
    model: dict[str, Any], keep: Callable[[str], bool] = is_scanner_operation
) -> None:
    """Cut a botocore service model, in place, to the operations ``keep`` accepts (the
    scanner's), the shapes they reach, and no documentation.

    A client built from it has no method for a write (or GetSecretValue): the scanner cannot
    make one by mistake. It also holds a tenth of the memory: EC2's full model, parsed, is
    13 MB, and every scanned service's model stays loaded for the whole scan.
    """
    operations = {name: operation for name, operation in model["operations"].items() if keep(name)}
    shapes = model["shapes"]
    pending = [name for name, shape in shapes.items() if shape.get("exception")]
    for operation in operations.values():
        pending += [operation[key]["shape"] for key in ("input", "output") if key in operation]
        pending += [error["shape"] for error in operation.get("errors", ())]
    kept: dict[str, Any] = {}
    while pending:
        name = pending.pop()
        if name not in kept:
            shape = kept[name] = shapes[name]
            pending += [member["shape"] for member in shape.get("members", {}).values()]
            pending += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
    model["operations"] = operations
    model["shapes"] = kept
    _drop_documentation(model)


def _drop_documentation(value: Any) -> None:
    if isinstance(value, dict):
        value.pop("documentation", None)
        for item in value.values():
            _drop_documentation(item)
    elif isinstance(value, list):
        for item in value:
            _drop_documentation(item)


class _PlainJSONFileLoader(botocore.loaders.JSONFileLoader):
    """botocore's data files as plain dicts: its OrderedDicts take twice the memory."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return json.loads(fp.read())


class _ScannerLoader(botocore.loaders.Loader):
    """Loads the scanned services' API models read-only (``make_read_only``)."""

    def __init__(self) -> None:
        super().__init__(file_loader=_PlainJSONFileLoader())
        self._lock = threading.Lock()  # sessions of several accounts share the loader
        self._cut: set[int] = set()

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        with self._lock:
            # The base class caches the model after merging its extras in: cutting that
            # object, not a copy, leaves no full model in memory.
            model = super().load_service_model(service_name, type_name, api_version)
            cut = type_name == "service-2" and id(model) not in self._cut
            if cut and service_name in SCANNED_SERVICES:
                make_read_only(model)
                self._cut.add(id(model))
            elif cut and service_name in ATTRIBUTION_OPERATIONS:
                make_read_only(model, ATTRIBUTION_OPERATIONS[service_name].__contains__)
                self._cut.add(id(model))
            return model


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    return _ScannerLoader()


AWS_FAILURES = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    botocore.parsers.ResponseParserError,
)
"""What one botocore call raises when AWS, or whatever stands between (a proxy, a load
balancer), fails. ResponseParserError (an answer botocore cannot parse) derives from neither
of the others."""
EXCERPT_CHARACTERS = 200
"""The most of an answer's body an error message quotes: a proxy's error page can be long."""
BODY_CHUNK_BYTES = 64 * 1024


class UnreadableResponseError(botocore.exceptions.HTTPClientError):
    """An answer cut short (fewer bytes than its Content-Length) or an error answer that is
    not the service's (a proxy's HTML page). An HTTPClientError, so botocore retries it like
    a 5xx; if it persists, the read is ERROR."""

    fmt = "{error}"


class _BoundedHttpSession:
    """A client's botocore HTTP session whose attempts end within ``timeout`` seconds of
    their start once connected, and fail when their answer cannot be the service's.

    botocore's read timeout bounds each socket read, not the answer: a body that drips a
    byte every few seconds never times out. This session reads the body itself, one socket
    read at a time, each bounded by what is left of the attempt's time. Failures raise
    HTTPClientError subclasses inside botocore's attempt, which its retry handler retries.
    """

    def __init__(self, inner: Any, *, timeout: float, protocol: str, parsers: Any) -> None:
        self._inner = inner
        self._timeout = timeout
        self._protocol = protocol
        self._parser = parsers.create_parser(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def send(self, request: Any) -> Any:
        started = time.monotonic()
        if request.stream_output:  # the caller reads the body: none of the scanner's calls
            return self._inner.send(request)
        request.stream_output = True  # headers only: the body is read below, bounded
        try:
            response = self._inner.send(request)
        finally:
            request.stream_output = False
        body = self._read_body(response.raw, started + self._timeout, request.url)
        response._content = body  # what AWSResponse.content would have read, unbounded
        self._check(response, body)
        return response

    def _read_body(self, raw: Any, deadline: float, url: str) -> bytes:
        read1 = getattr(raw, "read1", None)
        connection = raw.connection
        chunks: list[bytes] = []
        try:
            if read1 is None:  # urllib3 < 2.1: only the per-read timeout bounds the body
                return bytes(raw.read())
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raw.close()
                    raw.release_conn()
                    raise botocore.exceptions.ReadTimeoutError(
                        endpoint_url=url,
                        error=f"no complete answer within {self._timeout:g} s",
                    )
                if connection is not None and connection.sock is not None:
                    connection.sock.settimeout(min(left, self._timeout))
                chunk = read1(BODY_CHUNK_BYTES)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise botocore.exceptions.ReadTimeoutError(endpoint_url=url, error=exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # reset, IncompleteRead, TLS
            raise botocore.exceptions.ConnectionClosedError(endpoint_url=url) from exc

    def _check(self, response: Any, body: bytes) -> None:
        status = response.status_code
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > len(body):
            raise UnreadableResponseError(
                error=f"HTTP {status} answer cut short: {len(body)} of {length} bytes"
            )
        if self._well_formed(body) and (status < 300 or self._is_service_error(response, body)):
            return
        excerpt = clip(body.decode("utf-8", "replace"), EXCERPT_CHARACTERS)
        raise UnreadableResponseError(
            error=f"HTTP {status} answer that is not the service's: {excerpt!r}"
        )

    def _well_formed(self, body: bytes) -> bool:
        """Whether a body is empty or well-formed JSON or XML, as the protocol says. botocore
        reads a JSON answer that is not JSON (a proxy's page with status 200) as an empty
        result: a listing with nothing in it, which would pass every control."""
        parse = _BODY_SYNTAX.get(self._protocol)
        if parse is None or not body.strip():
            return True
        try:
            parse(body)
        except (ValueError, ElementTree.ParseError):  # JSONDecodeError, UnicodeDecodeError
            return False
        return True

    def _is_service_error(self, response: Any, body: bytes) -> bool:
        """Whether an error answer parses, in the service's protocol, to an error code of
        its own (a code that merely repeats the HTTP status is botocore's stand-in)."""
        answer = {
            "status_code": response.status_code,
            "headers": response.headers,
            "body": body,
            "context": {"operation_name": ""},
        }
        try:
            parsed = self._parser.parse(answer, None)
        except botocore.parsers.ResponseParserError:
            return False
        code = parsed.get("Error", {}).get("Code")
        return bool(code) and code != str(response.status_code)


_BODY_SYNTAX: dict[str, Callable[[bytes], object]] = {
    "json": json.loads,
    "rest-json": json.loads,
    "ec2": ElementTree.fromstring,
    "query": ElementTree.fromstring,
    "rest-xml": ElementTree.fromstring,
}
"""How a botocore protocol's bodies are written; other protocols are not checked."""


class AwsSession:
    """One credential source; clients cached per (region, service) and shared by threads."""

    def __init__(self, options: SessionOptions, boto_session: boto3.Session | None = None) -> None:
        self.options = options
        if options.endpoint_url is not None:
            parsed = urlparse(options.endpoint_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(
                    f"invalid endpoint URL {options.endpoint_url!r}: expected http(s)://host[:port]"
                )
        try:
            self._boto = boto_session or boto3.Session(profile_name=options.profile)
        except botocore.exceptions.ProfileNotFound as exc:
            raise ConfigError(f"AWS profile not found: {options.profile}") from exc
        # Service models are large JSON files: parse them once per process, not per session.
        self._boto._session.register_component("data_loader", _shared_loader())
        self.timeout = DEFAULT_TIMEOUT_SECONDS if options.timeout is None else options.timeout
        self._config = Config(
            # total_max_attempts: botocore's max_attempts counts retries, one attempt more
            retries={"mode": "adaptive", "total_max_attempts": MAX_ATTEMPTS},
            connect_timeout=min(CONNECT_TIMEOUT_SECONDS, self.timeout),
            read_timeout=self.timeout,
            user_agent_extra="driftscan",
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self.requests = RequestLog()
        self._boto.events.register("provide-client-params.*.*", self._record)

    def _record(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        action = iam_action(model.service_model, model.name)
        log.debug("API call %s %s %s", action, model.name, params)  # read calls: ids, no secrets
        if self.options.record_requests:
            self.requests.record(str(context.get("client_region")), action, model.name, params)

    @property
    def boto_session(self) -> boto3.Session:
        return self._boto

    @property
    def default_region(self) -> str | None:
        return self._boto.region_name

    def client(self, service: str, region: str) -> Any:
        key = (region, service)
        with self._lock:  # boto3 client creation is not thread-safe; use is.
            if key not in self._clients:
                limit = in_flight_limit(service, self.options.max_in_flight)
                self._clients[key] = self._bounded(
                    self._boto.client(
                        service,
                        region_name=region,
                        endpoint_url=service_endpoint(service) or self.options.endpoint_url,
                        # One connection per request in flight: none waits, none is discarded.
                        config=self._config.merge(Config(max_pool_connections=limit)),
                    )
                )
                self._slots[key] = threading.BoundedSemaphore(limit)
            return self._clients[key]

    def close_clients(self) -> None:
        """Drop the clients made so far (a client holds its connection pool and about 0.2 MB
        of endpoint data): an account's shards are done with them. Later calls make new
        ones."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self._slots.clear()

    def slot(self, service: str, region: str) -> threading.BoundedSemaphore:
        """Held while a request to ``service`` in ``region`` is in flight: at most
        ``in_flight_limit`` requests are, whatever the number of threads."""
        self.client(service, region)
        return self._slots[(region, service)]

    def require_credentials(self) -> None:
        """Fail at once when no source in boto3's chain holds credentials: on a machine with
        nothing configured, the first thing to say (before the region it also lacks)."""
        if self._boto.get_credentials() is None:
            raise SessionError(self._no_credentials())

    def _no_credentials(self) -> str:
        resolver = self._boto._session.get_component("credential_provider")
        tried = ", ".join(provider.METHOD for provider in resolver.providers)
        return (
            f"no AWS credentials found (tried: {tried}): set AWS_PROFILE or AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY, or run `driftscan demo` to try driftscan without AWS"
        )

    def account_id(self, region: str) -> str:
        """The caller's account; the one call that proves credentials and endpoint work."""
        # Few attempts: an unreachable endpoint should be reported in seconds, not minutes.
        sts = self._bounded(
            self._boto.client(
                "sts",
                region_name=region,
                endpoint_url=self.options.endpoint_url,
                config=self._config.merge(
                    Config(retries={"mode": "standard", "total_max_attempts": STS_ATTEMPTS})
                ),
            )
        )
        try:
            identity = sts.get_caller_identity()
        except botocore.exceptions.NoCredentialsError as exc:
            raise SessionError(self._no_credentials()) from exc
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
        ) as exc:
            raise SessionError(f"AWS endpoint unreachable: {exc}") from exc
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = clip(str(error.get("Code", "error"))), str(error.get("Message", ""))
            raise SessionError(
                f"cannot verify credentials with sts:GetCallerIdentity: "
                f"{code}: {clip(message, EXCERPT_CHARACTERS)}".rstrip(": ")
            ) from exc
        except AWS_FAILURES as exc:
            raise SessionError(f"cannot reach AWS: {clip(str(exc), EXCERPT_CHARACTERS)}") from exc
        return str(identity["Account"])

    def _bounded(self, client: Any) -> Any:
        """``client``, each of whose attempts ends within the session's timeout and fails,
        to be retried, when its answer is cut short or is not the service's."""
        endpoint = client._endpoint  # botocore offers no public hook around one attempt
        model = client.meta.service_model
        endpoint.http_session = _BoundedHttpSession(
            endpoint.http_session,
            timeout=self.timeout,
            # older botocore has only ``protocol``; newer picks among a service's several
            protocol=getattr(model, "resolved_protocol", None) or model.protocol,
            parsers=self._boto._session.get_component("response_parser_factory"),
        )
        return client

    def known_regions(self) -> set[str]:
        regions: set[str] = set()
        for partition in self._boto.get_available_partitions():
            regions.update(self._boto.get_available_regions("ec2", partition_name=partition))
        return regions
