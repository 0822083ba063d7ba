"""Who changed it, and when: CloudTrail attribution of a finding's resource (issue 13 item 1).

For a finding that is new or changed since the previous scan, the engine asks CloudTrail's
event history (``LookupEvents``, management events of the last 90 days, read-only) which
calls touched the resource between the previous scan's start and this scan's end, and names
the most plausible cause: the newest event whose call can change the field the control
judges (``WRITE_CALLS``), with its principal, time, source and event id.

LookupEvents allows 2 requests per second per account and region. Every request (botocore's
retries included) waits for one ``SlidingWindowLimiter`` per (account, region), shared by
every thread of the process; a scan makes at most ``max_lookups`` lookups and names the
resources it left over; a resource judged by several controls costs one lookup, and settled
answers go to a ``LookupCache`` (the history store implements it) so that attributing the
same window again costs no request.
AccessDenied or throttling never changes a finding: the attribution says why it is missing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import botocore.exceptions

LOOKUP_ACTION = "cloudtrail:LookupEvents"
"""The IAM action attribution needs; ``iam-policy`` lists it only when attribution is on."""

EVENT_HISTORY = timedelta(days=90)
"""How far back LookupEvents reaches: older events are only in a trail's S3 files."""

EVENT_DELIVERY_DELAY = timedelta(minutes=15)
"""CloudTrail may take this long to show an event: an answer for a window that ended more
recently may still grow, so it is kept for this scan only, never in the LookupCache."""

LOOKUP_RATE = 2
"""LookupEvents requests allowed per account and region in any window of LOOKUP_PERIOD."""

LOOKUP_PERIOD = 1.1
"""AWS counts 2 requests per second on arrival; the limiter frees a slot a period after the
answer, so arrivals are spaced whatever the delays, and a tenth of a second of slack covers
the difference between AWS's clock and ours."""

DEFAULT_MAX_LOOKUPS = 100
"""Resources a scan looks up at most (each lookup: one or two lookup attributes, up to
MAX_PAGES pages each); the rest are named as left over, never silently skipped."""

MAX_PAGES = 5
"""Pages of 50 events read per lookup attribute; beyond, the attribution says it is
truncated (the newest events come first, so the cause is rarely in the cut)."""

PAGE_SIZE = 50
"""LookupEvents' largest MaxResults."""

_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})


# --- The matching table: which CloudTrail write calls change what each control judges ---


@dataclass(frozen=True, kw_only=True)
class WriteCall:
    """One CloudTrail management event (an API write) that can change a judged field."""

    event_name: str
    """CloudTrail's eventName, the API operation: ``DisableKeyRotation``."""
    event_source: str
    """CloudTrail's eventSource: ``kms.amazonaws.com``."""
    fields: tuple[str, ...] = ()
    """requestParameters keys that carry the judged field, shown as what the call changed.
    For a call that sets many fields (ModifyDBCluster), an event whose requestParameters name
    none of them changed something else and is not a plausible cause."""

    def changed(self, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
        """The fields' values among an event's requestParameters (keys matched without case:
        CloudTrail writes most in lowerCamelCase, a few as the API spells them)."""
        by_lower = {key.lower(): (key, value) for key, value in (parameters or {}).items()}
        return dict(by_lower[f.lower()] for f in self.fields if f.lower() in by_lower)


@dataclass(frozen=True, kw_only=True)
class ControlWrites:
    """What can change one control's judged field: calls on the resource, or why none."""

    calls: tuple[WriteCall, ...] = ()
    unattributable: str = ""
    """Why no call on the judged resource explains a change (set exactly when calls is empty)."""

    def __post_init__(self) -> None:
        if bool(self.calls) == bool(self.unattributable):
            raise ValueError("a control's writes are calls, or a reason there are none")

    def match(self, event: TrailEvent) -> WriteCall | None:
        """The call this event made, when it can have changed the judged field."""
        for call in self.calls:
            if (call.event_name, call.event_source) != (event.event_name, event.event_source):
                continue
            parameters = event.request_parameters
            if call.fields and parameters and not call.changed(parameters):
                return None
            return call
        return None


def _calls(source: str, *names: str, fields: tuple[str, ...] = ()) -> tuple[WriteCall, ...]:
    service = f"{source}.amazonaws.com"
    return tuple(WriteCall(event_name=n, event_source=service, fields=fields) for n in names)


def _writes(*groups: tuple[WriteCall, ...]) -> ControlWrites:
    return ControlWrites(calls=tuple(call for group in groups for call in group))


# Creation calls are listed wherever creation sets the judged field: they are a resource's
# oldest event, so they are the plausible cause only when nothing changed it since.
# CreateDeployment is not a stage call here: redeploying leaves a stage's settings as they are.
_STAGE = _calls("apigateway", "CreateStage", "UpdateStage")
_API_METHODS = _calls(
    "apigateway",
    "CreateResource",
    "DeleteResource",
    "PutMethod",
    "DeleteMethod",
    "ImportRestApi",
    "PutRestApi",
)
_RDS_CREATE = _calls("rds", "CreateDBCluster", "CreateDBInstance")


def _rds_modify(*fields: str) -> tuple[WriteCall, ...]:
    return _calls("rds", "ModifyDBCluster", "ModifyDBInstance", fields=fields)


def _cache_group(*fields: str) -> tuple[WriteCall, ...]:
    return _calls("elasticache", "CreateReplicationGroup") + _calls(
        "elasticache", "ModifyReplicationGroup", fields=fields
    )


_ROLE_POLICY = (
    _calls("iam", "CreateRole")
    + _calls("iam", "PutRolePolicy", "DeleteRolePolicy", fields=("policyName",))
    + _calls("iam", "AttachRolePolicy", "DetachRolePolicy", fields=("policyArn",))
    + _calls("iam", "CreatePolicyVersion", "SetDefaultPolicyVersion", fields=("policyArn",))
)
_NAME_TAG = (
    _calls("ec2", "CreateTags", "DeleteTags")
    + _calls("rds", "AddTagsToResource", "RemoveTagsFromResource")
    + _calls("elasticache", "AddTagsToResource", "RemoveTagsFromResource")
    + _calls("kinesis", "AddTagsToStream", "RemoveTagsFromStream")
    + _calls("logs", "TagLogGroup", "UntagLogGroup", "TagResource", "UntagResource")
    + _calls("iam", "TagRole", "UntagRole")
    + _calls("elasticfilesystem", "CreateTags", "DeleteTags")
    + sum(
        (
            _calls(service, "TagResource", "UntagResource")
            for service in ("kms", "ecs", "elasticfilesystem", "secretsmanager", "apigateway")
        ),
        (),
    )
)

WRITE_CALLS: Mapping[str, ControlWrites] = {
    "apigateway.cors_restricted": _writes(
        _API_METHODS,
        _calls(
            "apigateway",
            "PutIntegration",
            "PutIntegrationResponse",
            "UpdateIntegrationResponse",
            "DeleteIntegrationResponse",
            "UpdateMethod",
        ),
    ),
    "apigateway.required_routes": _writes(_API_METHODS),
    "apigateway.stage_access_logging": _writes(_STAGE),
    "apigateway.stage_execution_logging": _writes(_STAGE),
    "apigateway.stage_throttling": _writes(_STAGE),
    "apigateway.usage_plan_quota": _writes(
        _calls(
            "apigateway",
            "CreateUsagePlan",
            "UpdateUsagePlan",
            "DeleteUsagePlan",
            "CreateUsagePlanKey",
            "DeleteUsagePlanKey",
        )
    ),
    "cloudformation.required_outputs": _writes(
        _calls("cloudformation", "CreateStack", "UpdateStack", "ExecuteChangeSet")
    ),
    "cloudformation.stack_drift": ControlWrites(
        unattributable="drift is made by calls on the stack's resources, which CloudTrail"
        " records under those resources, not under the stack"
    ),
    "ec2.datastore_sg_least_privilege": _writes(
        _calls("ec2", "CreateSecurityGroup"),
        _calls(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
            fields=("ipPermissions", "securityGroupRuleIds"),
        ),
        _calls("ec2", "ModifySecurityGroupRules"),
    ),
    "ecs.container_insights_enabled": _writes(
        _calls("ecs", "CreateCluster"),
        _calls("ecs", "UpdateClusterSettings", "UpdateCluster", fields=("settings",)),
    ),
    "ecs.task_roles_defined": _writes(
        _calls("ecs", "RegisterTaskDefinition", "CreateService"),
        _calls("ecs", "UpdateService", fields=("taskDefinition",)),
    ),
    "efs.backup_policy_enabled": _writes(
        _calls("elasticfilesystem", "CreateFileSystem"),
        _calls("elasticfilesystem", "PutBackupPolicy", fields=("backupPolicy",)),
    ),
    "efs.encrypted_with_cmk": _writes(_calls("elasticfilesystem", "CreateFileSystem")),
    "efs.mount_targets_in_private_subnets": _writes(
        _calls("elasticfilesystem", "CreateMountTarget", "DeleteMountTarget")
    ),
    "efs.throughput_and_performance_mode": _writes(
        _calls("elasticfilesystem", "CreateFileSystem"),
        _calls(
            "elasticfilesystem",
            "UpdateFileSystem",
            fields=("throughputMode", "provisionedThroughputInMibps"),
        ),
    ),
    "elasticache.encryption_at_rest": _writes(_calls("elasticache", "CreateReplicationGroup")),
    "elasticache.encryption_in_transit": _writes(
        _cache_group("transitEncryptionEnabled", "transitEncryptionMode")
    ),
    "elasticache.maintenance_window_approved": _writes(
        _cache_group("preferredMaintenanceWindow"),
        _calls("elasticache", "ModifyCacheCluster", fields=("preferredMaintenanceWindow",)),
    ),
    "elasticache.multi_az": _writes(
        _cache_group("multiAZEnabled", "automaticFailoverEnabled"),
        _calls("elasticache", "DecreaseReplicaCount", "IncreaseReplicaCount"),
    ),
    "elasticache.snapshot_retention": _writes(
        _cache_group("snapshotRetentionLimit", "snapshotWindow")
    ),
    "iam.task_role_grants_scoped": _writes(_ROLE_POLICY),
    "iam.task_role_least_privilege": _writes(_ROLE_POLICY),
    "kinesis.retention_period": _writes(
        _calls("kinesis", "CreateStream"),
        _calls(
            "kinesis",
            "IncreaseStreamRetentionPeriod",
            "DecreaseStreamRetentionPeriod",
            fields=("retentionPeriodHours",),
        ),
    ),
    "kinesis.stream_encrypted_with_cmk": _writes(
        _calls("kinesis", "StartStreamEncryption", "StopStreamEncryption", fields=("keyId",))
    ),
    "kms.cmk_rotation_enabled": _writes(
        _calls("kms", "CreateKey", "EnableKeyRotation", "DisableKeyRotation")
    ),
    "kms.key_in_use_enabled": _writes(
        _calls("kms", "DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion")
    ),
    "logs.retention_set": _writes(
        _calls("logs", "CreateLogGroup"),
        _calls("logs", "PutRetentionPolicy", fields=("retentionInDays",)),
        _calls("logs", "DeleteRetentionPolicy"),
    ),
    "rds.backup_retention": _writes(_RDS_CREATE, _rds_modify("backupRetentionPeriod")),
    "rds.cluster_multi_az": _writes(_RDS_CREATE, _calls("rds", "DeleteDBInstance")),
    "rds.deletion_protection": _writes(_RDS_CREATE, _rds_modify("deletionProtection")),
    "rds.log_exports": _writes(_RDS_CREATE, _rds_modify("cloudwatchLogsExportConfiguration")),
    "rds.maintenance_window_approved": _writes(
        _RDS_CREATE, _rds_modify("preferredMaintenanceWindow")
    ),
    "rds.not_publicly_accessible": _writes(
        _calls("rds", "CreateDBInstance"),
        _calls("rds", "ModifyDBInstance", fields=("publiclyAccessible",)),
    ),
    "rds.storage_encrypted_with_cmk": _writes(
        _RDS_CREATE,
        _calls("rds", "RestoreDBClusterFromSnapshot", "RestoreDBInstanceFromDBSnapshot"),
    ),
    "secretsmanager.rotation_enabled": _writes(
        _calls("secretsmanager", "CreateSecret", "RotateSecret", "CancelRotateSecret")
    ),
    "secretsmanager.secret_encrypted_with_cmk": _writes(
        _calls("secretsmanager", "CreateSecret"),
        _calls("secretsmanager", "UpdateSecret", fields=("kmsKeyId",)),
    ),
    "tagging.environment_suffix": _writes(_NAME_TAG),
    "vpc.nat_gateway_per_az": _writes(
        _calls(
            "ec2",
            "CreateNatGateway",
            "DeleteNatGateway",
            "CreateSubnet",
            "CreateRoute",
            "ReplaceRoute",
            "DeleteRoute",
            "AssociateRouteTable",
            "ReplaceRouteTableAssociation",
            "DisassociateRouteTable",
        )
    ),
}
"""For each control id: the write calls that plausibly change the field it judges."""

_UNDECLARED = ControlWrites(unattributable="the control names no calls that change what it judges")
"""What a control outside WRITE_CALLS (a plugin's) can be attributed to: nothing."""


def writes_of(check_id: str) -> ControlWrites:
    return WRITE_CALLS.get(check_id, _UNDECLARED)


# --- Events, as CloudTrail records them ---


@dataclass(frozen=True, kw_only=True)
class TrailEvent:
    """One management event from LookupEvents, parsed from its CloudTrailEvent JSON."""

    event_id: str
    event_name: str
    event_source: str
    event_time: str
    """UTC, ISO 8601 (``2026-12-07T09:14:03Z``)."""
    principal: str
    """Who: the IAM user's ARN, the assumed role's ARN, ``root``, or the AWS service."""
    principal_type: str
    """userIdentity.type: ``IAMUser``, ``AssumedRole``, ``AWSService``, ``Root``..."""
    session_name: str | None = None
    """The role session name, for an AssumedRole."""
    source: str
    """sourceIPAddress: an IP address, or the AWS service that made the call for the caller."""
    request_parameters: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable, for the history store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrailEvent:
        return cls(**data)


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _principal(identity: Mapping[str, Any]) -> tuple[str, str | None]:
    """(principal, role session name) from a CloudTrail userIdentity element."""
    kind = identity.get("type", "")
    if kind == "Root":
        return "root", None
    if kind == "AWSService":
        return str(identity.get("invokedBy", "AWS service")), None
    if kind == "AssumedRole":
        issuer = identity.get("sessionContext", {}).get("sessionIssuer", {})
        session = str(identity.get("arn", "")).rpartition("/")[2] or None
        return str(issuer.get("arn") or identity.get("arn", "")), session
    name = identity.get("arn") or identity.get("userName") or identity.get("principalId")
    return str(name or kind or "unknown"), None


def parse_event(event: Mapping[str, Any]) -> TrailEvent:
    """A LookupEvents ``Event`` (with its CloudTrailEvent JSON string) as a TrailEvent;
    ValueError when CloudTrailEvent is not a JSON object."""
    record = json.loads(event.get("CloudTrailEvent") or "{}")
    if not isinstance(record, dict):
        raise ValueError(f"CloudTrailEvent of event {event.get('EventId')} is not an object")
    identity = record.get("userIdentity") or {}
    principal, session = _principal(identity)
    when = record.get("eventTime")
    if not when and isinstance(event.get("EventTime"), datetime):
        when = _utc_iso(event["EventTime"])
    parameters = record.get("requestParameters")
    return TrailEvent(
        event_id=str(record.get("eventID") or event.get("EventId", "")),
        event_name=str(record.get("eventName") or event.get("EventName", "")),
        event_source=str(record.get("eventSource") or event.get("EventSource", "")),
        event_time=str(when or ""),
        principal=principal,
        principal_type=str(identity.get("type", "")),
        session_name=session,
        source=str(record.get("sourceIPAddress") or identity.get("invokedBy") or ""),
        request_parameters=parameters if isinstance(parameters, dict) else None,
    )


# --- What a finding carries ---


class AttributionStatus(StrEnum):
    FOUND = "found"
    """A write call that can change the judged field touched the resource in the window."""
    NONE = "none"
    """CloudTrail was read and names no such call; ``reason`` says why."""
    UNAVAILABLE = "unavailable"
    """CloudTrail could not be read (or was not asked); ``reason`` says why."""


class AttributionReason(StrEnum):
    NO_EVENTS = "no_events"
    """No management event touched the resource in the window (LookupEvents holds no data
    events, and a change may take up to 15 minutes to appear)."""
    NO_MATCHING_CALL = "no_matching_call"
    """Events touched the resource, none with a call that changes the judged field."""
    OUTSIDE_EVENT_HISTORY = "outside_event_history"
    """The window starts before the 90 days LookupEvents keeps."""
    NOT_ATTRIBUTABLE = "not_attributable"
    """No call on the resource explains the control's field: it changes through calls on
    other resources, or the control (a plugin's) names no write calls; ``detail`` says which."""
    ACCESS_DENIED = "access_denied"
    THROTTLED = "throttled"
    """LookupEvents was throttled past the client's retries."""
    LOOKUP_FAILED = "lookup_failed"
    BUDGET_EXHAUSTED = "budget_exhausted"
    """The scan's maximum number of lookups was spent before this resource's turn."""


@dataclass(frozen=True, kw_only=True)
class CauseEvent:
    """An event as a finding shows it."""

    event_name: str
    event_source: str
    event_time: str
    """UTC, ISO 8601."""
    principal: str
    session_name: str | None
    source: str
    """Source IP address, or the AWS service that made the call."""
    event_id: str
    plausible_cause: bool
    """The newest event whose call can change the judged field: the one to blame first."""
    changed: Mapping[str, Any] = field(default_factory=dict)
    """The judged fields as the call set them (from requestParameters), when it names them."""


@dataclass(frozen=True, kw_only=True)
class Attribution:
    """Who changed one finding's resource in the window, or why that is not known."""

    status: AttributionStatus
    events: tuple[CauseEvent, ...] = ()
    """Write events that touched the resource in the window, newest first."""
    reason: AttributionReason | None = None
    """Set exactly when status is not FOUND."""
    detail: str = ""
    """Words for the reason: the AWS error message, the unattributable control's note."""
    truncated: bool = False
    """More events than MAX_PAGES pages: the oldest were not read."""

    @property
    def cause(self) -> CauseEvent | None:
        return next((e for e in self.events if e.plausible_cause), None)

    def summary(self) -> str:
        """One line for the table, ``diff`` and cron lines (unescaped: AWS chose the text)."""
        cause = self.cause
        if cause is None:
            why = self.reason.value.replace("_", " ") if self.reason else self.status.value
            return f"changed by: not known ({why}{': ' + self.detail if self.detail else ''})"
        who = cause.principal + (f" (session {cause.session_name})" if cause.session_name else "")
        return (
            f"changed by {who} with {cause.event_name} at {cause.event_time}"
            f" from {cause.source} (event {cause.event_id})"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable, for reports and the history store (``ScanResult.attributions``):
        the ``summary`` line goes with it, so that reports need not import the engine."""
        return {
            "summary": self.summary(),
            "status": self.status.value,
            "reason": self.reason.value if self.reason else None,
            "detail": self.detail,
            "truncated": self.truncated,
            "events": [asdict(e) for e in self.events],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attribution:
        return cls(
            status=AttributionStatus(data["status"]),
            reason=AttributionReason(data["reason"]) if data.get("reason") else None,
            detail=data.get("detail", ""),
            truncated=data.get("truncated", False),
            events=tuple(CauseEvent(**event) for event in data.get("events", ())),
        )


def _any_write(event: TrailEvent) -> WriteCall:
    return WriteCall(event_name=event.event_name, event_source=event.event_source)


def rank(
    check_id: str | None, events: Iterable[TrailEvent], *, truncated: bool = False
) -> Attribution:
    """The attribution of these write events (any order) to the field ``check_id`` judges,
    or, with no control, to any change of the resource."""
    match = writes_of(check_id).match if check_id is not None else _any_write
    newest_first = sorted(events, key=lambda e: e.event_time, reverse=True)
    shown: list[CauseEvent] = []
    blamed = False
    for event in newest_first:
        call = match(event)
        shown.append(
            CauseEvent(
                event_name=event.event_name,
                event_source=event.event_source,
                event_time=event.event_time,
                principal=event.principal,
                session_name=event.session_name,
                source=event.source,
                event_id=event.event_id,
                plausible_cause=call is not None and not blamed,
                changed=call.changed(event.request_parameters) if call else {},
            )
        )
        blamed = blamed or call is not None
    if blamed:
        return Attribution(status=AttributionStatus.FOUND, events=tuple(shown), truncated=truncated)
    reason = AttributionReason.NO_MATCHING_CALL if shown else AttributionReason.NO_EVENTS
    return Attribution(
        status=AttributionStatus.NONE, events=tuple(shown), reason=reason, truncated=truncated
    )


def unavailable(reason: AttributionReason, detail: str = "") -> Attribution:
    return Attribution(status=AttributionStatus.UNAVAILABLE, reason=reason, detail=detail)


# --- The rate limit ---


class SlidingWindowLimiter:
    """At most ``rate`` requests in any window of ``period`` seconds, across threads.

    A request holds its slot from the moment it may leave until ``period`` after its answer
    came back: AWS counts requests on arrival, which lies between the two, so however late
    a busy machine sends a request, no ``rate + 1`` of them arrive within ``period``. A
    sliding log, not an average: a token bucket refilled at 2/s lets a burst of 2 follow
    the previous 2 at once, which LookupEvents throttles. ``acquire`` and ``release`` pair
    up per thread (botocore sends and reads each attempt on the calling thread)."""

    def __init__(
        self,
        rate: int = LOOKUP_RATE,
        period: float = LOOKUP_PERIOD,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = rate
        self._period = period
        self._clock = clock
        self._sleep = sleep
        self._answered: list[float] = []
        """When the requests of the window were answered."""
        self._in_flight = 0
        self._lock = threading.Lock()
        self._mine = threading.local()

    def acquire(self) -> None:
        with self._lock:
            while True:
                now = self._clock()
                self._answered = [at for at in self._answered if at > now - self._period]
                if self._in_flight + len(self._answered) < self._rate:
                    self._in_flight += 1
                    self._mine.holding = getattr(self._mine, "holding", 0) + 1
                    return
                # Until the oldest answer leaves the window, or (all in flight) an answer.
                wait = min(self._answered) + self._period - now if self._answered else 0.05
                self._lock.release()  # let answers be recorded meanwhile
                try:
                    self._sleep(wait)
                finally:
                    self._lock.acquire()

    def release(self) -> None:
        """The calling thread's request was answered (or failed): its slot frees ``period``
        from now."""
        if not getattr(self._mine, "holding", 0):
            return
        self._mine.holding -= 1
        with self._lock:
            self._in_flight -= 1
            self._answered.append(self._clock())


class RateLimiters:
    """One limiter per (account, region), created on first use; thread-safe."""

    def __init__(self, factory: Callable[[], SlidingWindowLimiter] = SlidingWindowLimiter):
        self._factory = factory
        self._limiters: dict[tuple[str, str], SlidingWindowLimiter] = {}
        self._lock = threading.Lock()

    def limiter(self, account_id: str, region: str) -> SlidingWindowLimiter:
        with self._lock:
            key = (account_id, region)
            if key not in self._limiters:
                self._limiters[key] = self._factory()
            return self._limiters[key]


SHARED_LIMITERS = RateLimiters()
"""The process's limiters: every scan in the process shares the per-account quota."""


# --- The cache ---


@dataclass(frozen=True, kw_only=True)
class LookupKey:
    """One LookupEvents question: its answer is settled EVENT_DELIVERY_DELAY after ``end``."""

    account_id: str
    region: str
    attribute: str
    """The LookupAttribute key: ``ResourceName``."""
    value: str
    start: str
    """UTC, ISO 8601."""
    end: str


@dataclass(frozen=True, kw_only=True)
class LookupAnswer:
    events: tuple[TrailEvent, ...]
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable, for the history store."""
        return {"events": [e.as_dict() for e in self.events], "truncated": self.truncated}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LookupAnswer:
        return cls(
            events=tuple(TrailEvent.from_dict(e) for e in data["events"]),
            truncated=data["truncated"],
        )


class LookupCache(Protocol):
    """Settled LookupEvents answers (never errors, never a window that ended less than
    EVENT_DELIVERY_DELAY ago); the history store keeps them across scans, so that attributing
    the same window again asks CloudTrail nothing."""

    def get(self, key: LookupKey) -> LookupAnswer | None: ...

    def put(self, key: LookupKey, answer: LookupAnswer) -> None: ...


class MemoryLookupCache:
    """A LookupCache for one process."""

    def __init__(self) -> None:
        self._answers: dict[LookupKey, LookupAnswer] = {}
        self._lock = threading.Lock()

    def get(self, key: LookupKey) -> LookupAnswer | None:
        with self._lock:
            return self._answers.get(key)

    def put(self, key: LookupKey, answer: LookupAnswer) -> None:
        with self._lock:
            self._answers[key] = answer


# --- The lookup ---


@dataclass(frozen=True, kw_only=True)
class Subject:
    """What to attribute: one finding's resource under one control."""

    check_id: str | None
    """None for a resource whose configuration drifted (``--drift-from``): the newest write
    call of any kind is the plausible cause."""
    account_id: str
    region: str
    resource_id: str
    resource_arn: str | None = None


@dataclass(frozen=True, kw_only=True)
class Window:
    """[previous scan's start, this scan's end], timezone-aware."""

    start: datetime
    end: datetime


ClientFor = Callable[[str, str], Any]
"""(account id, region) -> a botocore CloudTrail client of the scanner's session."""


class _LookupError(Exception):
    def __init__(self, reason: AttributionReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_SETTLED_FOR_REGION = frozenset({AttributionReason.ACCESS_DENIED, AttributionReason.LOOKUP_FAILED})
"""Failures that answer every later lookup in the account and region (throttling passes)."""


class Attributor:
    """Attributes subjects for one scan: thread-safe, within one budget of lookups."""

    def __init__(
        self,
        client_for: ClientFor,
        window: Window,
        *,
        cache: LookupCache | None = None,
        limiters: RateLimiters = SHARED_LIMITERS,
        max_lookups: int = DEFAULT_MAX_LOOKUPS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client_for = client_for
        self._window = window
        self._cache = cache
        self._this_scan = MemoryLookupCache()
        self._limiters = limiters
        self._budget = max_lookups
        self._now = now
        self._left_over: list[Subject] = []
        # Per (account, region), the AccessDenied (or the failure that outlasted botocore's
        # retries) that answers every later lookup there: asking again would spend the rate,
        # the budget and the retries' time for the same answer.
        self._denied: dict[tuple[str, str], _LookupError] = {}
        self._lock = threading.Lock()

    @property
    def left_over(self) -> tuple[Subject, ...]:
        """Subjects not looked up because the budget was spent, in the order they came."""
        with self._lock:
            return tuple(self._left_over)

    def attribute(self, subject: Subject) -> Attribution:
        """Who changed ``subject``'s resource in the window; never raises for AWS errors."""
        writes = writes_of(subject.check_id) if subject.check_id is not None else None
        if writes is not None and not writes.calls:
            return Attribution(
                status=AttributionStatus.NONE,
                reason=AttributionReason.NOT_ATTRIBUTABLE,
                detail=writes.unattributable,
            )
        history_start = self._now() - EVENT_HISTORY
        if self._window.end <= history_start:
            return self._outside_history()
        start = max(self._window.start, history_start)
        keys = [
            LookupKey(
                account_id=subject.account_id,
                region=subject.region,
                attribute="ResourceName",
                value=value,
                start=_utc_iso(start),
                end=_utc_iso(self._window.end),
            )
            for value in dict.fromkeys(v for v in (subject.resource_id, subject.resource_arn) if v)
        ]
        with self._lock:
            denied = self._denied.get((subject.account_id, subject.region))
        if denied is not None:
            return unavailable(denied.reason, denied.detail)
        cached = [self._known(key) for key in keys]
        if any(answer is None for answer in cached) and not self._spend(subject):
            return unavailable(
                AttributionReason.BUDGET_EXHAUSTED,
                "the scan's maximum number of CloudTrail lookups was reached",
            )
        try:
            answers = [
                answer if answer is not None else self._ask(key, start)
                for key, answer in zip(keys, cached, strict=True)
            ]
        except _LookupError as error:
            if error.reason in _SETTLED_FOR_REGION:
                with self._lock:
                    self._denied[(subject.account_id, subject.region)] = error
            return unavailable(error.reason, error.detail)
        unique = {event.event_id: event for answer in answers for event in answer.events}
        attribution = rank(
            subject.check_id, unique.values(), truncated=any(a.truncated for a in answers)
        )
        if attribution.status is AttributionStatus.NONE and start > self._window.start:
            return self._outside_history(attribution.events)
        return attribution

    def _known(self, key: LookupKey) -> LookupAnswer | None:
        answer = self._this_scan.get(key)
        if answer is None and self._cache is not None:
            answer = self._cache.get(key)
        return answer

    def _outside_history(self, events: tuple[CauseEvent, ...] = ()) -> Attribution:
        return Attribution(
            status=AttributionStatus.NONE,
            events=events,
            reason=AttributionReason.OUTSIDE_EVENT_HISTORY,
            detail="the previous scan is older than CloudTrail's 90-day event history",
        )

    def _spend(self, subject: Subject) -> bool:
        with self._lock:
            if self._budget <= 0:
                self._left_over.append(subject)
                return False
            self._budget -= 1
            return True

    def _ask(self, key: LookupKey, start: datetime) -> LookupAnswer:
        client = self._client_for(key.account_id, key.region)
        limiter = self._limiters.limiter(key.account_id, key.region)
        # Before each HTTP send, so that botocore's own retries wait their turn too.
        client.meta.events.register(
            "before-send.cloudtrail.LookupEvents",
            lambda **_: limiter.acquire(),
            unique_id=f"driftscan-lookup-limit-{key.account_id}-{key.region}",
        )
        client.meta.events.register(
            "response-received.cloudtrail.LookupEvents",
            lambda **_: limiter.release(),
            unique_id=f"driftscan-lookup-answered-{key.account_id}-{key.region}",
        )
        request: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": key.attribute, "AttributeValue": key.value}],
            "StartTime": start,
            "EndTime": self._window.end,
            "MaxResults": PAGE_SIZE,
        }
        events: list[TrailEvent] = []
        truncated = False
        try:
            for _ in range(MAX_PAGES):
                page = client.lookup_events(**request)
                # A resource's history is mostly reads (the scanner's own Describe calls among
                # them); only writes change it.
                events += [
                    parse_event(event)
                    for event in page.get("Events", ())
                    if event.get("ReadOnly") != "true"
                ]
                if not page.get("NextToken"):
                    break
                request["NextToken"] = page["NextToken"]
            else:
                truncated = True
        except botocore.exceptions.ClientError as error:
            raise _lookup_error(error) from error
        except (botocore.exceptions.BotoCoreError, ValueError) as error:
            raise _LookupError(AttributionReason.LOOKUP_FAILED, str(error)) from error
        except NotImplementedError as error:  # an emulator's in-process mock (moto) lacks it
            raise _LookupError(
                AttributionReason.LOOKUP_FAILED, f"{LOOKUP_ACTION} is not implemented here"
            ) from error
        answer = LookupAnswer(events=tuple(events), truncated=truncated)
        self._this_scan.put(key, answer)
        if self._cache is not None and self._now() - self._window.end >= EVENT_DELIVERY_DELAY:
            self._cache.put(key, answer)
        return answer


def _lookup_error(error: botocore.exceptions.ClientError) -> _LookupError:
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    text = f"{code} on {LOOKUP_ACTION}: {details.get('Message', '')}".rstrip(": ")
    if code in _DENIED:
        return _LookupError(AttributionReason.ACCESS_DENIED, text)
    if code in _THROTTLED:
        return _LookupError(AttributionReason.THROTTLED, text)
    return _LookupError(AttributionReason.LOOKUP_FAILED, text)
