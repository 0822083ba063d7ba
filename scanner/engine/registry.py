"""The one registry of controls: each declared once, beside its function, by ``@check``.

Controls are found through the ``driftscan.checks`` entry-point group: driftscan's own check
modules are listed there in its pyproject.toml exactly like a plugin's, so a package outside
this repository adds controls by declaring its modules in the same group.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from scanner.engine.compliance import Compliance, Framework
from scanner.engine.inventory import CheckInputs, Collector
from scanner.errors import ConfigError, PluginError
from scanner.model import Outcome, Severity
from scanner.textsafe import clip

CHECK_ID = re.compile(r"^[a-z0-9]+\.[a-z0-9_]+$")

Params = Mapping[str, Any]
CheckFunction = Callable[[CheckInputs, Params], Iterable[Outcome]]


ENTRY_POINT_GROUP = "driftscan.checks"
"""Each entry point of this group names a module whose ``@check``s register when imported."""
DISTRIBUTION = "driftscan"
"""The distribution whose entry points are driftscan's own controls."""


class DuplicateCheckError(PluginError):
    """Two checks claimed the same id, or two collectors the same name: raised when the
    second registers, naming both."""


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
            raise DuplicateCheckError(
                f"check id {id} is declared twice: by {_source(REGISTRY[id].function)} "
                f"and by {_source(function)}"
            )
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


def _source(function: str | Callable[..., Any]) -> str:
    """``module.function`` of a check, or of a collector's fetch (``"module:function"``)."""
    if isinstance(function, str):
        return function.replace(":", ".")
    return f"{function.__module__}.{function.__qualname__}"


def _distribution(entry_point: EntryPoint) -> str:
    return entry_point.dist.name if entry_point.dist else "an unnamed distribution"


def _plugin(entry_point: EntryPoint) -> str:
    """``check plugin example (driftscan_example_plugin.checks, from driftscan-example-plugin)``"""
    name, module = entry_point.name, entry_point.value
    return f"check plugin {name} ({module}, from {_distribution(entry_point)})"


@functools.cache  # not cached when it raises: a later call reports the same failure
def _load_controls() -> None:
    """Import every module of the entry-point group once, driftscan's own first (so that a
    plugin redeclaring one of its ids is the one named as the duplicate)."""
    found = sorted(
        entry_points(group=ENTRY_POINT_GROUP),
        key=lambda ep: (_distribution(ep) != DISTRIBUTION, _distribution(ep), ep.name),
    )
    if not any(_distribution(ep) == DISTRIBUTION for ep in found):
        raise PluginError(
            f"driftscan's own controls are not registered (no {ENTRY_POINT_GROUP} entry points"
            " of the driftscan distribution): reinstall it, e.g. pip install -e ."
        )
    for entry_point in found:
        try:
            entry_point.load()
            _refuse_shared_collector_names()
        except DuplicateCheckError as exc:
            raise DuplicateCheckError(f"{_plugin(entry_point)}: {exc}") from None
        except Exception as exc:  # anything a plugin's import raises: one line, no traceback
            raise PluginError(
                f"{_plugin(entry_point)} cannot be loaded: "
                f"{type(exc).__name__}: {clip(str(exc), 200)}"
            ) from exc


def _refuse_shared_collector_names() -> None:
    """The inventory memoises a collector's value by its name: of two collectors sharing
    one, a check would silently read the other's records."""
    seen: dict[str, Collector[Any]] = {}
    pending = [source for spec in REGISTRY.values() for source in spec.reads]
    for source in pending:  # in registration order, growing with the requires of each
        known = seen.setdefault(source.name, source)
        if known != source:  # a factory (kms.keys_used_by) declares equal collectors anew
            raise DuplicateCheckError(
                f"collector name {source.name} is declared twice: by {_source(known.fetch)} "
                f"and by {_source(source.fetch)}"
            )
        pending += source.requires


def all_checks() -> list[CheckSpec]:
    """Every registered control, sorted by id (loads the entry-point group once)."""
    _load_controls()
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
