"""The one registry of controls: each declared once, beside its function, by ``@check``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scanner.compliance import Compliance, Framework
from scanner.errors import ConfigError
from scanner.inventory import CheckInputs, Collector
from scanner.model import Outcome, Severity

CHECK_ID = re.compile(r"^[a-z0-9]+\.[a-z0-9_]+$")

Params = Mapping[str, Any]
CheckFunction = Callable[[CheckInputs, Params], Iterable[Outcome]]


class DuplicateCheckError(Exception):
    """Two checks claimed the same id: a programming error, raised at import."""


@dataclass(frozen=True, kw_only=True)
class Param:
    """A baseline parameter: its default and the JSON Schema a baseline value must meet."""

    name: str
    default: Any
    schema: Mapping[str, Any]
    description: str


@dataclass(frozen=True, kw_only=True)
class CheckSpec:
    id: str
    """Contract id from controls.md, ``service.what_it_confirms``."""
    service: str
    severity: Severity
    title: str
    description: str
    remediation: str
    params: tuple[Param, ...]
    reads: tuple[Collector[Any], ...]
    function: CheckFunction
    configured_by: str | None = None
    """A parameter whose empty default keeps the control off until the baseline sets it."""
    rationale: str = ""
    """Why the control matters: what goes wrong when it fails."""
    cfn_property: str = ""
    """The CloudFormation resource property (or template part) that fixes it at the source."""
    reads_tags: bool = False
    """The check judges tags, which collectors otherwise read only when the scope needs them."""
    independent: tuple[Collector[Any], ...] = ()
    """Collectors of ``reads`` whose records the check judges each on its own: one that
    failed reads as empty (its ERROR stands for its resources) and the others are judged."""
    partial_evidence: bool = False
    """The check judges per-resource read errors (``ReadError`` values inside records) itself.
    Without it the engine reports every unreadable resource and the check never sees one."""
    compliance: Compliance
    """The framework requirements it evidences, or why none matches (required: a control that
    forgets to say fails at import)."""

    @property
    def actions(self) -> tuple[str, ...]:
        """Every IAM action the check's collectors call, sorted."""
        actions: set[str] = set()
        for source in self.reads:
            actions |= source.all_actions()
        return tuple(sorted(actions))

    def defaults(self) -> dict[str, Any]:
        return {param.name: param.default for param in self.params}


REGISTRY: dict[str, CheckSpec] = {}


def check(
    *,
    id: str,
    severity: Severity,
    title: str,
    description: str,
    remediation: str,
    reads: Iterable[Collector[Any]],
    compliance: Compliance,
    params: Iterable[Param] = (),
    configured_by: str | None = None,
    rationale: str = "",
    cfn_property: str = "",
    reads_tags: bool = False,
    independent: Iterable[Collector[Any]] = (),
    partial_evidence: bool = False,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a control. The function receives its declared collectors and parameters."""

    if not CHECK_ID.match(id):
        raise ValueError(f"malformed check id {id!r}")
    params = tuple(params)
    reads = tuple(reads)
    independent = tuple(independent)
    if not {source.name for source in independent} <= {source.name for source in reads}:
        raise ValueError(f"{id}: independent= names a collector missing from reads=")
    if configured_by is not None and configured_by not in {p.name for p in params}:
        raise ValueError(f"{id}: configured_by names no parameter: {configured_by}")

    def register(function: CheckFunction) -> CheckFunction:
        if id in REGISTRY:
            raise DuplicateCheckError(id)
        REGISTRY[id] = CheckSpec(
            id=id,
            service=id.split(".", 1)[0],
            severity=severity,
            title=title,
            description=description,
            remediation=remediation,
            params=params,
            reads=reads,
            function=function,
            configured_by=configured_by,
            rationale=rationale,
            cfn_property=cfn_property,
            reads_tags=reads_tags,
            independent=independent,
            partial_evidence=partial_evidence,
            compliance=compliance,
        )
        return function

    return register


def all_checks() -> list[CheckSpec]:
    """Every registered control, sorted by id (imports the check modules once)."""
    import checks  # noqa: F401  (registers every control module)

    return [REGISTRY[key] for key in sorted(REGISTRY)]


def get_check(check_id: str) -> CheckSpec:
    all_checks()
    try:
        return REGISTRY[check_id]
    except KeyError:
        raise ConfigError(unknown("check id", check_id, REGISTRY)) from None


UNREGISTERED = Compliance.none("not a control of this version")
"""What a control this version does not register evidences (a stored scan may name one)."""


def compliance_of(check_id: str) -> Compliance:
    """The framework requirements a finding of ``check_id`` evidences."""
    if not REGISTRY:
        all_checks()
    spec = REGISTRY.get(check_id)
    return spec.compliance if spec else UNREGISTERED


def checks_evidencing(framework: Framework) -> list[CheckSpec]:
    """The controls that evidence a requirement of ``framework``, sorted by id."""
    return [spec for spec in all_checks() if spec.compliance.evidences(framework)]


def services() -> list[str]:
    return sorted({spec.service for spec in all_checks()})


def unknown(kind: str, value: str, known: Iterable[str]) -> str:
    """One line naming the bad value and the closest known ones."""
    scored = sorted(
        ((difflib.SequenceMatcher(None, value, k).ratio(), k) for k in known), reverse=True
    )
    # Only the best candidates: a near-tie, not everything vaguely alike.
    best = scored[0][0] if scored else 0.0
    close = [k for ratio, k in scored[:3] if ratio >= max(0.6, best - 0.05)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown {kind} {value!r}{hint}"
