"""Judge one control over plain records, in milliseconds: no moto, no network.

The records go through the engine's own path (``runner._run_check``): a collector given as a
``ReadError`` failed as a whole, and an ``UnreadableResource`` in a listing (or as the value of
a lookup) is reported as ERROR and hidden from the check, exactly as in a scan.

A control's case table is records from ``tests/factories.py`` and the findings they must give::

    found = judge("logs.retention_set", {logs.log_groups: [log_group("/a", retention_days=7)]})
    expect(by_resource(found), {"/a": (Status.FAIL, "below the baseline's 30")})

Moto stays for what only AWS can show: that the collectors read what it returns (paging,
per-resource failures, scope), and one compliant and one failing moto case per control."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from scanner.engine.inventory import Collector, Inventory, Scope
from scanner.engine.registry import get_check
from scanner.engine.runner import _run_check
from scanner.engine.session import AwsSession, SessionOptions
from scanner.errors import CollectorError
from scanner.model import Finding, ReadError, ResourceRef, Status, UnreadableResource

T = TypeVar("T")

ACCOUNT = "123456789012"
REGION = "us-east-1"
DENIED = ReadError(code="AccessDeniedException", action="test:Read")


class SeededInventory(Inventory):
    """An inventory whose collectors return the given values instead of reading AWS.

    A collector given as a ``ReadError`` fails as a whole (as if its fetch raised
    CollectorError). One not given fails like the first of its dependencies given as a
    ``ReadError`` (``rds.instances`` when ``rds.instance_listing`` was denied), and otherwise
    reads as an empty listing. Seed a collector that tolerates its dependency's failure
    (``rds.instances`` without ``rds.clusters``) with its value."""

    def __init__(self, values: Mapping[Collector[Any], Any]) -> None:
        super().__init__(
            AwsSession(SessionOptions()), account_id=ACCOUNT, region=REGION, scope=Scope()
        )
        self._seeded = {source.name: value for source, value in values.items()}

    def get(self, source: Collector[T]) -> T:
        failed = source
        if source.name not in self._seeded:
            failed = next(
                (
                    d
                    for d in _dependencies(source)
                    if isinstance(self._seeded.get(d.name), ReadError)
                ),
                source,
            )
        value = self._seeded.get(failed.name, [])
        if isinstance(value, ReadError):
            error = CollectorError(value)
            error.collector = failed
            raise error
        seeded: T = value
        return seeded


def _dependencies(source: Collector[Any]) -> Iterator[Collector[Any]]:
    for dependency in source.requires:
        yield dependency
        yield from _dependencies(dependency)


def judge(check_id: str, values: Mapping[Collector[Any], Any], **params: Any) -> list[Finding]:
    """The findings of ``check_id`` over these collector values (its defaults overlaid by
    ``params``), as a scan of one region would report them."""
    spec = get_check(check_id)
    return _run_check(spec, {**spec.defaults(), **params}, SeededInventory(values))


def by_resource(findings: list[Finding]) -> dict[str, Finding]:
    """Findings by resource id (a duplicate resource id fails the test), for ``expect``."""
    found: dict[str, Finding] = {}
    for finding in findings:
        assert finding.resource_id not in found, f"two findings for {finding.resource_id}"
        found[finding.resource_id] = finding
    return found


def verdicts(findings: list[Finding]) -> dict[str, tuple[Status, str, Mapping[str, Any]]]:
    """Status, message and evidence by resource id (a duplicate resource id fails the test)."""
    return {rid: (f.status, f.message, f.evidence) for rid, f in by_resource(findings).items()}


def statuses(findings: list[Finding]) -> dict[str, Status]:
    """Status by resource id, for cases about which resources are judged."""
    return {resource_id: v[0] for resource_id, v in verdicts(findings).items()}


def unreadable(ref: ResourceRef, what: str, error: ReadError = DENIED) -> UnreadableResource:
    """A listed resource whose ``what`` could not be read."""
    return UnreadableResource(ref=ref, error=error, what=what)


def denied(action: str, code: str = "AccessDeniedException") -> ReadError:
    """The error of a call the scanner was not allowed to make."""
    return ReadError(code=code, action=action)
