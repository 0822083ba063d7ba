"""KMS keys: the listing, a memoised DescribeKey directory, and rotation status. Their records
and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/kms.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from scanner.engine.inventory import Collector, declare
from scanner.model import ReadError, ResourceRef, UnreadableResource

AWS_MANAGED_ALIAS_PREFIX = "alias/aws/"
"""AWS reserves this alias prefix for AWS-managed keys; customers cannot create one."""


@dataclass(frozen=True, kw_only=True)
class KmsKey:
    key_id: str
    arn: str
    manager: str
    """``CUSTOMER`` or ``AWS``."""
    state: str
    """``Enabled``, ``Disabled``, ``PendingDeletion``, ..."""
    spec: str
    origin: str
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] | None = None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::KMS::Key", id=self.key_id, arn=self.arn)

    @property
    def is_customer_managed(self) -> bool:
        return self.manager == "CUSTOMER"

    @property
    def label(self) -> str:
        """The key id with its first alias, for messages."""
        return f"{self.key_id} ({self.aliases[0]})" if self.aliases else self.key_id


def is_aws_managed_alias(ref: str) -> bool:
    """``alias/aws/...`` or its ARN form: an AWS-managed key by name alone."""
    return ref.startswith(AWS_MANAGED_ALIAS_PREFIX) or f":{AWS_MANAGED_ALIAS_PREFIX}" in ref


class DescribesKeys(Protocol):
    """The region's DescribeKey cache (``scanner.engine.collectors.kms.KeyDirectory``)."""

    def lookup_many(self, refs: Iterable[str]) -> dict[str, KmsKey | ReadError]: ...


key_directory: Collector[DescribesKeys] = declare(
    "kms.key_directory",
    resource_type="AWS::KMS::Key",
    actions=["kms:DescribeKey"],
    fetch="scanner.engine.collectors.kms:key_directory",
)
"""The region's DescribeKey cache, for collectors only: checks read ``keys_used_by``."""


@dataclass(frozen=True)
class KeyReferences:
    """The KMS keys that collected resources reference, described, by every name they are
    referenced by (key id, key ARN, alias name or alias ARN)."""

    described: Mapping[str, KmsKey | ReadError]

    def manager_of(self, ref: str) -> str | ReadError:
        """``AWS`` or ``CUSTOMER``; an ``alias/aws/...`` reference is AWS's by name alone."""
        if is_aws_managed_alias(ref):
            return "AWS"
        key = self.described[ref]
        return key if isinstance(key, ReadError) else key.manager


def keys_used_by(*listings: Collector[Any], aws_aliases: bool = False) -> Collector[KeyReferences]:
    """Every key that a record of ``listings`` encrypts with (``kms_key_id``), described
    during the prefetch; a key referenced by several resources is described once. An
    ``alias/aws/...`` reference is described only with ``aws_aliases`` (its manager is known
    by name). A listing that could not be read adds no keys (its checks report it)."""
    names = ",".join(listing.name for listing in listings)
    suffix = ",aws_aliases" if aws_aliases else ""
    return declare(
        f"kms.keys_used_by({names}{suffix})",
        resource_type="AWS::KMS::Key",
        actions=["kms:DescribeKey"],
        requires=[*listings, key_directory],
        fetch="scanner.engine.collectors.kms:keys_used_by",
        fetch_args=[listings, aws_aliases],
    )


aliases: Collector[dict[str, tuple[str, ...]]] = declare(
    "kms.aliases",
    resource_type="AWS::KMS::Alias",
    actions=["kms:ListAliases"],
    fetch="scanner.engine.collectors.kms:aliases",
)
"""Alias names per target key id."""


keys: Collector[list[KmsKey | UnreadableResource]] = declare(
    "kms.keys",
    resource_type="AWS::KMS::Key",
    actions=["kms:ListKeys", "kms:ListResourceTags"],
    requires=[key_directory, aliases],
    fetch="scanner.engine.collectors.kms:keys",
)
"""Every key in the region that the baseline scope admits, described."""


rotation_status: Collector[dict[str, bool | UnreadableResource]] = declare(
    "kms.rotation_status",
    resource_type="AWS::KMS::Key",
    actions=["kms:GetKeyRotationStatus"],
    requires=[keys],
    fetch="scanner.engine.collectors.kms:rotation_status",
)
"""KeyRotationEnabled for every key that automatic rotation applies to."""


def rotation_applies(key: KmsKey) -> bool:
    """AWS rotates only enabled, customer-managed, symmetric keys with KMS-made material.

    Decided from DescribeKey alone (KeySpec, Origin), never by asking KMS: imported material
    (EXTERNAL) and custom key stores cannot rotate automatically.
    """
    return (
        key.is_customer_managed
        and key.state == "Enabled"
        and key.spec == "SYMMETRIC_DEFAULT"
        and key.origin == "AWS_KMS"
    )
