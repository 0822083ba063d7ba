"""vpc.nat_gateway_per_az, the private-subnet rule (ec2.network) and ec2.security_groups."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from scanner.demo.base import DemoAccount
from scanner.demo.network import (
    make_default_vpc_public,
    make_security_group,
    make_vpc,
    reference_network,
    tcp_from_cidrs,
    tcp_from_groups,
)
from scanner.engine.inventory import Inventory, Scope
from scanner.engine.records import ec2
from scanner.engine.session import AwsSession, SessionOptions
from scanner.model import Finding, ReadError, Status
from tests.checks.judge import by_resource, denied, judge, verdicts
from tests.factories import AZS, VpcLayout, network_of, route_table, vpc_layout
from tests.helpers import expect, findings_of, scan

CHECK = "vpc.nat_gateway_per_az"


@pytest.fixture
def net(account: DemoAccount) -> DemoAccount:
    """The account with moto's default VPC made public as in AWS (so it is not judged)."""
    make_default_vpc_public(account)
    return account


def inventory(account: DemoAccount, session: AwsSession | None = None) -> Inventory:
    return Inventory(
        session or AwsSession(SessionOptions()),
        account_id=account.account_id,
        region=account.region,
        scope=Scope(),
    )


A, B = AZS


def judged(*layouts: VpcLayout, **params: Any) -> dict[str, Finding]:
    return by_resource(judge(CHECK, network_of(*layouts), **params))


def test_nat_gateway_per_az_layouts() -> None:
    per_az = vpc_layout("vpc-per-az")
    single = vpc_layout("vpc-single", nat_per_az=False)
    none = vpc_layout("vpc-none", nat=False)
    cross = vpc_layout("vpc-cross", cross_az=True)

    found = judged(per_az, single, none, cross)

    expect(
        found,
        {
            "vpc-per-az": (
                Status.PASS,
                "2 private subnet(s) each route to a NAT gateway in their own AZ; "
                f"2 available public NAT gateway(s) in 2 AZ(s) ({A}, {B})",
            ),
            "vpc-single": (
                Status.FAIL,
                f"1 available public NAT gateway(s) in 1 AZ(s) ({A}), below the baseline's 2; "
                f"{single.private(B)} ({B}) routes to {single.nat(A)} ({A}) in another AZ",
            ),
            "vpc-none": (
                Status.FAIL,
                f"0 available public NAT gateway(s) in 0 AZ(s), below the baseline's 2; "
                f"{none.private(A)} ({A}) has no default route (0.0.0.0/0); "
                f"{none.private(B)} ({B}) has no default route (0.0.0.0/0)",
            ),
            "vpc-cross": (
                Status.FAIL,
                f"VPC vpc-cross: {cross.private(A)} ({A}) routes to {cross.nat(B)} ({B}) "
                "in another AZ",
            ),
        },
    )
    assert found["vpc-per-az"].evidence == {
        "private_subnets": {
            per_az.private(A): f"0.0.0.0/0 -> {per_az.nat(A)}",
            per_az.private(B): f"0.0.0.0/0 -> {per_az.nat(B)}",
        },
        "nat_gateways": {per_az.nat(A): [A], per_az.nat(B): [B]},
        "min_nat_gateways": 2,
    }


def test_unavailable_and_private_nat_gateways_do_not_count() -> None:
    deleted = vpc_layout("vpc-deleted", nat_fields={B: {"state": "deleted"}})
    private = vpc_layout("vpc-private", nat_fields={A: {"connectivity_type": "private"}})
    found = judged(deleted, private)
    expect(
        found,
        {
            "vpc-deleted": (
                Status.FAIL,
                f"{deleted.private(B)} ({B}) routes to {deleted.nat(B)}, which is deleted",
            ),
            "vpc-private": (
                Status.FAIL,
                f"{private.private(A)} ({A}) routes to private NAT gateway {private.nat(A)} "
                "(no internet)",
            ),
        },
    )


def test_a_regional_nat_gateway_serves_every_az_it_names() -> None:
    regional = {A: {"availability_mode": "regional", "availability_zones": (A, B)}}
    both = vpc_layout("vpc-1", nat_per_az=False, nat_fields=regional)
    found = judged(both)
    expect(
        found, {"vpc-1": (Status.PASS, f"1 available public NAT gateway(s) in 2 AZ(s) ({A}, {B})")}
    )


def test_min_nat_gateways_parameter() -> None:
    three = vpc_layout("vpc-three", ("us-east-1a", "us-east-1b", "us-east-1c"))
    two = vpc_layout("vpc-two")
    expect(
        judged(three, two, min_nat_gateways=3),
        {
            "vpc-three": (Status.PASS, "3 available public NAT gateway(s) in 3 AZ(s)"),
            "vpc-two": (Status.FAIL, "2 AZ(s) (us-east-1a, us-east-1b), below the baseline's 3"),
        },
    )


def test_vpc_without_private_subnets_is_not_judged() -> None:
    public = vpc_layout("vpc-public", nat=False)
    igw = "igw-vpc-public"
    public.route_tables = [
        route_table(t.route_table_id, t.vpc_id, subnet_ids=t.subnet_ids, default_to=igw)
        for t in public.route_tables
    ]
    expect(judged(public), {})


def test_subnet_whose_routing_is_unreadable_is_error_for_its_vpc() -> None:
    shared = vpc_layout("vpc-shared")
    shared.route_tables = []  # shared by another account: its route tables are the owner's
    [(status, message, evidence)] = verdicts(judge(CHECK, network_of(shared))).values()
    assert status is Status.ERROR
    assert message.startswith("could not read subnet routing: RouteTableNotFound")
    assert evidence == {"error_code": "RouteTableNotFound", "action": "ec2:DescribeRouteTables"}


def test_unreadable_route_tables_are_error() -> None:
    found = judge(
        CHECK,
        {
            ec2.vpcs: [vpc_layout("vpc-1").vpc],
            ec2.route_tables: denied("ec2:DescribeRouteTables", "UnauthorizedOperation"),
        },
    )
    expect(
        by_resource(found),
        {"*": (Status.ERROR, "UnauthorizedOperation on ec2:DescribeRouteTables")},
    )
    assert found[0].message.startswith("could not read ec2.route_tables:")


# --- moto: what the collectors read ---------------------------------------------------------


def test_private_subnet_rule_main_table_and_ipv6(net: DemoAccount) -> None:
    """Explicit association, else the main table; 0.0.0.0/0 or ::/0 to an IGW is public."""
    client = net.client("ec2")
    vpc = make_vpc(net)
    a, b = vpc.azs
    loose = client.create_subnet(VpcId=vpc.vpc_id, CidrBlock="10.0.200.0/24", AvailabilityZone=a)
    loose_id = loose["Subnet"]["SubnetId"]  # no explicit association: the main table
    client.create_route(
        RouteTableId=vpc.private_route_tables[b],
        DestinationIpv6CidrBlock="::/0",
        GatewayId=vpc.igw_id,
    )
    network = inventory(net).get(ec2.network)

    assert network.is_private(vpc.public_subnets[a]) is False
    assert network.is_private(vpc.private_subnets[a]) is True
    assert network.is_private(loose_id) is True  # main table: local route only
    assert network.is_private(vpc.private_subnets[b]) is False  # ::/0 -> igw
    route = network.default_route(vpc.private_subnets[a])
    assert route is not None and not isinstance(route, ReadError)
    assert route.target == vpc.nat_gateways[a]
    unknown = network.is_private("subnet-0000000000000000")
    assert isinstance(unknown, ReadError) and unknown.code == "SubnetNotFound"

    main = client.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc.vpc_id]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]
    client.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=vpc.igw_id)
    assert inventory(net).get(ec2.network).is_private(loose_id) is False


def test_subnet_without_visible_route_table_is_error() -> None:
    subnet = ec2.Subnet(
        subnet_id="subnet-1",
        arn=None,
        vpc_id="vpc-shared",
        availability_zone="us-east-1a",
        availability_zone_id=None,
        cidr_block="10.0.0.0/24",
        map_public_ip_on_launch=False,
        name="subnet-1",
        tags={},
    )
    error = ec2.Network.of([subnet], [], []).is_private("subnet-1")
    assert isinstance(error, ReadError) and error.code == "RouteTableNotFound"


def test_regional_nat_gateway_serves_the_azs_of_its_addresses(net: DemoAccount) -> None:
    """moto has no regional NAT gateways: DescribeNatGateways answered by a before-call hook,
    describing the one NAT gateway of a single-NAT VPC as regional."""
    vpc = make_vpc(net, nat_per_az=False)
    a, b = vpc.azs
    regional: dict[str, Any] = {
        "NatGatewayId": vpc.nat_gateways[a],
        "VpcId": vpc.vpc_id,
        "State": "available",
        "ConnectivityType": "public",
        "AvailabilityMode": "regional",
        "NatGatewayAddresses": [
            {"AllocationId": "eipalloc-1", "AvailabilityZone": a, "Status": "succeeded"},
            {"AllocationId": "eipalloc-2", "AvailabilityZone": b, "Status": "succeeded"},
        ],
    }

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        response = AWSResponse("https://injected.invalid", 200, {}, None)
        return response, {"NatGateways": [regional], "ResponseMetadata": {"HTTPStatusCode": 200}}

    def judged() -> dict[str, Finding]:
        session = AwsSession(SessionOptions())
        session.boto_session.events.register("before-call.ec2.DescribeNatGateways", answer)
        return {f.resource_id: f for f in scan(net, CHECK, session=session).findings}

    expect(
        judged(),
        {vpc.vpc_id: (Status.PASS, f"1 available public NAT gateway(s) in 2 AZ(s) ({a}, {b})")},
    )
    regional["NatGatewayAddresses"][1]["Status"] = "failed"
    expect(
        judged(),
        {vpc.vpc_id: (Status.FAIL, f"({b}) routes to {vpc.nat_gateways[a]} ({a}) in another AZ")},
    )


def test_reference_network(net: DemoAccount) -> None:
    good = reference_network(net, compliant=True, name="prod")
    bad = reference_network(net, compliant=False, name="stage")
    assert set(good.security_groups) == {"app", "database", "cache", "efs"}
    assert len(good.private_subnet_ids) == 2
    expect(
        findings_of(net, CHECK),
        {
            good.vpc_id: (Status.PASS, "2 available public NAT gateway(s) in 2 AZ(s)"),
            bad.vpc_id: (Status.FAIL, "in another AZ"),
        },
    )


def test_security_groups_collector(net: DemoAccount) -> None:
    vpc = make_vpc(net, nat=False)
    app = make_security_group(net, vpc.vpc_id, name="app")
    db = make_security_group(
        net,
        vpc.vpc_id,
        name="db",
        ingress=[
            tcp_from_groups(5432, app),
            tcp_from_cidrs(5432, "10.0.0.0/16", "::/0"),
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )
    groups = {g.group_id: g for g in inventory(net).get(ec2.security_groups)}

    assert groups[app].ingress == ()
    group = groups[db]
    assert (group.name, group.vpc_id) == ("db", vpc.vpc_id)
    # Like AWS, one IpPermissions entry per protocol and port range, holding every source.
    tcp, everything = sorted(group.ingress, key=lambda rule: rule.protocol, reverse=True)
    assert (tcp.protocol, tcp.from_port, tcp.to_port) == ("tcp", 5432, 5432)
    assert tcp.source_group_ids == (app,)
    assert tcp.cidrs == ("10.0.0.0/16", "::/0") and tcp.prefix_list_ids == ()
    assert tcp.admits_tcp_port(5432) and not tcp.admits_tcp_port(6379)
    assert tcp.open_to_world
    assert everything.all_traffic and everything.from_port is None
    assert everything.admits_tcp_port(2049)
    assert everything.describe() == "all traffic from 0.0.0.0/0"
