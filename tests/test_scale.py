"""Request discipline: a full scan of the demo account makes exactly the requests the design
predicts, none twice, and the thread count does not change a finding."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from scanner.app.config import build_plan, parse_baseline
from scanner.demo.base import DemoAccount
from scanner.demo.ecs import make_cluster, make_service, make_task_definition
from scanner.demo.iam import make_role, scoped_policy
from scanner.demo.kinesis import make_stream
from scanner.demo.kms import make_key
from scanner.demo.stack import DEMO_BASELINE, build_demo
from scanner.engine.runner import DEFAULT_WORKERS, run_scan
from scanner.engine.session import (
    DEFAULT_IN_FLIGHT,
    IN_FLIGHT,
    AwsSession,
    SessionOptions,
    in_flight_limit,
)
from scanner.model import ScanResult, Status

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
    caches = account.client("elasticache").describe_replication_groups()["ReplicationGroups"]
    log_groups = account.client("logs").describe_log_groups()["logGroups"]
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
            # tagging.environment_suffix judges Name tags: where listings carry no tags, a
            # call per cache, log group and stream.
            "ListTagsForResource": len(caches) + len(log_groups),
            "ListTagsForStream": len(streams),
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
    made = Counter(call.operation for call in session.requests.calls)
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


def test_no_service_has_more_requests_in_flight_than_its_limit(account: DemoAccount) -> None:
    key = make_key(account)
    for index in range(30):
        make_key(account, rotation=index % 2 == 0)
    for _ in range(12):
        make_stream(account, encryption="cmk", key_arn=key)
    plan = build_plan(
        parse_baseline(DEMO_BASELINE),
        regions=[account.region],
        check_ids=["kms.cmk_rotation_enabled", "kinesis.stream_encrypted_with_cmk"],
        workers=16,
    )
    session = AwsSession(SessionOptions(max_in_flight=4))
    in_flight: Counter[str] = Counter()
    most: Counter[str] = Counter()
    lock = threading.Lock()

    def sent(model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        with lock:
            in_flight[service] += 1
            most[service] = max(most[service], in_flight[service])
        time.sleep(0.01)  # a slow answer, so that requests pile up behind the limit

    def answered(model: Any, **_: Any) -> None:
        with lock:
            in_flight[model.service_model.service_name] -= 1

    session.boto_session.events.register("before-call.*.*", sent)
    session.boto_session.events.register("after-call.*.*", answered)
    result = run_scan(plan, session)

    assert result.count(Status.ERROR) == 0 and len(result.findings) == 31 + 12
    assert most["kms"] == 4  # 16 threads, 62 per-key reads: the limit, and no more
    assert all(most[service] <= in_flight_limit(service, 4) for service in most), most
    assert in_flight_limit("kinesis") == IN_FLIGHT["kinesis"] < in_flight_limit("ec2")
    assert in_flight_limit("ec2") == DEFAULT_IN_FLIGHT


def test_a_role_used_in_two_regions_is_read_once(account: DemoAccount) -> None:
    west = DemoAccount(region="us-west-2")
    role = make_role(west, name="shared-task", inline_policy=scoped_policy())
    for region_account in (account, west):
        definition = make_task_definition(
            region_account, family="app", execution_role=False, task_role_arn=role
        )
        make_service(region_account, make_cluster(region_account), definition)
    plan = build_plan(
        parse_baseline(DEMO_BASELINE),
        regions=[account.region, west.region],
        check_ids=["iam.task_role_least_privilege"],
    )
    session = AwsSession(SessionOptions())

    result = run_scan(plan, session)

    judged = {(f.region, f.resource_id, f.status) for f in result.findings}
    assert judged == {(region, "shared-task", Status.PASS) for region in plan.regions}
    assert session.requests.duplicates() == {}
    made = Counter(call.operation for call in session.requests.calls)
    assert made["GetRole"] == made["GetRolePolicy"] == 1
