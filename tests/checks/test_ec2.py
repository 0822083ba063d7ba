"""ec2.datastore_sg_least_privilege."""

from __future__ import annotations

from scanner.demo.base import DemoAccount
from scanner.demo.efs import make_file_system
from scanner.demo.elasticache import make_replication_group
from scanner.demo.network import make_security_group, make_vpc, tcp_from_cidrs, tcp_from_groups
from scanner.demo.rds import make_aurora_cluster
from scanner.engine.inventory import Scope
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Status
from tests.helpers import expect, fail_operation, findings_of, scan

CHECK = "ec2.datastore_sg_least_privilege"


def test_datastore_sg_least_privilege(account: DemoAccount) -> None:
    vpc = make_vpc(account, azs=2, nat=False)
    app = make_security_group(account, vpc.vpc_id, name="app")
    db = make_security_group(account, vpc.vpc_id, name="db", ingress=[tcp_from_groups(5432, app)])
    cache = make_security_group(
        account, vpc.vpc_id, name="cache", ingress=[tcp_from_cidrs(6379, "0.0.0.0/0")]
    )
    nfs = make_security_group(account, vpc.vpc_id, name="nfs", ingress=[tcp_from_groups(22, app)])
    unattached = make_security_group(
        account, vpc.vpc_id, name="loose", ingress=[tcp_from_cidrs(22, "0.0.0.0/0")]
    )
    cluster = make_aurora_cluster(account, security_group_ids=[db], instance_azs=()).cluster_id
    group = make_replication_group(account, security_group_ids=[cache])
    file_system = make_file_system(
        account, subnet_ids=vpc.private_subnet_ids[:1], security_group_ids=[nfs]
    )

    found = findings_of(account, CHECK)

    assert unattached not in found  # in front of no data store: not judged
    expect(
        found,
        {
            db: (
                Status.PASS,
                f"{db} (db) in front of DB cluster {cluster} (port 5432) admits only the "
                "store's port from security groups",
            ),
            cache: (Status.FAIL, f"{cache} (cache) in front of cache {group} (port 6379) admits"),
            nfs: (Status.FAIL, f"{nfs} (nfs) in front of EFS {file_system} (port 2049) admits"),
        },
    )
    assert "0.0.0.0/0" in found[cache].message
    assert "22" in found[nfs].message


def test_a_store_whose_details_cannot_be_read_is_error(account: DemoAccount) -> None:
    vpc = make_vpc(account, azs=2, nat=False)
    cache = make_security_group(account, vpc.vpc_id, name="cache")
    group = make_replication_group(account, security_group_ids=[cache], tags={"env": "prod"})
    session = AwsSession(SessionOptions())
    fail_operation(session, "elasticache", "ListTagsForResource")

    result = scan(account, CHECK, scope=Scope(tags={"env": "prod"}), session=session)

    [finding] = [f for f in result.findings if f.resource_id == group]
    assert finding.status is Status.ERROR
    assert finding.message.startswith(
        "could not read replication group tags: AccessDeniedException"
    )
