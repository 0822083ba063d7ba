"""Request discipline: a full scan of the demo account makes exactly the requests the design
predicts, none twice, and the thread count does not change a finding."""

from __future__ import annotations

from collections import Counter

from scanner.config import build_plan, parse_baseline
from scanner.demo.base import DemoAccount
from scanner.demo.stack import DEMO_BASELINE, build_demo
from scanner.model import ScanResult
from scanner.runner import DEFAULT_WORKERS, run_scan
from scanner.session import AwsSession, SessionOptions

LISTINGS = (
    # One request each per region: every listing fits in one page in the demo account.
    "GetCallerIdentity",
    "ListKeys",
    "ListAliases",
    "DescribeFileSystems",
    "DescribeDBClusters",
    "DescribeDBInstances",
    "DescribeReplicationGroups",
    "DescribeCacheClusters",
    "ListStreams",
    "ListSecrets",
    "ListClusters",
    "DescribeClusters",  # ECS: up to 100 clusters a call
    "DescribeLogGroups",
    "GetRestApis",
    "GetUsagePlans",
    "DescribeVpcs",
    "DescribeSubnets",
    "DescribeRouteTables",
    "DescribeNatGateways",
    "DescribeSecurityGroups",
    "DescribeStacks",
)


def predicted_requests(account: DemoAccount) -> Counter[str]:
    """The requests a full scan needs, per operation, from the account's resource counts
    (read through the builder's own clients, not the scanner)."""
    kms = account.backend("kms")
    keys = list(kms.keys.values())
    rotatable = [
        key
        for key in keys
        if key.key_manager == "CUSTOMER"
        and key.key_state == "Enabled"
        and key.key_spec == "SYMMETRIC_DEFAULT"
    ]
    efs = account.client("efs")
    file_systems = [fs["FileSystemId"] for fs in efs.describe_file_systems()["FileSystems"]]
    mount_targets = sum(
        len(efs.describe_mount_targets(FileSystemId=fs)["MountTargets"]) for fs in file_systems
    )
    ecs = account.client("ecs")
    clusters = ecs.list_clusters()["clusterArns"]
    services = [
        service
        for cluster in clusters
        for service in ecs.describe_services(
            cluster=cluster, services=ecs.list_services(cluster=cluster)["serviceArns"]
        )["services"]
    ]
    task_definitions = {service["taskDefinition"] for service in services}
    roles = {
        ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["taskRoleArn"]
        for arn in task_definitions
    }
    iam = account.client("iam")
    role_names = [arn.rsplit("/", 1)[-1] for arn in roles]
    inline = sum(len(iam.list_role_policies(RoleName=r)["PolicyNames"]) for r in role_names)
    managed = sum(
        len(iam.list_attached_role_policies(RoleName=r)["AttachedPolicies"]) for r in role_names
    )
    apigateway = account.client("apigateway")
    apis = apigateway.get_rest_apis()["items"]
    plans = [p for p in apigateway.get_usage_plans()["items"] if p.get("apiStages")]
    streams = account.client("kinesis").list_streams()["StreamNames"]
    return Counter(
        {
            **dict.fromkeys(LISTINGS, 1),
            # KMS has no batch describe: one DescribeKey per key (by ARN, as listed and as
            # other services reference it), GetKeyRotationStatus only where rotation applies.
            "DescribeKey": len(keys),
            "GetKeyRotationStatus": len(rotatable),
            # EFS: mount targets and backup policy per file system, groups per mount target.
            "DescribeMountTargets": len(file_systems),
            "DescribeBackupPolicy": len(file_systems),
            "DescribeMountTargetSecurityGroups": mount_targets,
            "DescribeStreamSummary": len(streams),
            # ECS: services per cluster (up to 10 described a call), each task definition once.
            "ListServices": len(clusters),
            "DescribeServices": len(clusters),
            "DescribeTaskDefinition": len(task_definitions),
            # IAM: each task role once, each of its policies once.
            "GetRole": len(roles),
            "ListRolePolicies": len(roles),
            "ListAttachedRolePolicies": len(roles),
            "GetRolePolicy": inline,
            "GetPolicy": managed,
            "GetPolicyVersion": managed,
            # API Gateway: stages and routes per API, keys of plans that cover a stage.
            "GetStages": len(apis),
            "GetResources": len(apis),
            "GetUsagePlanKeys": len(plans),
        }
    )


def _full_scan(
    account: DemoAccount, workers: int = DEFAULT_WORKERS
) -> tuple[ScanResult, AwsSession]:
    plan = build_plan(parse_baseline(DEMO_BASELINE), regions=[account.region], workers=workers)
    session = AwsSession(SessionOptions())
    return run_scan(plan, session), session


def test_full_scan_makes_exactly_the_predicted_requests_none_twice(account: DemoAccount) -> None:
    build_demo(account)
    _, session = _full_scan(account)

    assert session.requests.duplicates() == {}
    made = Counter(operation for _, operation, _ in session.requests.calls)
    predicted = predicted_requests(account)
    assert made == predicted, {
        op: (made[op], predicted[op]) for op in made | predicted if made[op] != predicted[op]
    }
    assert sum(made.values()) == sum(predicted.values())


def _comparable(result: ScanResult) -> list[tuple[object, ...]]:
    return [
        (f.finding_id, f.status, f.message, tuple(sorted(f.evidence.items(), key=str)))
        for f in result.findings
    ]


def test_one_worker_and_the_default_find_the_same(account: DemoAccount) -> None:
    build_demo(account)
    serial, _ = _full_scan(account, workers=1)
    concurrent, _ = _full_scan(account)

    assert len(serial.findings) > 50
    assert _comparable(serial) == _comparable(concurrent)
    assert serial.resources == concurrent.resources
