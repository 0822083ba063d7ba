"""ec2.datastore_sg_least_privilege."""

from __future__ import annotations

from dataclasses import replace

from scanner.demo.base import DemoAccount
from scanner.demo.efs import make_file_system
from scanner.demo.elasticache import make_replication_group
from scanner.demo.network import make_security_group, make_vpc, tcp_from_cidrs, tcp_from_groups
from scanner.demo.rds import make_aurora_cluster
from scanner.engine.records import ec2, efs, elasticache, rds
from scanner.model import Status
from tests.checks.judge import by_resource, judge, unreadable
from tests.factories import (
    cache_clusters,
    cluster,
    mount_target,
    replication_group,
    security_group,
    tcp,
)
from tests.helpers import expect, findings_of

CHECK = "ec2.datastore_sg_least_privilege"
ALL_TRAFFIC = ec2.IngressRule(protocol="-1", from_port=None, to_port=None, cidrs=("10.0.0.0/8",))


def test_datastore_groups_admit_only_the_stores_port_from_groups() -> None:
    group = replication_group("redis", members=1)
    [member] = cache_clusters(group)
    nfs_targets = [
        replace(mount_target(f"fsmt-{n}"), security_group_ids=("sg-nfs",)) for n in (1, 2)
    ]
    found = judge(
        CHECK,
        {
            ec2.security_groups: [
                security_group("sg-db", "db", tcp(5432, "sg-app")),
                security_group("sg-cache", "cache", tcp(6379, "0.0.0.0/0")),
                security_group("sg-nfs", "nfs", tcp(22, "sg-app")),
                security_group("sg-wide", "wide", tcp(5432, "10.0.0.0/16"), ALL_TRAFFIC),
                security_group("sg-loose", "loose", tcp(22, "0.0.0.0/0")),  # no store's
            ],
            rds.clusters: [
                cluster("main", security_group_ids=("sg-db",)),
                cluster("other", security_group_ids=("sg-wide", "sg-gone")),
            ],
            elasticache.replication_groups: [
                group,
                unreadable(replication_group("hidden").ref, "replication group tags"),
            ],
            elasticache.cache_clusters: [replace(member, security_group_ids=("sg-cache",))],
            efs.mount_target_security_groups: nfs_targets,
        },
    )

    expect(
        by_resource(found),
        {
            "sg-db": (
                Status.PASS,
                "sg-db (db) in front of DB cluster main (port 5432) admits only the store's "
                "port from security groups",
            ),
            "sg-cache": (
                Status.FAIL,
                "sg-cache (cache) in front of cache redis (port 6379) admits tcp 6379 from "
                "0.0.0.0/0 (open to the world)",
            ),
            "sg-nfs": (
                Status.FAIL,
                "sg-nfs (nfs) in front of EFS fs-1 (port 2049) admits tcp 22 from sg-app "
                "(not the store's port)",
            ),
            "sg-wide": (
                Status.FAIL,
                "tcp 5432 from 10.0.0.0/16 (admits a CIDR range); all traffic from 10.0.0.0/8 "
                "(all traffic)",
            ),
            "sg-gone": (
                Status.ERROR,
                "could not read the security group: NotFound on ec2:DescribeSecurityGroups: "
                "sg-gone (used by DB cluster other (port 5432)) was not listed",
            ),
            "hidden": (Status.ERROR, "could not read replication group tags: AccessDenied"),
        },
    )
    assert by_resource(found)["sg-db"].evidence == {
        "AttachedTo": "DB cluster main (port 5432)",
        "Ingress": ["tcp 5432 from sg-app"],
    }


# --- moto: what the collectors read ---------------------------------------------------------


def test_datastore_sg_least_privilege_in_moto(account: DemoAccount) -> None:
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
