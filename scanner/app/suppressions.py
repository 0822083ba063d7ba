"""Accepted exceptions: a failure a suppression matches is reported as MUTED, with its reason.

An entry names a control, a resource pattern (a glob on the resource id or ARN), optionally an
account and a region, a required ``reason`` and an optional ``expires`` date. An entry past
its date suppresses nothing and is reported; an entry that matches no failure of a control
that ran is reported as stale. Entries come from ``--suppressions FILE`` and from the
``suppressions:`` section of the baseline; both are validated by ``SCHEMA``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from scanner.engine.registry import all_checks, unknown
from scanner.model import Finding, ScanMetadata, ScanResult, Status
from scanner.textsafe import MAX_PROBLEMS, clip

ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["check", "reason"],
    "additionalProperties": False,
    "properties": {
        "check": {"type": "string", "description": "the control id, e.g. rds.backup_retention"},
        "resource": {
            "type": "string",
            "minLength": 1,
            "description": "glob on the resource id or ARN (default: every resource)",
        },
        "account": {"type": "string", "pattern": "^\\d{12}$", "description": "an account id"},
        "region": {
            "type": "string",
            "pattern": "^[a-z]{2}(-[a-z]+)+-\\d+$",
            "description": "an AWS region name like us-east-1",
        },
        "reason": {
            "type": "string",
            "minLength": 1,
            "pattern": "\\S",
            "description": "a non-blank reason (a ticket, an owner)",
        },
        "expires": {
            "type": "string",
            "pattern": "^\\d{4}-\\d{2}-\\d{2}$",
            "description": "a date YYYY-MM-DD (the last day the entry suppresses)",
        },
    },
}
_DATE_SHAPE = ENTRY_SCHEMA["properties"]["expires"]["pattern"]
SECTION_SCHEMA: dict[str, Any] = {"type": "array", "items": ENTRY_SCHEMA}
"""The ``suppressions:`` list, in a suppressions file and in the baseline."""
FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://driftscan.dev/schemas/suppressions.schema.json",
    "title": "driftscan suppressions",
    "description": "a mapping with a `suppressions:` list",
    "type": "object",
    "required": ["suppressions"],
    "additionalProperties": False,
    "properties": {"version": {"const": 1}, "suppressions": SECTION_SCHEMA},
}


@dataclass(frozen=True, kw_only=True)
class Suppression:
    check: str
    reason: str
    resource: str = "*"
    account: str | None = None
    region: str | None = None
    expires: date | None = None
    source: str = ""
    """Where the entry was read, ``FILE: suppressions/N``, for warnings."""

    def matches(self, finding: Finding) -> bool:
        return (
            finding.check_id == self.check
            and (self.account is None or finding.account_id == self.account)
            and (self.region is None or finding.region == self.region)
            and any(
                name is not None and fnmatch.fnmatchcase(name, self.resource)
                for name in (finding.resource_id, finding.resource_arn)
            )
        )

    def expired(self, today: date) -> bool:
        return self.expires is not None and self.expires < today

    def describe(self) -> str:
        return f"{self.source} ({self.check} on {self.resource})"


def entry_problems(entries: Sequence[Any]) -> list[str]:
    """What the schema cannot know: control ids the registry lacks and impossible dates such
    as 2027-02-30, one line each, for every entry (whatever else is wrong with the file)."""
    problems: list[str] = []
    known = [spec.id for spec in all_checks()] if entries else []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue  # the schema reports it
        check, expires = entry.get("check"), entry.get("expires")
        if isinstance(check, str) and check not in known:
            # Past the lines an error shows, a problem is only counted: spare the search for
            # the closest ids (thousands of them took seconds).
            shown = len(problems) < MAX_PROBLEMS
            what = unknown("control", clip(check), known) if shown else "unknown control"
            problems.append(f"suppressions/{index}/check: {what}")
        if isinstance(expires, str) and re.fullmatch(_DATE_SHAPE, expires) and not _date(expires):
            problems.append(f"suppressions/{index}/expires: {clip(expires)!r} is not a date")
    return problems


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def from_document(entries: Sequence[dict[str, Any]], source: str) -> tuple[Suppression, ...]:
    """Entries that passed the schema and ``entry_problems``, as Suppressions."""
    return tuple(
        Suppression(
            check=entry["check"],
            reason=entry["reason"].strip(),
            resource=entry.get("resource", "*"),
            account=entry.get("account"),
            region=entry.get("region"),
            expires=_date(entry["expires"]) if "expires" in entry else None,
            source=f"{source}: suppressions/{index}",
        )
        for index, entry in enumerate(entries)
    )


class Muter:
    """Mutes every FAIL that the first matching unexpired entry covers, a shard at a time,
    and remembers which entries matched, for the warnings at the end of the scan."""

    def __init__(self, suppressions: Iterable[Suppression], today: date) -> None:
        self.entries = tuple(suppressions)
        self.expired = tuple(s for s in self.entries if s.expired(today))
        self._active = [s for s in self.entries if not s.expired(today)]
        self._used: set[int] = set()

    def mute(self, findings: Iterable[Finding]) -> list[Finding]:
        muted = []
        for finding in findings:
            match = next(
                (
                    i
                    for i, s in enumerate(self._active)
                    if finding.status is Status.FAIL and s.matches(finding)
                ),
                None,
            )
            if match is not None:
                self._used.add(match)
                finding = _muted(finding, self._active[match])
            muted.append(finding)
        return muted

    def stale(self, meta: ScanMetadata) -> tuple[Suppression, ...]:
        """Unexpired entries for a control, region and account that were scanned which
        matched no failure."""
        return tuple(
            s
            for i, s in enumerate(self._active)
            if i not in self._used
            and s.check in meta.checks
            and (s.region is None or s.region in meta.regions)
            and (s.account is None or s.account in meta.account_ids)
        )

    def warnings(self, meta: ScanMetadata) -> list[str]:
        lines = [
            f"suppression {s.describe()} expired on {s.expires}: it no longer suppresses"
            for s in self.expired
        ]
        lines += [f"suppression {s.describe()} matches no failure: stale" for s in self.stale(meta)]
        return lines


@dataclass(frozen=True, kw_only=True)
class Applied:
    result: ScanResult
    """The scan with every suppressed FAIL turned MUTED."""
    expired: tuple[Suppression, ...]
    stale: tuple[Suppression, ...]
    """Unexpired entries for a control, region and account that were scanned which matched
    no failure."""


def apply(result: ScanResult, suppressions: Iterable[Suppression], today: date) -> Applied:
    """Muter over a whole scan in memory."""
    muter = Muter(suppressions, today)
    return Applied(
        result=replace(result, findings=tuple(muter.mute(result.findings))),
        expired=muter.expired,
        stale=muter.stale(result.metadata),
    )


def _muted(finding: Finding, suppression: Suppression) -> Finding:
    until = f" until {suppression.expires}" if suppression.expires else ""
    record = {"reason": suppression.reason, "expires": str(suppression.expires or "")}
    return replace(
        finding,
        status=Status.MUTED,
        message=f"{finding.message} [suppressed{until}: {suppression.reason}]",
        evidence={**finding.evidence, "suppression": {k: v for k, v in record.items() if v}},
    )
