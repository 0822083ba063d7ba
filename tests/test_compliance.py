"""Compliance mappings: declared by every control, well formed, and a few known by heart."""

from __future__ import annotations

import json
import re

import pytest

from scanner.app.config import Baseline, build_plan
from scanner.cli import run
from scanner.engine.compliance import (
    CIS_ID,
    KMS_4,
    NIST_ID,
    RDS_2,
    RDS_7,
    SECURITY_HUB_ID,
    Compliance,
    Framework,
    SecurityHubControl,
)
from scanner.engine.registry import all_checks, check, checks_evidencing, compliance_of, get_check
from scanner.model import Severity

SECURITY_HUB_PAGE = re.compile(
    r"^https://docs\.aws\.amazon\.com/securityhub/latest/userguide/[a-z0-9]+-controls\.html#"
)


def test_a_control_that_declares_no_compliance_is_refused() -> None:
    with pytest.raises(TypeError, match="compliance"):
        check(  # type: ignore[call-arg]
            id="test.undeclared",
            severity=Severity.LOW,
            title="t",
            description="d",
            remediation="r",
            reads=[],
        )


def test_every_control_maps_to_security_hub_or_says_why_not() -> None:
    for spec in all_checks():
        compliance = spec.compliance
        assert isinstance(compliance, Compliance), spec.id
        assert bool(compliance.controls) != bool(compliance.none_because), spec.id
        if compliance.none_because:
            assert len(compliance.none_because) > 10, f"{spec.id}: say why none matches"


@pytest.mark.parametrize(
    "declaration",
    [
        {},
        {"same_as": (RDS_2,), "none_because": "both"},
        {"same_as": (RDS_2,), "stricter_than": (RDS_2,)},
    ],
)
def test_a_declaration_is_a_mapping_or_a_reason_exactly_once(
    declaration: dict[str, object],
) -> None:
    with pytest.raises(ValueError):
        Compliance(**declaration)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "KMS-4"), ("id", "kms4"), ("nist_800_53", ("SC12",)), ("cis", ("3",))],
)
def test_malformed_ids_are_refused(field: str, value: object) -> None:
    declared: dict[str, object] = {
        "id": "KMS.4",
        "title": "t",
        "resource_types": ("AWS::KMS::Key",),
        "fsbp": False,
        "source": "https://example.com",
        field: value,
    }
    with pytest.raises(ValueError, match="malformed"):
        SecurityHubControl(**declared)  # type: ignore[arg-type]


def test_every_mapped_id_is_well_formed_and_cites_its_security_hub_page() -> None:
    for spec in all_checks():
        for control in spec.compliance.controls:
            assert SECURITY_HUB_ID.match(control.id), control.id
            anchor = control.id.lower().replace(".", "-")
            assert SECURITY_HUB_PAGE.match(control.source), control.source
            assert control.source.endswith(f"#{anchor}"), (control.id, control.source)
            assert control.title and control.resource_types, control.id
            assert all(NIST_ID.match(n) for n in control.nist_800_53), control.id
            assert all(CIS_ID.match(c) for c in control.cis), control.id


def test_related_requirements_fit_asffs_limit_of_32() -> None:
    for spec in all_checks():
        assert len(spec.compliance.requirements()) <= 32, spec.id


def test_key_rotation_is_security_hub_kms_4_which_fsbp_does_not_include() -> None:
    compliance = get_check("kms.cmk_rotation_enabled").compliance
    assert compliance.same_as == (KMS_4,)
    assert compliance.security_hub == ("KMS.4",)
    assert compliance.fsbp == ()  # KMS.4 is in the CIS and NIST standards, not FSBP
    assert compliance.nist_800_53 == ("SC-12", "SC-12(2)", "SC-28(3)")
    assert compliance.cis == ("3.6",)
    assert compliance.control_for("AWS::KMS::Key") == "KMS.4"


def test_known_fsbp_mappings() -> None:
    public = compliance_of("rds.not_publicly_accessible")
    assert (public.fsbp, public.cis) == (("RDS.2",), ("2.2.3",))
    assert "SC-7" in public.nist_800_53
    assert compliance_of("secretsmanager.rotation_enabled").fsbp == ("SecretsManager.1",)
    assert compliance_of("ecs.container_insights_enabled").fsbp == ("ECS.12",)
    assert compliance_of("apigateway.stage_execution_logging").fsbp == ("APIGateway.1",)
    assert compliance_of("efs.backup_policy_enabled").fsbp == ("EFS.7",)


def test_the_security_hub_control_of_a_finding_follows_its_resource_type() -> None:
    deletion = compliance_of("rds.deletion_protection")
    assert deletion.same_as[0] is RDS_7
    assert deletion.control_for("AWS::RDS::DBCluster") == "RDS.7"
    assert deletion.control_for("AWS::RDS::DBInstance") == "RDS.8"
    assert deletion.control_for("AWS::::Account") is None  # an unreachable account's ERROR


def test_a_stricter_control_evidences_but_never_claims_to_be_the_result() -> None:
    cmk = compliance_of("rds.storage_encrypted_with_cmk")
    assert cmk.fsbp == ("RDS.3", "RDS.27")
    assert cmk.control_for("AWS::RDS::DBInstance") is None
    assert "AWS Foundational Security Best Practices v1.0.0/RDS.3" in cmk.requirements()
    assert cmk.note


def test_no_mapping_is_guessed_where_none_matches() -> None:
    for check_id in ("kms.key_in_use_enabled", "rds.log_exports", "vpc.nat_gateway_per_az"):
        compliance = compliance_of(check_id)
        assert compliance.none_because
        assert compliance.requirements() == ()
        assert compliance.as_dict() == {
            "security_hub": [],
            "fsbp": [],
            "nist_800_53": [],
            "cis": [],
        }


def test_a_control_this_version_does_not_register_evidences_nothing() -> None:
    assert compliance_of("gone.control").requirements() == ()


def test_requirements_are_spelt_as_security_hub_spells_them() -> None:
    assert compliance_of("rds.not_publicly_accessible").requirements()[:2] == (
        "AWS Foundational Security Best Practices v1.0.0/RDS.2",
        "NIST.800-53.r5 AC-4",
    )
    assert compliance_of("rds.not_publicly_accessible").requirements()[-1] == (
        "CIS AWS Foundations Benchmark v5.0.0/2.2.3"
    )


def test_nist_ids_sort_naturally() -> None:
    nist = compliance_of("rds.not_publicly_accessible").nist_800_53
    assert nist.index("SC-7(5)") < nist.index("SC-7(11)")


@pytest.mark.parametrize("framework", list(Framework))
def test_controls_evidencing_a_framework(framework: Framework) -> None:
    selected = {spec.id for spec in checks_evidencing(framework)}
    expected = {
        Framework.FSBP: "rds.not_publicly_accessible",
        Framework.CIS: "kms.cmk_rotation_enabled",
        Framework.NIST_800_53: "logs.retention_set",
    }[framework]
    assert expected in selected
    assert "vpc.nat_gateway_per_az" not in selected
    assert ("kms.cmk_rotation_enabled" in selected) == (framework is not Framework.FSBP)


def test_checks_show_lines_name_the_source() -> None:
    lines = compliance_of("kms.cmk_rotation_enabled").lines()
    assert lines[0] == (
        "same requirement as Security Hub KMS.4 (not in FSBP): AWS KMS key rotation should be"
        " enabled"
    )
    assert lines[-1] == (
        "source: https://docs.aws.amazon.com/securityhub/latest/userguide/kms-controls.html#kms-4"
    )
    assert compliance_of("vpc.nat_gateway_per_az").lines()[0].startswith("none: ")


# --- scan --compliance, checks list and checks show ----------------------------------------


def test_compliance_selection_intersects_the_other_selectors() -> None:
    plan = build_plan(
        Baseline(), framework=Framework.CIS, service_names=["rds"], default_region="us-east-1"
    )
    assert [spec.id for spec in plan.checks] == [
        spec.id for spec in checks_evidencing(Framework.CIS) if spec.service == "rds"
    ]
    assert "rds.cluster_multi_az" in [spec.id for spec in plan.checks]
    named = build_plan(
        Baseline(),
        framework=Framework.FSBP,
        check_ids=["kms.cmk_rotation_enabled", "rds.not_publicly_accessible"],
        default_region="us-east-1",
    )
    assert [spec.id for spec in named.checks] == ["rds.not_publicly_accessible"]


@pytest.mark.parametrize(
    "argv",
    [
        ["iam-policy", "--compliance", "cis", "--services", "secretsmanager"],
        ["scan", "-r", "us-east-1", "--compliance", "fsbp", "--checks", "kms.cmk_rotation_enabled"],
        ["demo", "--compliance", "nist-800-53", "--checks", "vpc.nat_gateway_per_az"],
    ],
)
def test_a_compliance_selection_left_empty_exits_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "driftscan: no control selected: check --checks, --services, --severity and --compliance"
    ]


def test_iam_policy_covers_only_the_frameworks_controls(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["iam-policy", "--compliance", "cis"]) == 0
    actions = {a for s in json.loads(capsys.readouterr().out)["Statement"] for a in s["Action"]}
    assert "kms:GetKeyRotationStatus" in actions  # kms.cmk_rotation_enabled: CIS 3.6
    assert "ecs:DescribeClusters" not in actions  # ECS.12 is in no CIS item


def test_checks_list_filters_by_framework_and_shows_it_when_wide(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["checks", "list", "--compliance", "cis", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed] == [s.id for s in checks_evidencing(Framework.CIS)]
    rotation = next(c for c in listed if c["id"] == "kms.cmk_rotation_enabled")
    assert rotation["compliance"] == {
        "security_hub": ["KMS.4"],
        "fsbp": [],
        "nist_800_53": ["SC-12", "SC-12(2)", "SC-28(3)"],
        "cis": ["3.6"],
    }
    assert run(["checks", "list"]) == 0
    assert "frameworks" not in capsys.readouterr().out.splitlines()[0]
    assert run(["checks", "list", "--wide", "--services", "kms"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[-1] == "frameworks"
    assert "Security Hub KMS.4; CIS 3.6; NIST (3)" in out


def test_checks_show_has_a_frameworks_section_with_its_sources(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["checks", "show", "rds.not_publicly_accessible"]) == 0
    lines = capsys.readouterr().out.splitlines()
    section = lines[lines.index("Frameworks:") + 1 :]
    assert section[0] == (
        "  same requirement as Security Hub RDS.2 (FSBP): RDS DB Instances should prohibit"
        " public access, as determined by the PubliclyAccessible configuration"
    )
    assert "  CIS AWS Foundations v5.0.0: 2.2.3" in section
    assert (
        "  source: https://docs.aws.amazon.com/securityhub/latest/userguide/rds-controls.html#rds-2"
        in section
    )


def test_demo_scan_runs_only_the_frameworks_controls(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["demo", "--compliance", "cis", "--services", "kms,rds", "-f", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    expected = [s.id for s in checks_evidencing(Framework.CIS) if s.service in ("kms", "rds")]
    assert document["scan"]["checks"] == expected
    assert {f["check_id"] for f in document["findings"]} == set(expected)
