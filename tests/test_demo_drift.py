"""``driftscan demo``: the same account on every run, and the README's drift walkthrough."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.cli import run
from scanner.demo import stack

README = Path(__file__).resolve().parent.parent / "README.md"

WALKTHROUGH = (
    ("driftscan demo --history demo.db", 0),
    ("driftscan demo --history demo.db --fail-on new --quiet", 0),
    ("driftscan diff --history demo.db", 0),
    ("driftscan snapshot approve --history demo.db", 0),
    ("driftscan demo --history demo.db --drift --fail-on new --quiet", 1),
    ("driftscan diff --history demo.db", 0),
    ("driftscan demo --history demo.db --drift --drift-from approved --fail-on new --quiet", 1),
)
"""The commands of README's "Drift in five minutes", in order, with their exit codes."""


SHOWN_IDS = re.compile(r"sg-[0-9a-f]{17}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|\w{10}/prod")
"""Security group, KMS key and API stage ids in the README's sample output."""


def _readme_section() -> str:
    return README.read_text().split("### Drift in five minutes", 1)[1].split("\n## ", 1)[0]


def _walkthrough_in_readme() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", _readme_section(), re.S)
    assert block is not None
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]


def test_readme_drift_walkthrough_runs_verbatim_with_its_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _walkthrough_in_readme() == [command for command, _ in WALKTHROUGH]
    monkeypatch.chdir(tmp_path)
    # The first scan in another process, whose string hashes differ from this one's: the
    # account must not depend on the process that built it (ids, set order, the clock).
    first, first_code = WALKTHROUGH[0]
    env = {**os.environ, "PYTHONHASHSEED": "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"}
    process = subprocess.run(
        [sys.executable, "-m", "scanner", *shlex.split(first)[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == first_code, process.stderr
    outputs = []
    for command, code in WALKTHROUGH[1:]:
        assert run(shlex.split(command)[1:]) == code, command
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
    quiet_again, same_diff, _approve, drifted, drift_diff, from_approved = outputs

    assert quiet_again == ""
    assert "0 new failures" in same_diff
    assert "0 resources appeared, 0 disappeared, 0 changed (0 fields)" in same_diff

    new_fails = [line for line in drifted.splitlines() if line.startswith("new FAIL:")]
    assert len(new_fails) == 4, drifted
    assert "kms.cmk_rotation_enabled" in drifted and "alias/prod-rds" in drifted
    assert "has automatic rotation off" in drifted
    assert "logs.retention_set /ecs/prod-app" in drifted and "keeps events 7 days" in drifted
    assert "ec2.datastore_sg_least_privilege" in drifted and "5432 from" in drifted
    assert "0.0.0.0/0 (open to the world)" in drifted
    assert "apigateway.stage_throttling" in drifted and "no default rate limit" in drifted

    assert "4 new failures" in drift_diff and "4 changed (6 fields)" in drift_diff
    assert "rotation_status: true -> false" in drift_diff
    assert "retention_days: 30 -> 7" in drift_diff
    assert re.search(
        r'ingress\[\]: added \{"cidrs": \["0\.0\.0\.0/0"\], "from_port": 5432', drift_diff
    )
    assert "default_settings.rate_limit: 500.0 -> null" in drift_diff

    # The sample output in the README shows the ids every run makes.
    shown = set(SHOWN_IDS.findall(_readme_section()))
    assert len(shown) == 4 and all(found in drifted for found in shown), shown

    drift_lines = [line for line in from_approved.splitlines() if "drift since approved" in line]
    assert len(drift_lines) == 6, from_approved
    assert "new FAIL" not in from_approved  # the previous scan had them: only the drift is new
    assert any("retention_days: 30 -> 7" in line for line in drift_lines)


def test_demo_comparison_without_history_is_refused_before_building(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never_built(**_: object) -> None:
        raise AssertionError("the account was built")

    monkeypatch.setattr(stack, "demo_account", never_built)
    assert run(["demo", "--drift", "--fail-on", "new"]) == 2
    assert run(["demo", "--drift-from", "approved"]) == 2
    assert "--history FILE" in capsys.readouterr().err
