"""Who changed it: a scan's new failures and drifted resources attributed through CloudTrail.

The engine (``scanner.engine.attribution``) asks LookupEvents and ranks the events; this
module picks what to attribute (what changed since the previous scan of the scope), gives the
engine the scan's own sessions (an assumed role's credentials for another account) and the
history store as its cache, and puts the answers in the ScanResult as plain data.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from scanner.engine.accounts import AccountsRequest, Target, assumed_session
from scanner.engine.attribution import (
    DEFAULT_MAX_LOOKUPS,
    Attributor,
    ClientFor,
    LookupAnswer,
    LookupKey,
    Subject,
    Window,
)
from scanner.engine.session import AwsSession
from scanner.model import ScanResult, resource_key
from scanner.store import drift
from scanner.store.history import Store


class StoreLookupCache:
    """The history store as the engine's LookupCache (the store holds plain JSON: it may not
    know the engine's types)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _key(key: LookupKey) -> tuple[str, ...]:
        return (key.account_id, key.region, key.attribute, key.value, key.start, key.end)

    def get(self, key: LookupKey) -> LookupAnswer | None:
        answer = self._store.cached_lookup(self._key(key))
        return LookupAnswer.from_dict(answer) if answer is not None else None

    def put(self, key: LookupKey, answer: LookupAnswer) -> None:
        self._store.cache_lookup(self._key(key), answer.as_dict())


def cloudtrail_clients(
    session: AwsSession, targets: Iterable[Target], accounts: AccountsRequest | None
) -> ClientFor:
    """(account, region) -> the CloudTrail client of the session that scanned the account:
    the scan's target sessions, an assumed role's session made on first use for an account
    scanned elsewhere (a Dask worker), else the credentials' own session."""
    sessions = {t.account_id: t.session for t in targets if t.session is not None}
    lock = threading.Lock()

    def client_for(account_id: str, region: str) -> Any:
        with lock:
            if account_id not in sessions:
                sessions[account_id] = (
                    assumed_session(session, account_id, accounts, region) if accounts else session
                )
            chosen = sessions[account_id]
        return chosen.client("cloudtrail", region)

    return client_for


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def attribute(
    result: ScanResult,
    since: str,
    failures: Iterable[drift.FindingChange],
    drifted: drift.ResourcesDiff,
    client_for: ClientFor,
    cache: StoreLookupCache | None,
    *,
    max_lookups: int = DEFAULT_MAX_LOOKUPS,
) -> ScanResult:
    """``result`` with who changed the resource of each failure (new since the previous
    scan, or still failing with other evidence) and each drifted resource, in the window
    from ``since`` (the previous scan's start) to ``result``'s end. Never changes a
    finding."""
    subjects: dict[str, Subject] = {}
    for change in failures:
        f = change.finding
        subjects[f.finding_id] = Subject(
            check_id=f.check_id,
            account_id=f.account_id,
            region=f.region,
            resource_id=f.resource_id,
            resource_arn=f.resource_arn,
        )
    for changed in drifted.changed:
        key = changed.resource
        subjects[resource_key(key.account_id, key.region, key.collector, key.resource_id)] = (
            Subject(
                check_id=None,
                account_id=key.account_id,
                region=key.region,
                resource_id=key.resource_id,
            )
        )
    if not subjects:
        return result
    attributor = Attributor(
        client_for,
        Window(start=_utc(since), end=_utc(result.metadata.finished_at)),
        cache=cache,
        max_lookups=max_lookups,
    )
    attributions: Mapping[str, Mapping[str, Any]] = {
        name: attributor.attribute(subject).as_dict() for name, subject in subjects.items()
    }
    left = set(attributor.left_over)
    return replace(
        result,
        attributions=attributions,
        attribution_left_over=tuple(name for name, s in subjects.items() if s in left),
    )
