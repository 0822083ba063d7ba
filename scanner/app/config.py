"""The baseline file and the command-line selection, validated into a ScanPlan."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import reprlib
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from scanner.app.suppressions import (
    FILE_SCHEMA,
    SECTION_SCHEMA,
    Suppression,
    entry_problems,
    from_document,
)
from scanner.engine.compliance import Framework
from scanner.engine.inventory import Scope
from scanner.engine.registry import CheckSpec, all_checks, get_check, services, unknown
from scanner.engine.runner import DEFAULT_WORKERS, ScanPlan
from scanner.errors import ConfigError
from scanner.model import Severity
from scanner.textsafe import MAX_PROBLEMS, at_most, clip

BASELINE_VERSION = 1


def baseline_schema() -> dict[str, Any]:
    """JSON Schema of a baseline file, built from the registry's parameters."""
    controls = {}
    for spec in all_checks():
        properties: dict[str, Any] = {
            "enabled": {"type": "boolean", "description": "false turns the control off"}
        }
        for param in spec.params:
            properties[param.name] = {**param.schema, "description": param.description}
        controls[spec.id] = {
            "type": "object",
            "description": spec.title,
            "properties": properties,
            "additionalProperties": False,
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://driftscan.dev/schemas/baseline.schema.json",
        "title": "driftscan baseline",
        "description": "a mapping of version, scope, controls and suppressions",
        "type": "object",
        "properties": {
            "version": {"const": BASELINE_VERSION},
            "scope": {
                "type": "object",
                "properties": {
                    "regions": {
                        "type": "array",
                        "items": {
                            "type": "string",
                            "pattern": "^[a-z]{2}(-[a-z]+)+-\\d+$",
                            "description": "an AWS region name like us-east-1",
                        },
                        "minItems": 1,
                        "uniqueItems": True,
                    },
                    "tags": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "only resources carrying every tag key=value",
                    },
                    "name_suffix": {
                        "type": "string",
                        "minLength": 1,
                        "description": "only resources whose name (or Name tag) contains it",
                    },
                },
                "additionalProperties": False,
            },
            "controls": {
                "type": "object",
                "properties": controls,
                "additionalProperties": False,
            },
            "suppressions": SECTION_SCHEMA,
        },
        "additionalProperties": False,
    }


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """A validated baseline: parameter overrides, controls turned off, and scope."""

    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()
    regions: tuple[str, ...] = ()
    scope: Scope = field(default_factory=Scope)
    suppressions: tuple[Suppression, ...] = ()


def load_baseline(path: Path | None) -> Baseline:
    """Read and validate a YAML or JSON baseline file; no file means all defaults."""
    if path is None:
        return Baseline()
    return parse_baseline(_read(path, "baseline"), str(path))


def load_suppressions(path: Path | None) -> tuple[Suppression, ...]:
    """Read and validate a YAML or JSON suppressions file (``suppressions: [...]``)."""
    if path is None:
        return ()
    document = _validated(_read(path, "suppressions"), str(path), FILE_SCHEMA)
    return from_document(document["suppressions"], str(path))


MAX_FILE_BYTES = 1 << 20
"""Baselines and suppressions are small files people write: anything bigger is a mistake or
an attack, refused before it is read whole."""
MAX_DEPTH = 20
"""How deeply mappings and lists may nest in them (a baseline needs 4 levels)."""


def _read(path: Path, kind: str) -> str:
    """The file's text: a regular file of at most MAX_FILE_BYTES, UTF-8."""
    try:
        # O_NONBLOCK: opening a FIFO without a writer must not hang; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {kind} file: {exc.strerror}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"{path}: a {kind} file must be a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read {kind} file: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: a {kind} file may hold at most {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def parse_baseline(text: str, source: str = "baseline") -> Baseline:
    document = _validated(text, source, baseline_schema())
    controls = document.get("controls", {})
    scope = document.get("scope", {})
    return Baseline(
        overrides={
            check_id: {k: v for k, v in values.items() if k != "enabled"}
            for check_id, values in controls.items()
        },
        disabled=frozenset(
            cid for cid, values in controls.items() if values.get("enabled") is False
        ),
        regions=tuple(scope.get("regions", ())),
        scope=Scope(tags=scope.get("tags", {}), name_suffix=scope.get("name_suffix")),
        suppressions=from_document(document.get("suppressions", []), source),
    )


try:  # libyaml's parser, when PyYAML was built with it: ten times faster than Python's
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover (PyYAML's wheels include libyaml)
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _PlainDocument(_SafeLoader):
    """Safe loading where ``2027-03-01`` stays a string: JSON Schema knows no dates."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _load_yaml(text: str) -> Any:
    """The document, once its events show it small and plain: anchors and aliases (``&a``,
    ``*a``) are refused, as a few hundred bytes of nested aliases expand to gigabytes (the
    "billion laughs") and a baseline has no use for them; nesting deeper than MAX_DEPTH is
    refused before the recursive composer could overflow the stack."""
    depth = 0
    for event in yaml.parse(text, Loader=_PlainDocument):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(event.start_mark, "anchors and aliases (& and *) are not accepted")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return yaml.load(text, Loader=_PlainDocument)


class _Refused(yaml.MarkedYAMLError):
    def __init__(self, mark: Any, problem: str) -> None:  # libyaml's Mark or PyYAML's
        super().__init__(problem=problem, problem_mark=mark)


def _parsed(text: str, source: str) -> Any:
    """The document of a YAML or JSON text. JSON is parsed as JSON first: the same
    document, a hundred times faster than the YAML parser (a 1 MiB JSON file took seconds)."""
    if text.lstrip().startswith(("{", "[")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            pass  # flow-style YAML, such as {a: 1}: the YAML parser's
        except RecursionError:
            raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
        else:
            if _depth(document) > MAX_DEPTH:
                raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels")
            return document
    try:
        return _load_yaml(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: not valid YAML or JSON{where}: {clip(problem)}") from exc


def _depth(document: Any) -> int:
    """How deeply mappings and lists nest in the document; without recursion, whatever the
    depth."""
    deepest, pending = 0, [(document, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in node)
    return deepest


def _validated(text: str, source: str, schema: Mapping[str, Any]) -> Any:
    """The YAML or JSON document, valid against ``schema``; else one line per problem."""
    document = _empty_sections_as_mappings(_parsed(text, source))
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    # One problem per text, number or boolean: '' breaks both minLength and pattern.
    kept: dict[object, jsonschema.ValidationError] = {}
    for error in problems:
        scalar = not isinstance(error.instance, (dict, list))
        kept.setdefault(tuple(error.absolute_path) if scalar else id(error), error)
    lines = [line for error in kept.values() for line in _describe(error)]
    if isinstance(document, dict) and isinstance(document.get("suppressions"), list):
        lines += entry_problems(document["suppressions"])  # all problems at once, not in turns
    if lines:
        raise ConfigError("\n".join(f"{source}: {line}" for line in at_most(lines, MAX_PROBLEMS)))
    return document


def _empty_sections_as_mappings(document: Any) -> Any:
    """``scope:`` or ``some.control:`` left empty (or holding only comments) means defaults."""
    if document is None:
        return {}
    if not isinstance(document, dict):
        return document
    document = dict(document)
    for section in ("scope", "controls"):
        if section in document and document[section] is None:
            document[section] = {}
    if isinstance(document.get("controls"), dict):
        document["controls"] = {
            key: {} if value is None else value for key, value in document["controls"].items()
        }
    return document


def key_name(part: object) -> str:
    """A key as a key path shows it: quoted unless it is plain, printable text without
    ``/`` or ``: ``, so a problem stays one unambiguous line whatever the key; long keys cut."""
    text = str(part)
    plain = text and text.isprintable() and "/" not in text and ": " not in text
    return clip(text if plain else repr(text), 60)


_VALUE = reprlib.Repr()
_VALUE.maxstring = _VALUE.maxother = 40
_VALUE.maxlist = _VALUE.maxdict = 3


def _value(instance: object) -> str:
    """A value as a problem quotes it: a short prefix, never the whole of a big value."""
    return clip(_VALUE.repr(instance), 60)


_KINDS = {
    dict: "a mapping",
    list: "a list",
    str: "text",
    bool: "true/false",
    int: "a number",
    float: "a number",
    type(None): "nothing",
}
_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
}


def _describe(error: jsonschema.ValidationError) -> list[str]:
    """One line per problem: the key path and what was expected, built from the schema and a
    short prefix of the value (jsonschema's own messages quote the whole value)."""
    path = "/".join(key_name(part) for part in error.absolute_path) or "(top level)"
    schema, instance, expected = error.schema, error.instance, error.validator_value
    match error.validator:
        case "additionalProperties":
            known = list(schema.get("properties", {}))
            extra = sorted(set(instance) - set(known), key=str)  # YAML keys may be numbers
            return [f"{path}: {unknown('key', clip(str(key), 60), known)}" for key in extra]
        case "required":
            return [f"{path}: missing {key!r}" for key in expected if key not in instance]
        case "type":
            types = [expected] if isinstance(expected, str) else expected
            got = _KINDS.get(type(instance), type(instance).__name__)
            if error.absolute_path and not isinstance(instance, (dict, list)):
                return [
                    f"{path}: {_value(instance)} is not of type {' or '.join(map(repr, types))}"
                ]
            wanted = schema.get("description") if not error.absolute_path else None
            wanted = wanted or " or ".join(_TYPES.get(t, t) for t in types)
            return [f"{path}: expected {wanted}, got {got}"]
        case "pattern" if "description" in schema:
            return [f"{path}: {_value(instance)} is not {schema['description']}"]
        case "const":
            return [f"{path}: {_value(instance)} is not {expected!r}"]
        case "enum":
            return [f"{path}: {_value(instance)} is not one of {', '.join(map(str, expected))}"]
        case "minLength" | "minItems" if expected == 1:
            return [f"{path}: must not be empty"]
        case "uniqueItems":
            return [f"{path}: lists an item twice"]
    # Other validators (minimum, maximum): jsonschema's message may quote the whole value.
    return [f"{path}: {clip(error.message)}"]


def build_plan(
    baseline: Baseline,
    *,
    check_ids: Sequence[str] = (),
    service_names: Sequence[str] = (),
    min_severity: Severity | None = None,
    framework: Framework | None = None,
    regions: Sequence[str] = (),
    default_region: str | None = None,
    known_regions: Iterable[str] = (),
    workers: int = DEFAULT_WORKERS,
) -> ScanPlan:
    """Select controls and regions; raise ConfigError naming any unknown id or region."""
    selected = _select(baseline, check_ids, service_names, min_severity, framework)
    params = {
        spec.id: {**spec.defaults(), **baseline.overrides.get(spec.id, {})} for spec in selected
    }
    # A control configured by a parameter that is still empty is off: it costs no request.
    specs = [s for s in selected if not s.configured_by or params[s.id][s.configured_by]]
    for spec in selected:
        if spec not in specs and spec.id in check_ids:
            raise ConfigError(
                f"{spec.id} is off until the baseline sets controls/{spec.id}/{spec.configured_by}"
            )
    if not specs:
        raise ConfigError(
            "no control selected: check --checks, --services, --severity and --compliance"
        )
    params = {spec.id: params[spec.id] for spec in specs}
    chosen = tuple(dict.fromkeys(regions or baseline.regions or filter(None, [default_region])))
    if not chosen:
        raise ConfigError("no region: pass --region, set AWS_REGION, or list scope.regions")
    known = set(known_regions)
    for region in chosen:
        if known and region not in known:
            raise ConfigError(unknown("region", region, sorted(known)))
    digest_source = {
        "params": params,
        "scope": {"tags": dict(baseline.scope.tags), "name_suffix": baseline.scope.name_suffix},
    }
    digest = hashlib.sha256(json.dumps(digest_source, sort_keys=True).encode()).hexdigest()
    return ScanPlan(
        checks=tuple(specs),
        params=params,
        regions=chosen,
        scope=baseline.scope,
        baseline_digest=f"sha256:{digest}",
        workers=workers,
    )


def _select(
    baseline: Baseline,
    check_ids: Sequence[str],
    service_names: Sequence[str],
    min_severity: Severity | None,
    framework: Framework | None,
) -> list[CheckSpec]:
    known_services = services()
    for name in service_names:
        if name not in known_services:
            raise ConfigError(unknown("service", name, known_services))
    if check_ids:
        # Named explicitly: run even if the baseline turned it off.
        specs = [get_check(check_id) for check_id in dict.fromkeys(check_ids)]
    else:
        specs = [spec for spec in all_checks() if spec.id not in baseline.disabled]
    if service_names:
        specs = [spec for spec in specs if spec.service in service_names]
    if min_severity is not None:
        specs = [spec for spec in specs if spec.severity.rank >= min_severity.rank]
    if framework is not None:
        specs = [spec for spec in specs if spec.compliance.evidences(framework)]
    return specs


def default_baseline_yaml() -> str:
    """A commented baseline file holding every control's defaults."""
    lines = [
        "# driftscan baseline: parameters per control, controls turned off, and scope.",
        "# Validated against the schema of `driftscan baseline schema`; delete what you",
        "# do not change. Every value below is the default.",
        f"version: {BASELINE_VERSION}",
        "",
        "scope:",
        "  # regions: [us-east-1, eu-west-1]   # default: --region, else the session's",
        "  # tags: {environment: prod}         # only resources with every tag",
        "  # name_suffix: -prod                # only resources whose name contains it",
        "",
        "# suppressions:                      # accepted failures, reported as MUTED",
        "#   - check: rds.backup_retention",
        "#     resource: 'stage-*'             # glob on the resource id or ARN",
        "#     reason: OPS-12, restores tested weekly",
        "#     expires: 2027-03-31             # optional; the last day it suppresses",
        "",
        "controls:",
    ]
    for spec in all_checks():
        lines.append(f"  # {spec.severity.value}: {spec.title}")
        lines.append(f"  {spec.id}:")
        lines.append("    enabled: true")
        for param in spec.params:
            lines.append(f"    # {param.description}")
            lines.append(f"    {param.name}: {json.dumps(copy.deepcopy(param.default))}")
    return "\n".join(lines) + "\n"
