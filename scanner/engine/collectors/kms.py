"""KMS keys: the listing, a memoised DescribeKey directory, and rotation status."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from scanner.engine.inventory import Collector, RegionScope
from scanner.engine.records import kms as declared
from scanner.engine.records.kms import (
    KeyReferences,
    KmsKey,
    is_aws_managed_alias,
    rotation_applies,
)
from scanner.errors import CollectorError
from scanner.model import ReadError, ResourceRef, UnreadableResource


def _region_of(ref: str, default: str) -> str:
    # A key ARN names its own region; KMS answers for a key only in that region.
    parts = ref.split(":")
    return parts[3] if ref.startswith("arn:") and len(parts) > 5 and parts[3] else default


class KeyDirectory:
    """DescribeKey, memoised by every name a key is referenced by (id, ARN, alias)."""

    def __init__(self, scope: RegionScope) -> None:
        self._scope = scope
        self._cache: dict[str, KmsKey | ReadError] = {}
        # One lock so two checks asking for the same key never describe it twice.
        self._lock = threading.Lock()

    def lookup_many(self, refs: Iterable[str]) -> dict[str, KmsKey | ReadError]:
        refs = list(refs)
        with self._lock:
            missing = sorted({ref for ref in refs if ref not in self._cache})
            for ref, key in zip(missing, self._scope.map(self._describe, missing), strict=True):
                self._cache[ref] = key
            return {ref: self._cache[ref] for ref in refs}

    def _describe(self, ref: str) -> KmsKey | ReadError:
        region = _region_of(ref, self._scope.region)
        if region != self._scope.region:
            return ReadError(
                code="OtherRegion",
                action="kms:DescribeKey",
                detail=f"key {ref} is in {region}; scan that region to judge it",
            )
        response = self._scope.attempt(lambda: self._scope.call("kms", "describe_key", KeyId=ref))
        if isinstance(response, ReadError):
            return response
        meta = response["KeyMetadata"]
        return KmsKey(
            key_id=meta["KeyId"],
            arn=meta["Arn"],
            manager=meta.get("KeyManager", "CUSTOMER"),
            state=meta.get("KeyState", "Enabled"),
            spec=meta.get("KeySpec", meta.get("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT")),
            origin=meta.get("Origin", "AWS_KMS"),
        )


def key_directory(scope: RegionScope) -> KeyDirectory:
    """The region's DescribeKey cache, for collectors only: checks read described keys."""
    return KeyDirectory(scope)


def keys_used_by(
    scope: RegionScope, listings: tuple[Collector[Any], ...], aws_aliases: bool
) -> KeyReferences:
    """The fetch of ``scanner.engine.records.kms.keys_used_by``: the keys the records of
    ``listings`` reference, described through the region's DescribeKey cache."""
    refs: set[str] = set()
    for listing in listings:
        records = scope.attempt(partial(scope.get, listing))
        if not isinstance(records, ReadError):
            refs.update(ref for r in records if (ref := getattr(r, "kms_key_id", None)))
    wanted = [ref for ref in refs if aws_aliases or not is_aws_managed_alias(ref)]
    return KeyReferences(scope.get(declared.key_directory).lookup_many(wanted))


def aliases(scope: RegionScope) -> dict[str, tuple[str, ...]]:
    """Alias names per target key id."""
    by_key: dict[str, list[str]] = {}
    for alias in scope.pages("kms", "list_aliases", "Aliases"):
        if alias.get("TargetKeyId"):
            by_key.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    return {key: tuple(sorted(names)) for key, names in by_key.items()}


def keys(scope: RegionScope) -> list[KmsKey | UnreadableResource]:
    """Every key in the region that the baseline scope admits, described."""
    listing = {key["KeyId"]: key["KeyArn"] for key in scope.pages("kms", "list_keys", "Keys")}
    # Described by ARN, as other services reference keys: a key is then described once.
    described = scope.get(declared.key_directory).lookup_many(listing.values())
    try:
        alias_map = scope.get(declared.aliases)
    except CollectorError:
        if scope.scope.name_suffix:
            raise  # a key's name is its aliases: without them the scope cannot decide
        alias_map = {}  # aliases only name keys in messages: judge the keys without them

    def in_scope(key_id: str) -> KmsKey | UnreadableResource | None:
        arn = listing[key_id]
        key = described[arn]
        if isinstance(key, ReadError):
            return _unreadable(key_id, arn, key)
        key = replace(key, aliases=alias_map.get(key_id, ()))
        name = ",".join(key.aliases) or None
        if not key.is_customer_managed:
            return key  # AWS's keys are judged wherever the resources using them are
        if not scope.scope.needs_tags_of(name):
            return key if scope.scope.includes(name, None) else None
        tags = _tags(scope, key_id)
        if isinstance(tags, ReadError):
            return _unreadable(key_id, arn, tags)
        return replace(key, tags=tags) if scope.scope.includes(name, tags) else None

    return [key for key in scope.map(in_scope, list(listing)) if key is not None]


def _unreadable(key_id: str, arn: str, error: ReadError) -> UnreadableResource:
    return UnreadableResource(
        ref=ResourceRef(type="AWS::KMS::Key", id=key_id, arn=arn), error=error, what="key metadata"
    )


def _tags(scope: RegionScope, key_id: str) -> dict[str, str] | ReadError:
    def read() -> dict[str, str]:
        pages = scope.pages("kms", "list_resource_tags", "Tags", KeyId=key_id)
        return {tag["TagKey"]: tag["TagValue"] for tag in pages}

    return scope.attempt(read)


def rotation_status(scope: RegionScope) -> dict[str, bool | UnreadableResource]:
    """KeyRotationEnabled for every key that automatic rotation applies to."""
    eligible = [
        key for key in scope.get(declared.keys) if isinstance(key, KmsKey) and rotation_applies(key)
    ]

    def read(key: KmsKey) -> bool | UnreadableResource:
        response = scope.attempt(
            lambda: scope.call("kms", "get_key_rotation_status", KeyId=key.key_id)
        )
        if isinstance(response, ReadError):
            return UnreadableResource(ref=key.ref, error=response, what="rotation status")
        return bool(response.get("KeyRotationEnabled"))

    ids = [key.key_id for key in eligible]
    return dict(zip(ids, scope.map(read, eligible), strict=True))
