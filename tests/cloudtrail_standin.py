"""A loopback stand-in for CloudTrail's JSON API: LookupEvents only (moto lacks it).

It answers ``X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.
LookupEvents`` from the events it was given, newest first, filtered by one lookup
attribute (ResourceName, EventName or EventId) and the time range, ``page_size`` events a
page with an opaque NextToken. Like CloudTrail, it throttles (400 ThrottlingException) a
request that makes more than ``limit`` arrivals within ``window`` seconds (one, unless a
test runs it on a faster clock), and it can deny every
request (400 AccessDeniedException). It records when each request arrived and what it
asked, for tests to assert on.

Events are CloudTrail records shaped like the examples of the AWS CloudTrail User Guide
("CloudTrail userIdentity element", "CloudTrail record contents"): ``record`` builds one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.config import Config

from scanner.engine.attribution import LOOKUP_PERIOD, SlidingWindowLimiter

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
FASTER = 10
"""Tests run LookupEvents limiters (and the stand-in's throttling window) on a clock this many
times faster than AWS's: the limiter keeps to any period (it holds a slot from a request's
send until a period after its answer, and AWS counts the request on arrival, in between),
and each lookup waits a tenth of the time."""


def faster_lookup_limiter() -> SlidingWindowLimiter:
    """The scanner's LookupEvents limiter on the tests' faster clock."""
    return SlidingWindowLimiter(period=LOOKUP_PERIOD / FASTER)


ACCOUNT = "123456789012"

IAM_USER = {
    "type": "IAMUser",
    "principalId": "AIDAJ45Q7YFFAREXAMPLE",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/Alice",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "userName": "Alice",
}
ASSUMED_ROLE = {
    "type": "AssumedRole",
    "principalId": "AROAIDPPEZS35WEXAMPLE:MySessionName",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/RoleToBeAssumed/MySessionName",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAIDPPEZS35WEXAMPLE",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/RoleToBeAssumed",
            "accountId": ACCOUNT,
            "userName": "RoleToBeAssumed",
        },
        "attributes": {"mfaAuthenticated": "false", "creationDate": "2026-12-06T08:00:00Z"},
    },
}
ROOT = {
    "type": "Root",
    "principalId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
}
AWS_SERVICE = {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}


def record(
    *,
    name: str,
    source: str,
    when: str,
    identity: Mapping[str, Any],
    resources: list[tuple[str, str]],
    parameters: Mapping[str, Any] | None = None,
    source_ip: str = "198.51.100.7",
    region: str = "us-east-1",
    read_only: bool = False,
) -> dict[str, Any]:
    """A CloudTrail management event record; ``resources`` are (type, name-or-ARN)."""
    return {
        "eventVersion": "1.09",
        "userIdentity": dict(identity),
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": (
            identity["invokedBy"] if identity["type"] == "AWSService" else source_ip
        ),
        "userAgent": "aws-cli/2.15.0 Python/3.11.6",
        "requestParameters": dict(parameters) if parameters is not None else None,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "resources": [
            {"accountId": ACCOUNT, "type": kind, "ARN": value} for kind, value in resources
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def _epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _lookup_event(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The LookupEvents ``Event`` for a record (API Reference, Event data type)."""
    identity = rec["userIdentity"]
    return {
        "EventId": rec["eventID"],
        "EventName": rec["eventName"],
        "ReadOnly": "true" if rec["readOnly"] else "false",
        "AccessKeyId": identity.get("accessKeyId", ""),
        "EventTime": _epoch(rec["eventTime"]),
        "EventSource": rec["eventSource"],
        "Username": identity.get("userName", identity.get("invokedBy", "root")),
        "Resources": [
            {"ResourceType": r["type"], "ResourceName": r["ARN"]} for r in rec["resources"]
        ],
        "CloudTrailEvent": json.dumps(rec),
    }


def _matches(rec: Mapping[str, Any], key: str, value: str) -> bool:
    if key == "ResourceName":
        return any(r["ARN"] == value for r in rec["resources"])
    if key == "EventName":
        return bool(rec["eventName"] == value)
    if key == "EventId":
        return bool(rec["eventID"] == value)
    raise ValueError(f"the stand-in does not look up by {key}")


class CloudTrailStandIn:
    def __init__(self, records: list[dict[str, Any]], *, page_size: int = 50) -> None:
        self.records = records
        self.page_size = page_size
        self.deny = False
        self.limit = 2
        self.window = 1.0
        """Seconds in which at most ``limit`` requests may arrive; more are throttled."""
        self.arrivals: list[float] = []
        """time.monotonic() of every request, in order of arrival."""
        self.requests: list[dict[str, Any]] = []
        self.throttled = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def client(self, region: str = "us-east-1", config: Config | None = None) -> Any:
        return boto3.client(
            "cloudtrail",
            region_name=region,
            config=config,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            self.arrivals.append(now)
            self.requests.append(body)
            recent = sum(1 for t in self.arrivals if t > now - self.window)
            if recent > self.limit:
                self.throttled += 1
                return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        if self.deny:
            return 400, {
                "__type": "AccessDeniedException",
                "message": "User: arn:aws:iam::123456789012:user/scanner is not authorized to"
                " perform: cloudtrail:LookupEvents because no identity-based policy allows"
                " the cloudtrail:LookupEvents action",
            }
        (attribute,) = body.get("LookupAttributes", [{"AttributeKey": "", "AttributeValue": ""}])
        start, end = body.get("StartTime", 0), body.get("EndTime", float("inf"))
        found = sorted(
            (
                rec
                for rec in self.records
                if _matches(rec, attribute["AttributeKey"], attribute["AttributeValue"])
                and start <= _epoch(rec["eventTime"]) <= end
            ),
            key=lambda rec: rec["eventTime"],
            reverse=True,
        )
        size = min(body.get("MaxResults", 50), self.page_size)
        offset = int(body.get("NextToken", "0"))
        page: dict[str, Any] = {
            "Events": [_lookup_event(rec) for rec in found[offset : offset + size]]
        }
        if offset + size < len(found):
            page["NextToken"] = str(offset + size)
        return 200, page

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if self.headers.get("X-Amz-Target") != TARGET:
                    status, answer = 400, {"__type": "UnknownOperationException"}
                else:
                    status, answer = standin._answer(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[CloudTrailStandIn]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()
