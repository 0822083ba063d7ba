"""Imports point down the layers of docs/architecture.md; a test fails when one points up.

Every module of scanner/, checks/ and reports/ (and the plugin fixture, which imports what
any plugin may) is parsed with ast; each import, at module level, under TYPE_CHECKING or
inside a function, must go to its own layer or to one the table below lets it use.
"""

from __future__ import annotations

import ast
import graphlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
PLUGIN = REPOSITORY / "tests" / "plugin_fixture"
PROJECT = ("scanner", "checks", "reports")

BASE = {"scanner", "scanner.model", "scanner.errors", "scanner.textsafe", "scanner.output"}
"""The bottom layer: plain types and utilities every layer uses, kept at scanner/'s top
level (and the paths plugins import)."""

PACKAGES = {
    "scanner.cli": "cli",
    "scanner.__main__": "cli",
    "scanner.app": "app",
    "scanner.delivery": "delivery",
    "reports": "reports",
    "checks": "checks",
    "driftscan_example_plugin": "checks",
    "scanner.engine": "engine",
    "scanner.store": "store",
    "scanner.demo": "demo",
}

MAY_IMPORT = {
    "cli": {"app", "delivery", "reports", "engine", "store", "demo", "base"},
    "app": {"delivery", "reports", "engine", "store", "base"},
    "delivery": {"reports", "engine", "store", "base"},
    "reports": {"engine", "store", "base"},
    "checks": {"engine", "base"},
    "engine": {"base"},
    "store": {"base"},
    "demo": {"base"},
    "base": set(),
}
"""Besides its own layer. Acyclic (checked below), so "down" is well defined."""

ONLY = {
    ("checks", "engine"): (
        "scanner.engine.registry",
        "scanner.engine.inventory",
        "scanner.engine.records",
        "scanner.engine.compliance",
        "scanner.engine.windows",
    ),
    ("reports", "engine"): (
        "scanner.engine.registry",
        "scanner.engine.compliance",
        "scanner.engine.aws_data",
    ),
    ("reports", "store"): ("scanner.store.drift",),
}
"""Where a layer may use only part of a lower one: checks see the engine's declarations
(never a collector, the session or the runner); reports see the controls' metadata, what
botocore's bundled data says about AWS, and the diff types (no I/O)."""

NO_AWS_SDK = ("checks", "reports", "store")
LAZY_OK = {"moto", "dask", "distributed", "pyarrow", "psycopg"}
"""Heavy optional dependencies a function may import when it needs them."""


def layer_of(module: str) -> str:
    if module in BASE:
        return "base"
    for package, layer in PACKAGES.items():
        if module == package or module.startswith(package + "."):
            return layer
    raise AssertionError(f"{module} is in no layer: place it in docs/architecture.md and here")


def sources() -> Iterator[tuple[str, Path]]:
    for top in PROJECT:
        for path in sorted((REPOSITORY / top).rglob("*.py")):
            yield _module_name(path, REPOSITORY), path
    for path in sorted(PLUGIN.rglob("*.py")):
        yield _module_name(path, PLUGIN), path


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolved(base: str, name: str) -> str:
    """``from base import name``: the submodule when ``name`` is one, else ``base``."""
    candidate = REPOSITORY.joinpath(*f"{base}.{name}".split("."))
    if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
        return f"{base}.{name}"
    return base


def imports(module: str, source: str) -> Iterator[tuple[str, bool]]:
    """(imported module, inside a function) for every import in ``source``."""

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, in_function
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{module}: the project imports absolutely"
            for alias in node.names:
                yield _resolved(node.module or "", alias.name), in_function
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(ast.parse(source), False)


def violations(module: str, source: str) -> list[str]:
    """What is wrong with the imports of ``module`` (whose text is ``source``)."""
    found = []
    layer = layer_of(module)
    for imported, in_function in imports(module, source):
        top = imported.partition(".")[0]
        if top in PROJECT:
            target = layer_of(imported)
            if in_function:
                found.append(f"{module} imports {imported} inside a function")
            if target != layer and target not in MAY_IMPORT[layer]:
                found.append(f"{module} ({layer}) imports {imported} ({target}): points up")
            allowed = ONLY.get((layer, target))
            if allowed and not imported.startswith(allowed):
                found.append(f"{module} ({layer}) imports {imported}: only {', '.join(allowed)}")
        elif in_function and top not in LAZY_OK and top not in sys.stdlib_module_names:
            found.append(f"{module} imports {imported} inside a function (not a heavy option)")
        if top in ("typer", "click") and layer != "cli":
            found.append(f"{module} ({layer}) imports {top}: only the CLI does")
        if top in ("boto3", "botocore") and layer in NO_AWS_SDK:
            found.append(f"{module} ({layer}) imports {top}: no AWS SDK there")
    return found


def test_the_layers_are_acyclic() -> None:
    graphlib.TopologicalSorter(MAY_IMPORT).prepare()  # raises CycleError on a cycle


def test_every_import_points_down_the_layers() -> None:
    found = [v for module, path in sources() for v in violations(module, path.read_text())]
    assert found == []


def test_every_module_has_a_layer() -> None:
    assert {layer_of(module) for module, _ in sources()} == set(MAY_IMPORT)


@pytest.mark.parametrize(
    ("module", "source", "problem"),
    [
        ("scanner.engine.runner", "from scanner.app import pipeline\n", "points up"),
        ("scanner.model", "import scanner.engine.session\n", "points up"),
        ("reports.table", "from scanner.engine.session import AwsSession\n", "only"),
        ("checks.kms", "from scanner.engine.collectors import kms\n", "only"),
        ("checks.kms", "import botocore.exceptions\n", "no AWS SDK"),
        ("scanner.app.pipeline", "import typer\n", "only the CLI"),
        ("scanner.engine.registry", "def f():\n    import checks.kms\n", "inside a function"),
        ("scanner.delivery", "def f():\n    from scanner.delivery import s3\n", "inside"),
    ],
)
def test_an_import_that_breaks_the_rule_is_caught(module: str, source: str, problem: str) -> None:
    assert any(problem in v for v in violations(module, source))


def test_a_lazy_import_of_a_heavy_optional_dependency_is_allowed() -> None:
    source = "def parquet():\n    import pyarrow.parquet\n    from moto import mock_aws\n"
    assert violations("scanner.delivery.security_lake", source) == []
