"""AWS sessions: credentials, shared botocore config, cached clients, a request log."""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.exceptions
import botocore.loaders
from botocore.config import Config

from scanner.errors import ConfigError, SessionError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5
"""A hung endpoint costs at most this per connection attempt."""
READ_TIMEOUT_SECONDS = 30
"""A response that stalls longer than this is retried, then reported as ERROR."""
MAX_ATTEMPTS = 8
"""Total attempts per request (first try plus retries) in botocore's adaptive mode."""


@dataclass(frozen=True, kw_only=True)
class SessionOptions:
    profile: str | None = None
    endpoint_url: str | None = None
    """Sends every request here (LocalStack, a moto server); else AWS_ENDPOINT_URL or AWS."""
    max_pool_connections: int = 16


def iam_action(service_model: Any, operation: str) -> str:
    """IAM action of an API operation (``kms``, ``ListKeys`` -> ``kms:ListKeys``)."""
    prefix = service_model.signing_name
    if prefix == "apigateway":  # API Gateway authorises by HTTP verb, not by operation
        return "apigateway:GET"
    return f"{prefix}:{operation}"


class RequestLog:
    """Every API call the scanner made: (IAM action, operation, parameters). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str, str]] = []

    def record(self, action: str, operation: str, params: dict[str, Any]) -> None:
        key = json.dumps(params, sort_keys=True, default=str)
        with self._lock:
            self.calls.append((action, operation, key))

    def operations(self) -> set[str]:
        """API operation names called (``ListKeys``)."""
        return {operation for _, operation, _ in self.calls}

    def actions(self) -> set[str]:
        """IAM actions those calls needed."""
        return {action for action, _, _ in self.calls}

    def duplicates(self) -> dict[tuple[str, str, str], int]:
        return {call: n for call, n in Counter(self.calls).items() if n > 1}


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


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
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            max_pool_connections=options.max_pool_connections,
            user_agent_extra="driftscan",
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.requests = RequestLog()
        self._boto.events.register("provide-client-params.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        action = iam_action(model.service_model, model.name)
        log.debug("API call %s %s %s", action, model.name, params)  # read calls: ids, no secrets
        self.requests.record(action, model.name, params)

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
                self._clients[key] = self._boto.client(
                    service,
                    region_name=region,
                    endpoint_url=self.options.endpoint_url,
                    config=self._config,
                )
            return self._clients[key]

    def account_id(self, region: str) -> str:
        """The caller's account; the one call that proves credentials and endpoint work."""
        # Few attempts: an unreachable endpoint should be reported in seconds, not minutes.
        sts = self._boto.client(
            "sts",
            region_name=region,
            endpoint_url=self.options.endpoint_url,
            config=self._config.merge(Config(retries={"mode": "standard", "max_attempts": 2})),
        )
        try:
            identity = sts.get_caller_identity()
        except botocore.exceptions.NoCredentialsError as exc:
            raise SessionError(
                "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID, "
                "or try `driftscan demo`)"
            ) from exc
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
        ) as exc:
            raise SessionError(f"AWS endpoint unreachable: {exc}") from exc
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            raise SessionError(
                f"cannot verify credentials with sts:GetCallerIdentity: "
                f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise SessionError(f"cannot reach AWS: {exc}") from exc
        return str(identity["Account"])

    def known_regions(self) -> set[str]:
        regions: set[str] = set()
        for partition in self._boto.get_available_partitions():
            regions.update(self._boto.get_available_regions("ec2", partition_name=partition))
        return regions
