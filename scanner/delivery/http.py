"""HTTPS POST with bounded retries: exponential backoff with full jitter on 429, 5xx and
connection errors; TLS verification always on; redirects refused (they would carry the
token elsewhere). Nothing here logs a header, a body or a URL path."""

from __future__ import annotations

import contextlib
import http.client
import logging
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scanner.delivery import DeliveryFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    attempts: int = 5
    """Tries per batch, the first included."""
    base_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 30.0
    """Seconds one attempt may take in all: connect, send the batch, read the answer."""
    sleep: Callable[[float], None] = field(default=time.sleep)
    random: Callable[[], float] = field(default=random.random)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Full jitter: uniform in [0, base * 2**retry], capped; at least a server's
        Retry-After (capped too)."""
        backoff = min(self.max_delay, self.base_delay * 2**retry) * self.random()
        return min(self.max_delay, max(backoff, retry_after or 0.0))


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, kw_only=True)
class Response:
    status: int
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class _Deadline:
    """Ends one attempt when its time is up, wherever it is: urllib's timeout bounds each
    socket operation, so a receiver that drips a byte every few seconds never trips it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._started = time.monotonic()
        self._timer: threading.Timer | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the clock's alarm (before connecting: a connect that hangs is bounded too)."""
        left = self._started + self.seconds - time.monotonic()
        self._timer = threading.Timer(max(0.0, left), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def hold(self, sock: socket.socket) -> None:
        """The attempt's socket, kept here: urllib drops the connection's reference to it
        once the headers are read, while the body is still to come."""
        with self._lock:
            self._sock = sock
        if self.expired:
            self._shut()

    def _expire(self) -> None:
        self.expired = True
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is not None:
            # The plain socket's shutdown (not SSLSocket's, which drops its TLS state under
            # the reading thread): the blocked read sees EOF and returns. OSError: closed.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class _DeadlineHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()
        self._deadline.hold(self.sock)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, tls: ssl.SSLContext, deadline: _Deadline) -> None:
        super().__init__(context=tls)
        self._tls = tls
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        # do_open hands its keyword arguments to the connection class; typeshed's protocol
        # for that class knows only HTTPSConnection's own.
        return self.do_open(
            _DeadlineHTTPSConnection,  # type: ignore[arg-type]
            req,
            context=self._tls,
            deadline=self._deadline,
        )


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class Poster:
    """POSTs to one destination. Returns any final response (2xx, or 4xx for the caller to
    read); raises DeliveryFailed when retries run out or retrying cannot help."""

    def __init__(self, tls: ssl.SSLContext, retry: RetryPolicy) -> None:
        self.retry = retry
        self._tls = tls

    def post(self, url: str, body: bytes, headers: Mapping[str, str], label: str) -> Response:
        problem = ""
        retry_after: float | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                pause = self.retry.delay(attempt - 1, retry_after)
                log.warning(
                    "%s: %s; retry %d of %d in %.1f s",
                    label,
                    problem,
                    attempt,
                    self.retry.attempts - 1,
                    pause,
                )
                self.retry.sleep(pause)
            retry_after = None
            request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
            deadline = _Deadline(self.retry.timeout)
            deadline.start()
            opener = urllib.request.build_opener(
                _DeadlineHTTPSHandler(self._tls, deadline), _NoRedirect()
            )
            try:
                with opener.open(request, timeout=self.retry.timeout) as response:
                    answer = Response(status=response.status, body=response.read())
                if not deadline.expired:
                    return answer
            except urllib.error.HTTPError as exc:
                status = exc.code
                if 300 <= status < 400:
                    raise DeliveryFailed(
                        f"redirected (HTTP {status}): give the final URL"
                    ) from None
                if not _retryable(status):
                    return Response(status=status, body=exc.read())
                problem, retry_after = f"HTTP {status}", _retry_after(exc.headers)
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, ssl.SSLCertVerificationError):
                    raise DeliveryFailed(
                        f"TLS certificate not trusted ({exc.reason.verify_message}); "
                        "pass --ca-bundle with the CA that signed it"
                    ) from None
                problem = f"connection failed ({_reason(exc.reason)})"
            except (OSError, http.client.HTTPException) as exc:
                problem = f"connection failed ({_reason(exc)})"
            finally:
                deadline.cancel()
            if deadline.expired:
                problem = f"no complete answer within {self.retry.timeout:g} s"
        raise DeliveryFailed(f"{problem} after {self.retry.attempts} attempts")


def _reason(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
