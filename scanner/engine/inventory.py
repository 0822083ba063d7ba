"""Collectors and the per-(account, region) inventory that memoises what they fetch.

A collector is a ``Collector`` declaration (name, IAM actions, what it requires) in a records
module, and a function ``fetch(scope) -> T`` in a collectors module that reads AWS. The
inventory runs each collector at most once per scan and region, no matter how many checks
read it; checks see its value, never a boto3 client."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import threading
from collections.abc import (
    Callable,
    Collection,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, overload

import botocore.exceptions

from scanner.engine.session import AWS_FAILURES, EXCERPT_CHARACTERS, AwsSession, iam_action
from scanner.errors import CollectorError
from scanner.model import (
    Outcome,
    ReadError,
    ResourceRef,
    ResourceSnapshot,
    Status,
    UnreadableResource,
)
from scanner.textsafe import clip

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")
K = TypeVar("K")
V_co = TypeVar("V_co", covariant=True)

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "AuthorizationError",
        "Forbidden",
    }
)


@dataclass(frozen=True, eq=False)
class Collector(Generic[V_co]):
    """A named, memoised fetch of one kind of resource in one account and region.

    A declaration: checks name it in ``reads=`` and receive its value. ``fetch`` names the
    function that reads AWS (``"scanner.engine.collectors.kms:keys"``), imported only when the
    inventory first runs it, so that declaring or reading a collector never imports the code
    that fetches it.
    """

    name: str
    resource_type: str
    """Type named in ERROR findings when the whole collection could not be read."""
    actions: tuple[str, ...]
    """IAM actions this collector calls (``kms:ListKeys``)."""
    fetch: str | Callable[..., V_co]
    """``"module:function"`` (or the function itself), called as ``function(scope,
    *fetch_args)``."""
    requires: tuple[Collector[Any], ...] = ()
    """Collectors whose values ``fetch`` reads through ``scope.get``."""
    fetch_args: tuple[Any, ...] = ()
    """Further arguments of ``fetch``, for a collector made by a factory."""

    def all_actions(self) -> frozenset[str]:
        actions = set(self.actions)
        for dependency in self.requires:
            actions |= dependency.all_actions()
        return frozenset(actions)

    def run(self, scope: RegionScope) -> V_co:
        """Fetch the value (the inventory memoises it)."""
        function = _function(self.fetch) if isinstance(self.fetch, str) else self.fetch
        value: V_co = function(scope, *self.fetch_args)
        return value

    def unreadable(self, error: ReadError) -> Outcome:
        """ERROR outcome standing for every resource this collector could not list."""
        return Outcome(
            status=Status.ERROR,
            resource=ResourceRef(type=self.resource_type, id="*"),
            message=f"could not read {self.name}: {error}",
            evidence={"error_code": error.code, "action": error.action},
        )

    def __repr__(self) -> str:
        return f"Collector({self.name})"


@functools.cache
def _function(reference: str) -> Callable[..., Any]:
    """The function a ``"module:function"`` reference names."""
    module, _, name = reference.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def declare(
    name: str,
    *,
    resource_type: str,
    actions: Iterable[str],
    fetch: str,
    requires: Iterable[Collector[Any]] = (),
    fetch_args: Iterable[Any] = (),
) -> Collector[Any]:
    """Declare a collector (in a records module, ``scanner/engine/records/<service>.py``); annotate
    the name it is bound to with its value type: ``keys: Collector[list[KmsKey]] = ...``."""
    return Collector(
        name=name,
        resource_type=resource_type,
        actions=tuple(actions),
        fetch=fetch,
        requires=tuple(requires),
        fetch_args=tuple(fetch_args),
    )


class Record(Protocol):
    """What a collector's list items provide so the runner can snapshot them."""

    @property
    def ref(self) -> ResourceRef: ...


@dataclass(frozen=True, kw_only=True)
class Scope:
    """Which resources the baseline puts in scope (empty = everything)."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Every key=value here must be on the resource."""
    name_suffix: str | None = None
    """The resource's name (or Name tag) must contain this."""
    read_tags: bool = False
    """A selected control judges the tags of the stack's named resources (``reads_tags``):
    their collectors read tags whatever the scope needs."""

    @property
    def needs_tags(self) -> bool:
        """Whether some resource's tags may be needed: for the scope's tags, for a Name tag
        that carries the name suffix, or for a control that judges tags."""
        return bool(self.tags) or bool(self.name_suffix) or self.read_tags

    def needs_tags_of(self, name: str | None) -> bool:
        """Whether the scope needs this resource's tags to decide on it: collectors that
        need a call per resource for its tags make it only then (or with ``read_tags``)."""
        if self.tags:
            return True
        return self.name_suffix is not None and self.name_suffix not in (name or "")

    def includes(self, name: str | None, tags: Mapping[str, str] | None) -> bool:
        if self.tags:
            if tags is None:
                return False
            if any(tags.get(key) != value for key, value in self.tags.items()):
                return False
        if self.name_suffix:
            names = [name or "", (tags or {}).get("Name", "")]
            if not any(self.name_suffix in candidate for candidate in names):
                return False
        return True


def read_error(exc: Exception, action: str) -> ReadError:
    """Translate a botocore failure into a ReadError naming the IAM action. The detail is a
    short escaped prefix of the message: a proxy's error page can stand in for one."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(
            error.get("Code")
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "ClientError")
        )
        message = str(error.get("Message", ""))
        return ReadError(code=clip(code), action=action, detail=clip(message, EXCERPT_CHARACTERS))
    return ReadError(
        code=type(exc).__name__, action=action, detail=clip(str(exc), EXCERPT_CHARACTERS)
    )


def _action_of(client: Any, method: str) -> str:
    """IAM action of a boto3 client method (``list_keys`` -> ``kms:ListKeys``)."""
    return iam_action(client.meta.service_model, client.meta.method_to_api_mapping[method])


class RegionScope:
    """What a collector's fetch function may use: clients, paging, other collectors."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory
        self.account_id = inventory.account_id
        self.region = inventory.region
        self.scope = inventory.scope

    def client(self, service: str) -> Any:
        return self._inventory.session.client(service, self.region)

    def get(self, dependency: Collector[U]) -> U:
        return self._inventory.get(dependency)

    def _slot(self, service: str) -> threading.BoundedSemaphore:
        return self._inventory.session.slot(service, self.region)

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """One API call; any failure raises CollectorError naming the IAM action."""
        client = self.client(service)
        try:
            with self._slot(service):
                response: dict[str, Any] = getattr(client, operation)(**params)
        except AWS_FAILURES as exc:
            raise self._inventory.failed(read_error(exc, _action_of(client, operation))) from exc
        return response

    def pages(self, service: str, operation: str, result_key: str, **params: Any) -> Iterator[Any]:
        """Every item of a listing, following the service's own pagination tokens."""
        client = self.client(service)
        try:
            pages = iter(client.get_paginator(operation).paginate(**params))
            while True:
                with self._slot(service):  # a request per page; none while the caller works
                    page = next(pages, None)
                if page is None:
                    return
                yield from page.get(result_key, [])
        except AWS_FAILURES as exc:
            raise self._inventory.failed(read_error(exc, _action_of(client, operation))) from exc

    def attempt(self, fetch: Callable[[], T]) -> T | ReadError:
        """Run a per-resource read; its failure becomes a value the check reports as ERROR."""
        try:
            return fetch()
        except CollectorError as exc:
            return exc.error

    def map(self, fetch: Callable[[T], U], items: Sequence[T]) -> list[U]:
        """Apply a per-resource read to every item, concurrently, keeping order."""
        return self._inventory.map(fetch, items)

    def once_per_account(self, key: Hashable, fetch: Callable[[], T]) -> T:
        """A read of a global service (IAM): made by the first region that needs it, its
        value (or ReadError) shared by every region of the account. ``key`` names the read."""
        return self._inventory.account_reads.get(key, fetch)


class AccountReads:
    """Values read once per account and shared by its regions' inventories; thread-safe."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable, fetch: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = fetch()
            value: T = self._values[key]
            return value


class Inventory:
    """Memoised collector values for one account and region; safe to share between threads."""

    def __init__(
        self,
        session: AwsSession,
        *,
        account_id: str,
        region: str,
        scope: Scope,
        item_pool: Executor | None = None,
        account_reads: AccountReads | None = None,
    ) -> None:
        self.session = session
        self.account_id = account_id
        self.region = region
        self.scope = scope
        self._item_pool = item_pool
        self.account_reads = account_reads or AccountReads()
        """Shared by the inventories of the account's regions."""
        self._values: dict[str, Any] = {}
        self._errors: dict[str, CollectorError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.read_errors: list[ReadError] = []

    def failed(self, error: ReadError) -> CollectorError:
        with self._guard:
            self.read_errors.append(error)
        return CollectorError(error)

    def get(self, source: Collector[T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(source.name, threading.Lock())
        with lock:
            if source.name in self._errors:
                raise self._errors[source.name]
            if source.name not in self._values:
                try:
                    self._values[source.name] = source.run(RegionScope(self))
                except CollectorError as exc:
                    if exc.collector is None:
                        exc.collector = source
                    self._errors[source.name] = exc
                    raise
                except Exception as exc:  # a bug: ERROR for what it hides, not a dead scan
                    # The finding names the exception; the traceback is for -vv, since an
                    # interrupted scan's workers fail this way too (their pool is shut down).
                    log.debug("collector %s crashed in %s", source.name, self.region, exc_info=True)
                    error = CollectorError(
                        ReadError(
                            code="InternalError",
                            action=source.name,
                            detail=f"{type(exc).__name__}: {clip(str(exc), EXCERPT_CHARACTERS)}",
                        )
                    )
                    error.collector = source
                    self._errors[source.name] = error
                    raise error from exc
            value: T = self._values[source.name]
            return value

    def try_get(self, source: Collector[T]) -> T | ReadError:
        value = self.read(source)
        return value.error if isinstance(value, CollectorError) else value

    def read(self, source: Collector[T]) -> T | CollectorError:
        """The collector's value, or the failure naming the collector that failed."""
        try:
            return self.get(source)
        except CollectorError as exc:
            return exc

    def map(self, fetch: Callable[[T], U], items: Sequence[T]) -> list[U]:
        if self._item_pool is None or len(items) < 2:
            return [fetch(item) for item in items]
        return list(self._item_pool.map(fetch, items))

    def snapshots(self) -> list[ResourceSnapshot]:
        """A JSON-safe snapshot of every resource the collectors that ran have seen.

        A list-valued collector gives one snapshot per record (its fields). A dict-valued one
        is keyed by resource id (``kms.rotation_status``: key id -> enabled) and gives one
        snapshot per key, holding the value under the collector's short name
        (``{"rotation_status": true}``), so a change of that value is a field change.
        """
        snapshots = []
        for name, value in sorted(self._values.items()):
            if isinstance(value, Mapping):
                field_name = name.split(".", 1)[-1]
                entries = [(str(key), {field_name: to_json(item)}) for key, item in value.items()]
            elif isinstance(value, list | tuple):
                entries = [
                    (record.ref.id, to_json(record))
                    for record in value
                    if dataclasses.is_dataclass(record)
                    and not isinstance(record, UnreadableResource | type)
                    and hasattr(record, "ref")
                ]
            else:
                continue
            kept = {"Name", *self.scope.tags}
            snapshots += [
                ResourceSnapshot(
                    account_id=self.account_id,
                    region=self.region,
                    collector=name,
                    resource_id=resource_id,
                    config=redact_tags(config, kept),
                )
                for resource_id, config in entries
            ]
        return snapshots


REDACTED = "<redacted>"


def redact_tags(value: Any, kept: Collection[str]) -> Any:
    """JSON data with the values of every ``tags`` mapping redacted but those of ``kept``
    keys (Name and the scope's tags). Tag values are free text (a token, an e-mail) that no
    control judges; their keys stay, so a tag added or removed is still a change."""
    if isinstance(value, dict):
        return {
            key: {tag: item if tag in kept else REDACTED for tag, item in inner.items()}
            if key == "tags" and isinstance(inner, dict)
            else redact_tags(inner, kept)
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [redact_tags(item, kept) for item in value]
    return value


def to_json(value: Any) -> Any:
    """Make collector data JSON-safe: ReadErrors become strings, tuples lists."""
    if isinstance(value, ReadError):
        return f"<unreadable: {value}>"
    if isinstance(value, UnreadableResource):
        return to_json(value.error)
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class CheckInputs:
    """A check's read-only window on the inventory: only the collectors it declared, with
    unreadable evidence taken out.

    The engine, not the check, reports what could not be read (``unreadable``): one ERROR
    per collector that failed as a whole, and one per resource that a collector lists as an
    ``UnreadableResource`` (in a listing, or as the value of a lookup keyed by resource). Such
    a resource is then hidden from every collector the check reads, so the check judges
    readable records only. A failed collector in ``independent`` reads as empty (its ERROR
    stands for its resources) and the check still judges the others; any other failed
    collector means the check cannot judge at all (``complete`` is False).
    """

    def __init__(
        self,
        inventory: Inventory,
        allowed: Iterable[Collector[Any]],
        independent: Iterable[Collector[Any]] = (),
    ) -> None:
        self.region = inventory.region
        self.account_id = inventory.account_id
        alone = {source.name for source in independent}
        self._values: dict[str, Any] = {}
        self.complete = True
        failures: dict[str, Outcome] = {}
        hidden: dict[ResourceRef, Outcome] = {}
        for source in allowed:
            value = inventory.read(source)
            if isinstance(value, CollectorError):
                # An independent listing's ERROR stands for its own resources: it names that
                # listing; otherwise the collector that failed first (a dependency) is named.
                named = source if source.name in alone else (value.collector or source)
                failures.setdefault(named.name, named.unreadable(value.error))
                self.complete = self.complete and source.name in alone
                self._values[source.name] = []
                continue
            items = value.values() if isinstance(value, Mapping) else value
            if isinstance(items, Iterable) and not isinstance(items, str):
                for item in items:
                    if isinstance(item, UnreadableResource):
                        hidden.setdefault(item.ref, item.outcome())
            self._values[source.name] = value
        self.unreadable: list[Outcome] = [*failures.values(), *hidden.values()]
        """ERROR outcomes for the evidence the check cannot see."""
        if hidden:
            self._values = {name: _without(value, hidden) for name, value in self._values.items()}

    @overload
    def __getitem__(self, source: Collector[Sequence[T | UnreadableResource]]) -> Sequence[T]: ...

    @overload
    def __getitem__(
        self, source: Collector[Mapping[K, T | UnreadableResource]]
    ) -> Mapping[K, T]: ...

    @overload
    def __getitem__(self, source: Collector[T]) -> T: ...

    def __getitem__(self, source: Collector[Any]) -> Any:
        """The collector's readable value: its unreadable resources taken out."""
        if source.name not in self._values:
            raise LookupError(f"check did not declare collector {source.name} in reads=")
        return self._values[source.name]


def _without(value: Any, hidden: Collection[ResourceRef]) -> Any:
    """A collector value without the unreadable resources (and those read alongside them)."""

    def shown(item: Any) -> bool:
        return not isinstance(item, UnreadableResource) and getattr(item, "ref", None) not in hidden

    if isinstance(value, Mapping):
        return {key: item for key, item in value.items() if shown(item)}
    if isinstance(value, list | tuple):
        return [item for item in value if shown(item)]
    return value
