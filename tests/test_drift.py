"""Diffs of two scans: finding transitions, field-level configuration changes, the JSON
document against its schema, and the issue's end-to-end case in a moto account."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reports import diff_json, diff_table
from scanner.cli import run
from scanner.demo.base import DemoAccount
from scanner.demo.kms import make_key
from scanner.demo.network import make_security_group, tcp_from_cidrs, tcp_from_groups
from scanner.model import Status
from scanner.store.drift import (
    Change,
    FieldChange,
    ResourceKey,
    changed_failures,
    compare_configs,
    compare_findings,
    compare_resources,
    diff,
    flatten,
    problems,
)
from scanner.store.location import HistoryLocation
from tests.pg import history_arg
from tests.test_history import ACCOUNT, finding, result, snapshot

RDS_RETENTION_FIELD = "backup_retention_days"
"""The rds.clusters record's field for BackupRetentionPeriod."""

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "reports" / "schemas" / "diff.schema.json").read_text()
)


def ids(changes: Any) -> list[str]:
    return [change.finding.resource_id for change in changes]


def test_finding_transitions() -> None:
    before = [
        finding("still", Status.FAIL),
        finding("fixed", Status.FAIL),
        finding("muted", Status.FAIL),
        finding("deleted", Status.FAIL),
        finding("now-error", Status.FAIL, check_id="kinesis.retention_period"),
        finding("was-pass", Status.PASS),
        finding("was-error", Status.ERROR),
        finding("gone-while-erring", Status.FAIL, check_id="efs.backup_policy_enabled"),
    ]
    after = [
        finding("still", Status.FAIL),
        finding("fixed", Status.PASS),
        finding("muted", Status.MUTED),  # a suppression accepts it
        finding("now-error", Status.ERROR, check_id="kinesis.retention_period"),
        finding("was-pass", Status.FAIL),
        finding("was-error", Status.FAIL),
        finding("brand-new", Status.FAIL),
        finding("*", Status.ERROR, check_id="efs.backup_policy_enabled"),  # listing failed
    ]

    found = compare_findings(iter(before), iter(after))  # each side read once, as streamed

    assert ids(found.new_failures) == ["brand-new", "was-error", "was-pass"]
    assert [(c.before, c.after) for c in found.new_failures] == [
        (None, Status.FAIL),
        (Status.ERROR, Status.FAIL),
        (Status.PASS, Status.FAIL),
    ]
    assert ids(found.resolved) == ["deleted", "fixed", "muted"]
    assert ids(found.still_failing) == ["still"]
    # Unreadable evidence never counts as resolved.
    assert ids(found.unverified) == ["gone-while-erring", "now-error"]


def test_a_failure_whose_evidence_changed_is_a_changed_failure() -> None:
    before = [finding("same", Status.FAIL), finding("wider", Status.FAIL)]
    wider = finding("wider", Status.FAIL)
    after = [
        finding("same", Status.FAIL),
        replace(wider, message="5432 open to 0.0.0.0/0 and ::/0", evidence={"cidrs": 2}),
    ]

    found = compare_findings(before, after)

    assert ids(found.still_failing) == ["same", "wider"]
    assert ids(changed_failures(before, found.still_failing)) == ["wider"]


def test_flatten_nests_mappings_into_dotted_paths() -> None:
    assert flatten({"a": {"b": {"c": 1}, "d": [1, {"e": 2}]}, "f": {}, "g": None}) == {
        "a.b.c": 1,
        "a.d": [1, {"e": 2}],
        "f": {},
        "g": None,
    }


def test_field_changes_and_lists_compared_as_multisets() -> None:
    rule = {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidrs": []}
    world = {**rule, "cidrs": ["0.0.0.0/0"]}
    before = {
        "state": "Enabled",
        "policy": {"rotation": True, "days": 90},
        "ingress": [rule],
        "tags": ["a", "b"],
        "gone": 1,
    }
    after = {
        "state": "Disabled",
        "policy": {"rotation": False, "days": 90},
        "ingress": [world, rule],
        "tags": ["b", "a"],
        "new": None,
    }

    assert compare_configs(before, after) == (
        FieldChange(path="gone", change=Change.REMOVED, before=1),
        FieldChange(path="ingress[]", change=Change.ADDED, after=world),
        FieldChange(path="new", change=Change.ADDED, after=None),
        FieldChange(path="policy.rotation", change=Change.CHANGED, before=True, after=False),
        FieldChange(path="state", change=Change.CHANGED, before="Enabled", after="Disabled"),
    )
    assert compare_configs(before, before) == ()
    assert str(compare_configs({"r": True}, {"r": False})[0]) == "r: true -> false"


def test_resources_appear_disappear_and_change() -> None:
    before = [snapshot("kept", state="Enabled"), snapshot("removed", state="Enabled")]
    after = [snapshot("kept", state="Disabled"), snapshot("added", state="Enabled")]

    found = compare_resources(before, after)

    key = ResourceKey(
        account_id=ACCOUNT, region="us-east-1", collector="kms.keys", resource_id="added"
    )
    assert found.appeared == (key,)
    assert [k.resource_id for k in found.disappeared] == ["removed"]
    (changed,) = found.changed
    assert changed.resource.resource_id == "kept"
    assert [str(c) for c in changed.changes] == ['state: "Enabled" -> "Disabled"']
    assert len(found) == 3


def test_problem_lines_name_resource_region_and_account() -> None:
    findings = compare_findings([], [finding("key-1", Status.FAIL)])
    drifted = compare_resources(
        [snapshot("key-1", state="Enabled")], [snapshot("key-1", state="Disabled")]
    )

    lines = list(problems(findings.new_failures, drifted, "approved scan 1234abcd"))

    assert [p.message for p in lines] == [
        f"new FAIL: high kms.cmk_rotation_enabled key-1 ({ACCOUNT} us-east-1): key-1 is FAIL",
        f"drift since approved scan 1234abcd: kms.keys key-1 ({ACCOUNT} us-east-1): "
        'state: "Enabled" -> "Disabled"',
    ]
    assert lines[1].fields == {
        "account_id": ACCOUNT,
        "region": "us-east-1",
        "collector": "kms.keys",
        "resource_id": "key-1",
        "path": "state",
        "change": "changed",
        "before": "Enabled",
        "after": "Disabled",
    }


def test_diff_renders_as_json_valid_against_its_schema_and_as_a_table() -> None:
    before = result(
        "aaaaaaaa-1",
        [finding("key-1", Status.PASS), finding("key-2", Status.FAIL)],
        [snapshot("key-1", rotation=True), snapshot("key-2", rotation=False)],
    )
    after = result(
        "bbbbbbbb-2",
        [finding("key-1", Status.FAIL), finding("key-2", Status.ERROR)],
        [snapshot("key-1", rotation=False), snapshot("key-3", rotation=True)],
        digest="sha256:other",
    )

    found = diff(before, after, before_approved=True)
    document = json.loads(diff_json.render(found))
    jsonschema.validate(document, SCHEMA)

    assert document["from"]["approved"] and not document["to"]["approved"]
    assert document["same_scope"] is False
    assert document["summary"] == {
        "new_failures": 1,
        "resolved": 0,
        "still_failing": 0,
        "unverified": 1,
        "appeared": 1,
        "disappeared": 1,
        "changed": 1,
    }
    assert document["resources"]["changed"][0]["changes"] == [
        {"path": "rotation", "change": "changed", "before": True, "after": False}
    ]
    table = diff_table.render(found)
    assert table.startswith("scan aaaaaaaa (2030-01-01T00:00:00Z, approved) -> scan bbbbbbbb")
    assert "note: the scans differ in accounts, regions or baseline" in table
    assert "rotation: true -> false" in table
    assert table.rstrip().endswith(
        "1 new failure, 0 resolved, 0 still failing, 1 not re-checked; 1 resource appeared, "
        "1 disappeared, 1 changed (1 field)"
    )


def test_schema_rejects_what_diff_never_writes() -> None:
    same = result("a", [finding("k", Status.FAIL)])
    document = json.loads(diff_json.render(diff(same, same)))
    jsonschema.validate(document, SCHEMA)
    document["findings"]["still_failing"][0]["after"] = "BROKEN"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


# --- the case: scan, change three resources, scan again, diff -------------------------

CHECKS = "kms.cmk_rotation_enabled,ec2.datastore_sg_least_privilege,rds.backup_retention"


def test_scan_change_scan_diff_lists_exactly_the_changes(
    account: DemoAccount, history: HistoryLocation, capsys: pytest.CaptureFixture[str]
) -> None:
    key_arn = make_key(account, rotation=True)
    key_id = key_arn.split("/")[-1]
    vpc_id = account.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    app_sg = make_security_group(account, vpc_id, name="app")
    db_sg = make_security_group(account, vpc_id, name="db", ingress=[tcp_from_groups(5432, app_sg)])
    rds = account.client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier="prod-db",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="password1",
        BackupRetentionPeriod=14,
        Port=5432,
        VpcSecurityGroupIds=[db_sg],
        StorageEncrypted=True,
        KmsKeyId=key_arn,
    )
    scan_argv = [
        "scan",
        "-r",
        "us-east-1",
        "--checks",
        CHECKS,
        "--history",
        history_arg(history),
        "--fail-on",
        "new",
        "--quiet",
    ]

    assert run(scan_argv) == 0  # every control passes: nothing new
    assert capsys.readouterr().out == ""

    account.client("kms").disable_key_rotation(KeyId=key_id)
    world = tcp_from_cidrs(22, "0.0.0.0/0")
    account.client("ec2").authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[world])
    rds.modify_db_cluster(
        DBClusterIdentifier="prod-db", BackupRetentionPeriod=1, ApplyImmediately=True
    )

    assert run(scan_argv) == 1
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split(" (")[0] for line in lines) == [
        f"new FAIL: high ec2.datastore_sg_least_privilege {db_sg}",
        f"new FAIL: high kms.cmk_rotation_enabled {key_id}",
        "new FAIL: medium rds.backup_retention prod-db",
    ]

    assert run(["diff", "--history", history_arg(history), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, SCHEMA)
    assert sorted(
        (f["check_id"], f["resource_id"], f["before"], f["after"])
        for f in document["findings"]["new_failures"]
    ) == [
        ("ec2.datastore_sg_least_privilege", db_sg, "PASS", "FAIL"),
        ("kms.cmk_rotation_enabled", key_id, "PASS", "FAIL"),
        ("rds.backup_retention", "prod-db", "PASS", "FAIL"),
    ]
    assert document["summary"] == {
        "new_failures": 3,
        "resolved": 0,
        "still_failing": 0,
        "unverified": 0,
        "appeared": 0,
        "disappeared": 0,
        "changed": 3,
    }
    changed = {
        (c["collector"], c["resource_id"], c["account_id"], c["region"]): c["changes"]
        for c in document["resources"]["changed"]
    }
    where = (ACCOUNT, "us-east-1")
    rule = {
        "protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "cidrs": ["0.0.0.0/0"],
        "source_group_ids": [],
        "prefix_list_ids": [],
    }
    assert changed == {
        ("kms.rotation_status", key_id, *where): [
            {"path": "rotation_status", "change": "changed", "before": True, "after": False}
        ],
        ("ec2.security_groups", db_sg, *where): [
            {"path": "ingress[]", "change": "added", "before": None, "after": rule}
        ],
        ("rds.clusters", "prod-db", *where): [
            {"path": RDS_RETENTION_FIELD, "change": "changed", "before": 14, "after": 1}
        ],
    }

    assert run(scan_argv) == 0  # a third, unchanged scan: nothing new, nothing printed
    assert capsys.readouterr().out == ""


def test_drift_from_approved_reports_every_change_since(
    account: DemoAccount, history: HistoryLocation, capsys: pytest.CaptureFixture[str]
) -> None:
    key_id = make_key(account, rotation=True).split("/")[-1]
    scan_argv = [
        "scan",
        "-r",
        "us-east-1",
        "--checks",
        "kms.cmk_rotation_enabled",
        "--history",
        history_arg(history),
        "--fail-on",
        "new",
        "--quiet",
    ]
    assert run([*scan_argv, "--drift-from", "approved"]) == 2
    assert "no approved snapshot for account 123456789012" in capsys.readouterr().err
    assert run(["snapshot", "approve", "--history", history_arg(history)]) == 0
    assert "approved scan" in capsys.readouterr().out
    account.client("kms").disable_key_rotation(KeyId=key_id)
    new_key = make_key(account, rotation=True).split("/")[-1]
    scan_argv += ["--drift-from", "approved", "--log-format", "json"]

    for _ in range(2):  # still drifted on a second scan: drift is against the approved state
        assert run(scan_argv) == 1
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert sorted(
            (e["event"], e["collector"], e["resource_id"])
            for e in events
            if e["event"] != "new_failure"
        ) == sorted(
            [
                ("configuration_changed", "kms.rotation_status", key_id),
                ("resource_appeared", "kms.keys", new_key),
                ("resource_appeared", "kms.rotation_status", new_key),
            ]
        )
        assert all(e["level"] == "warning" and e["message"] and e["time"] for e in events)

    assert run(["diff", "--from", "approved", "--history", history_arg(history)]) == 0
    table = capsys.readouterr().out
    assert f"kms.rotation_status  {key_id}" in table
    assert "rotation_status: true -> false" in table
    assert "== resources appeared (2) ==" in table
