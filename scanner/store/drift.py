"""What changed between two scans: findings that started or stopped failing, resources that
appeared or disappeared, and field-level changes of the configurations the collectors saw.

A resource is identified by (account, region, collector, resource id); its configuration is
flattened into dotted paths (``encryption.kms_key_id``). Lists are compared as multisets of
their elements: an element added or removed is one change at ``path[]`` (a new ingress rule),
and a change of order alone is no change.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from scanner.model import (
    Finding,
    ResourceSnapshot,
    ScanMetadata,
    ScanResult,
    Status,
    finding_order,
)


class Change(StrEnum):
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True, kw_only=True)
class FieldChange:
    path: str
    """Dotted path into the configuration; ``[]`` marks a list's elements."""
    change: Change
    before: Any = None
    """The old value (None when added)."""
    after: Any = None
    """The new value (None when removed)."""

    def __str__(self) -> str:
        match self.change:
            case Change.CHANGED:
                return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"
            case Change.ADDED:
                return f"{self.path}: added {_show(self.after)}"
            case Change.REMOVED:
                return f"{self.path}: removed {_show(self.before)}"


@dataclass(frozen=True, kw_only=True, order=True)
class ResourceKey:
    account_id: str
    region: str
    collector: str
    """The collector that saw it (``kms.keys``, ``ec2.security_groups``)."""
    resource_id: str

    def __str__(self) -> str:
        return f"{self.collector} {self.resource_id} ({self.account_id} {self.region})"


@dataclass(frozen=True, kw_only=True)
class ResourceChange:
    resource: ResourceKey
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, kw_only=True)
class FindingChange:
    """A finding's status in the older and the newer scan (None: not judged there)."""

    finding: Finding
    """The newer judgement when there is one, else the older."""
    before: Status | None
    after: Status | None

    def __str__(self) -> str:
        f = self.finding
        return (
            f"{f.severity.value} {f.check_id} {f.resource_id} ({f.account_id} {f.region}): "
            f"{f.message}"
        )


@dataclass(frozen=True, kw_only=True)
class FindingsDiff:
    new_failures: tuple[FindingChange, ...] = ()
    """FAIL now; not FAIL before (PASS, ERROR, or not judged)."""
    resolved: tuple[FindingChange, ...] = ()
    """FAIL before; PASS (or MUTED by a suppression) now, or no longer judged by a control
    that read everything."""
    still_failing: tuple[FindingChange, ...] = ()
    unverified: tuple[FindingChange, ...] = ()
    """FAIL before; now ERROR, or gone while its control had an ERROR in that region:
    unreadable evidence is never counted as resolved."""


@dataclass(frozen=True, kw_only=True)
class ResourcesDiff:
    appeared: tuple[ResourceKey, ...] = ()
    disappeared: tuple[ResourceKey, ...] = ()
    changed: tuple[ResourceChange, ...] = ()

    def __len__(self) -> int:
        return len(self.appeared) + len(self.disappeared) + len(self.changed)


@dataclass(frozen=True, kw_only=True)
class Diff:
    before: ScanMetadata
    after: ScanMetadata
    before_approved: bool
    """The older scan is its scope's approved snapshot."""
    findings: FindingsDiff
    resources: ResourcesDiff
    attributions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Who changed it, as the newer scan attributed it (ScanResult.attributions): for its
    findings new since the scan before it, which is the older scan here unless the diff
    skips scans."""

    @property
    def same_scope(self) -> bool:
        b, a = self.before, self.after
        return (sorted(b.account_ids), sorted(b.regions), b.baseline_digest) == (
            sorted(a.account_ids),
            sorted(a.regions),
            a.baseline_digest,
        )


def diff(before: ScanResult, after: ScanResult, *, before_approved: bool = False) -> Diff:
    return Diff(
        before=before.metadata,
        after=after.metadata,
        before_approved=before_approved,
        findings=compare_findings(before.findings, after.findings),
        resources=compare_resources(before.resources, after.resources),
        attributions=after.attributions,
    )


def compare_findings(before: Iterable[Finding], after: Iterable[Finding]) -> FindingsDiff:
    """Each side is read once, in any order, and only failures are held as findings: the
    rest of a scan (passes, the other side's statuses) is kept as ids, so two scans of an
    organization can be compared as they stream from the store."""
    old_status: dict[str, Status] = {}
    old_failures: dict[str, Finding] = {}
    for f in before:
        old_status[f.finding_id] = f.status
        if f.status is Status.FAIL:
            old_failures[f.finding_id] = f
    seen: set[str] = set()
    # Controls that could not read everything in a region: their missing findings prove nothing.
    erred: set[tuple[str, str, str]] = set()
    buckets: dict[str, list[FindingChange]] = {
        "new_failures": [],
        "resolved": [],
        "still_failing": [],
        "unverified": [],
    }
    for f in after:
        seen.add(f.finding_id)
        if f.status is Status.ERROR:
            erred.add((f.check_id, f.account_id, f.region))
        before_status = old_status.get(f.finding_id)
        if f.status is Status.FAIL:
            bucket = "still_failing" if before_status is Status.FAIL else "new_failures"
        elif before_status is not Status.FAIL:
            continue
        elif f.status in (Status.PASS, Status.MUTED):
            bucket = "resolved"
        else:
            bucket = "unverified"
        buckets[bucket].append(FindingChange(finding=f, before=before_status, after=f.status))
    for finding_id, f in old_failures.items():
        if finding_id not in seen:
            gone = "unverified" if (f.check_id, f.account_id, f.region) in erred else "resolved"
            buckets[gone].append(FindingChange(finding=f, before=Status.FAIL, after=None))
    # Report order, the order of a scan's own lines (--quiet without a store lists them so).
    return FindingsDiff(
        **{
            name: tuple(sorted(changes, key=lambda change: finding_order(change.finding)))
            for name, changes in buckets.items()
        }
    )


def changed_failures(
    before: Iterable[Finding], still_failing: Iterable[FindingChange]
) -> tuple[FindingChange, ...]:
    """The findings still failing whose message or evidence changed since ``before``: the
    failure is the same, what the resource shows is not (5432 open to one more network).
    ``before`` is read once; only the still failing ones are kept."""
    changes = {change.finding.finding_id: change for change in still_failing}
    old = {f.finding_id: f for f in before if f.finding_id in changes}
    return tuple(
        change
        for finding_id, change in changes.items()
        if (previous := old.get(finding_id)) is not None
        and (previous.message, dict(previous.evidence))
        != (change.finding.message, dict(change.finding.evidence))
    )


def compare_resources(
    before: Iterable[ResourceSnapshot], after: Iterable[ResourceSnapshot]
) -> ResourcesDiff:
    """Each side is read once; only ``before``'s configurations are held, ``after``'s are
    compared as they stream from the scratch file."""
    old = _by_key(before)
    appeared, changed = [], []
    for snapshot in after:
        key = _key(snapshot)
        if key not in old:
            appeared.append(key)
        elif changes := compare_configs(old.pop(key), snapshot.config):
            changed.append(ResourceChange(resource=key, changes=changes))
    return ResourcesDiff(
        appeared=tuple(sorted(appeared)),
        disappeared=tuple(sorted(old)),
        changed=tuple(sorted(changed, key=lambda change: change.resource)),
    )


def _key(snapshot: ResourceSnapshot) -> ResourceKey:
    return ResourceKey(
        account_id=snapshot.account_id,
        region=snapshot.region,
        collector=snapshot.collector,
        resource_id=snapshot.resource_id,
    )


def _by_key(snapshots: Iterable[ResourceSnapshot]) -> dict[ResourceKey, Mapping[str, Any]]:
    return {_key(s): s.config for s in snapshots}


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted paths; lists and scalars are leaf values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def compare_configs(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    old, new = flatten(before), flatten(after)
    changes: list[FieldChange] = []
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            changes.append(FieldChange(path=path, change=Change.REMOVED, before=old[path]))
        elif path not in old:
            changes.append(FieldChange(path=path, change=Change.ADDED, after=new[path]))
        elif isinstance(old[path], list) and isinstance(new[path], list):
            changes.extend(_compare_lists(path, old[path], new[path]))
        elif old[path] != new[path]:
            changes.append(
                FieldChange(path=path, change=Change.CHANGED, before=old[path], after=new[path])
            )
    return tuple(changes)


def _compare_lists(path: str, before: Sequence[Any], after: Sequence[Any]) -> list[FieldChange]:
    old, new = Counter(map(_show, before)), Counter(map(_show, after))
    removed = [
        FieldChange(path=f"{path}[]", change=Change.REMOVED, before=json.loads(item))
        for item in sorted((old - new).elements())
    ]
    added = [
        FieldChange(path=f"{path}[]", change=Change.ADDED, after=json.loads(item))
        for item in sorted((new - old).elements())
    ]
    return removed + added


def _show(value: Any) -> str:
    """A value as one line of canonical JSON (``true``, ``"Enabled"``, ``{"cidrs": [...]}``);
    also the identity of a list element."""
    return json.dumps(value, sort_keys=True)


NEW_FAILURE = "new_failure"


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One line of ``scan --quiet``: a new failure or a configuration change."""

    event: str
    """``new_failure``, ``configuration_changed``, ``resource_appeared``,
    ``resource_disappeared``."""
    message: str
    fields: Mapping[str, Any]
    """The same facts as JSON fields, for ``--log-format json``."""


def problems(
    new_failures: Iterable[FindingChange], drift: ResourcesDiff, since: str
) -> Iterator[Problem]:
    """Lines for new failures, and for every configuration change ``since`` a reference scan,
    made as they are read (a first scan of an organization has a great many)."""
    for change in new_failures:
        f = change.finding
        yield Problem(
            event=NEW_FAILURE,
            message=f"new FAIL: {change}",
            fields={
                "finding_id": f.finding_id,
                "check_id": f.check_id,
                "severity": f.severity.value,
                "account_id": f.account_id,
                "region": f.region,
                "resource_id": f.resource_id,
                "before": change.before,
            },
        )
    for event, keys in (
        ("resource_appeared", drift.appeared),
        ("resource_disappeared", drift.disappeared),
    ):
        for key in keys:
            yield Problem(
                event=event,
                message=f"drift since {since}: {key}: {event.split('_')[1]}",
                fields=_key_fields(key),
            )
    for resource in drift.changed:
        for field_change in resource.changes:
            yield Problem(
                event="configuration_changed",
                message=f"drift since {since}: {resource.resource}: {field_change}",
                fields={
                    **_key_fields(resource.resource),
                    "path": field_change.path,
                    "change": field_change.change.value,
                    "before": field_change.before,
                    "after": field_change.after,
                },
            )


def _key_fields(key: ResourceKey) -> dict[str, str]:
    return {
        "account_id": key.account_id,
        "region": key.region,
        "collector": key.collector,
        "resource_id": key.resource_id,
    }
