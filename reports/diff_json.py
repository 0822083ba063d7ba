"""``driftscan diff --format json``: what changed between two scans, as one document.

Shape: ``reports/schemas/diff.schema.json`` (validated in tests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from scanner.model import ScanMetadata
from scanner.store.drift import Diff, FindingChange, ResourceKey

SCHEMA_VERSION = "1.0"


def _scan(meta: ScanMetadata, approved: bool) -> dict[str, Any]:
    return {
        "id": meta.scan_id,
        "started_at": meta.started_at,
        "finished_at": meta.finished_at,
        "account_ids": list(meta.account_ids),
        "regions": list(meta.regions),
        "baseline_digest": meta.baseline_digest,
        "approved": approved,
    }


def _finding(change: FindingChange, attribution: Mapping[str, Any] | None) -> dict[str, Any]:
    f = change.finding
    shown: dict[str, Any] = {
        "finding_id": f.finding_id,
        "check_id": f.check_id,
        "severity": f.severity.value,
        "account_id": f.account_id,
        "region": f.region,
        "resource_type": f.resource_type,
        "resource_id": f.resource_id,
        "resource_arn": f.resource_arn,
        "before": change.before.value if change.before else None,
        "after": change.after.value if change.after else None,
        "message": f.message,
    }
    if attribution is not None:
        shown["attribution"] = dict(attribution)
    return shown


def _resource(key: ResourceKey) -> dict[str, Any]:
    return {
        "account_id": key.account_id,
        "region": key.region,
        "collector": key.collector,
        "resource_id": key.resource_id,
    }


def document(diff: Diff) -> dict[str, Any]:
    findings, resources = diff.findings, diff.resources
    finding_lists = {
        "new_failures": findings.new_failures,
        "resolved": findings.resolved,
        "still_failing": findings.still_failing,
        "unverified": findings.unverified,
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "from": _scan(diff.before, diff.before_approved),
        "to": _scan(diff.after, False),
        "same_scope": diff.same_scope,
        "summary": {
            **{name: len(changes) for name, changes in finding_lists.items()},
            "appeared": len(resources.appeared),
            "disappeared": len(resources.disappeared),
            "changed": len(resources.changed),
        },
        "findings": {
            name: [
                _finding(change, diff.attributions.get(change.finding.finding_id))
                for change in changes
            ]
            for name, changes in finding_lists.items()
        },
        "resources": {
            "appeared": [_resource(key) for key in resources.appeared],
            "disappeared": [_resource(key) for key in resources.disappeared],
            "changed": [
                {
                    **_resource(change.resource),
                    "changes": [
                        {
                            "path": field.path,
                            "change": field.change.value,
                            "before": field.before,
                            "after": field.after,
                        }
                        for field in change.changes
                    ],
                }
                for change in resources.changed
            ],
        },
    }


def render(diff: Diff) -> str:
    return json.dumps(document(diff), indent=2) + "\n"
