"""HTTPS POST with bounded retries: exponential backoff with full jitter on 429, 5xx and
connection errors; TLS verification always on; redirects refused (they would carry the
token elsewhere). Nothing here logs a header, a body or a URL path."""

from __future__ import annotations

import http.client
import logging
import random
import ssl
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
    """Seconds to connect and to wait for each response."""
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
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=tls), _NoRedirect()
        )

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
            try:
                with self._opener.open(request, timeout=self.retry.timeout) as response:
                    return Response(status=response.status, body=response.read())
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
            except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                problem = f"connection failed ({_reason(exc)})"
        raise DeliveryFailed(f"{problem} after {self.retry.attempts} attempts")


def _reason(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
