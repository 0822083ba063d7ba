"""The registry and controls.md agree in both directions; specs are complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scanner.engine.compliance import Compliance
from scanner.engine.registry import CHECK_ID, all_checks
from scanner.model import Severity

REPOSITORY = Path(__file__).resolve().parents[1]
CONTROLS_MD = REPOSITORY / "docs" / "controls.md"
"""The baseline's specification: every control's id, severity, parameters and PASS rule."""
UPSTREAM_SPEC = REPOSITORY.parent / "shared" / "spec" / "controls.md"
"""Where a maintainer's workspace keeps the specification docs/controls.md is copied from."""
ROW = re.compile(r"^\| ([a-z0-9]+\.[a-z0-9_]+) \| (critical|high|medium|low) \|", re.MULTILINE)
BEYOND_SPEC = {"cloudformation.stack_drift": "medium"}
"""Controls that later issues added beyond controls.md's table (issue 3: drift over time)."""
STARTS_JOBS = {"cloudformation:DetectStackDrift"}
"""The one action that is not a read: it starts a drift detection job (changing no resource),
made only by cloudformation.stack_drift, which is off unless enabled."""


def spec_rows() -> dict[str, str]:
    return dict(ROW.findall(CONTROLS_MD.read_text()))


def test_docs_controls_md_is_the_upstream_specification() -> None:
    if not UPSTREAM_SPEC.exists():
        pytest.skip(
            "no maintainer's workspace around this checkout: docs/controls.md is the only "
            "copy of the baseline's specification, nothing to compare it with"
        )
    assert CONTROLS_MD.read_text() == UPSTREAM_SPEC.read_text(), (
        f"docs/controls.md differs from {UPSTREAM_SPEC}: copy the specification again"
    )


def test_every_control_of_the_spec_is_registered_with_its_severity() -> None:
    registered = {spec.id: spec.severity.value for spec in all_checks()}
    assert registered == {**spec_rows(), **BEYOND_SPEC}


def test_specs_are_complete() -> None:
    for spec in all_checks():
        assert CHECK_ID.match(spec.id)
        assert isinstance(spec.severity, Severity)
        assert spec.title and spec.description and spec.remediation, spec.id
        assert spec.rationale and spec.cfn_property, f"{spec.id}: explain why and the CFN fix"
        assert spec.reads, f"{spec.id} reads nothing"
        assert isinstance(spec.compliance, Compliance), f"{spec.id}: declare its frameworks"
        assert spec.actions, f"{spec.id} declares no IAM action"
        for action in spec.actions:
            verb = action.split(":", 1)[1]
            assert (
                verb == "GET"
                or verb.startswith(("Describe", "List", "Get"))
                or (action in STARTS_JOBS)
            ), action


def test_docs_checks_md_is_generated_from_the_registry() -> None:
    from scanner.app.docs import checks_markdown

    path = Path(__file__).resolve().parents[1] / "docs" / "checks.md"
    assert path.read_text() == checks_markdown(), "run: python -m scanner.app.docs > docs/checks.md"
