"""EC2 networking: VPCs, subnets, route tables, NAT gateways, security groups.

``ec2.network`` joins subnets, route tables and NAT gateways into one ``Network`` view that
answers, once for every check, which table routes a subnet, where its default route goes and
whether the subnet is private (controls.md: its route table, the explicit association else the
VPC's main table, has no default route, 0.0.0.0/0 or ::/0, to an internet gateway).

Only VPCs are judged (``vpc.nat_gateway_per_az``), so only ``ec2.vpcs`` applies the baseline
scope. Subnets, route tables, NAT gateways and security groups are evidence about the resources
that are judged: they are listed whole, whatever their names or tags, so an in-scope file system
in an untagged subnet is still placed correctly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.engine.inventory import RegionScope
from scanner.engine.records import ec2 as declared
from scanner.engine.records.ec2 import (
    IngressRule,
    NatGateway,
    Network,
    Route,
    RouteTable,
    SecurityGroup,
    Subnet,
    Vpc,
)

# Route target fields in DescribeRouteTables, in the order a route's target is named by.
_ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "EgressOnlyInternetGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
    "OdbNetworkArn",
)


_SERVING = frozenset({"succeeded"})
"""NAT gateway address statuses that serve traffic (a missing status reads as served)."""


def _tags(item: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in item.get("Tags") or []}


def vpcs(scope: RegionScope) -> list[Vpc]:
    """Every VPC the baseline scope admits (tags come with DescribeVpcs)."""
    partition = scope.client("ec2").meta.partition
    listed = []
    for item in scope.pages("ec2", "describe_vpcs", "Vpcs"):
        tags = _tags(item)
        owner = item.get("OwnerId", scope.account_id)
        vpc = Vpc(
            vpc_id=item["VpcId"],
            arn=f"arn:{partition}:ec2:{scope.region}:{owner}:vpc/{item['VpcId']}",
            owner_id=owner,
            cidr_block=item.get("CidrBlock", ""),
            is_default=bool(item.get("IsDefault")),
            state=item.get("State", "available"),
            name=tags.get("Name") or item["VpcId"],
            tags=tags,
        )
        if scope.scope.includes(vpc.name, vpc.tags):
            listed.append(vpc)
    return listed


def subnets(scope: RegionScope) -> list[Subnet]:
    """Every subnet in the region (evidence: not filtered by the baseline scope)."""
    listed = []
    for item in scope.pages("ec2", "describe_subnets", "Subnets"):
        tags = _tags(item)
        listed.append(
            Subnet(
                subnet_id=item["SubnetId"],
                arn=item.get("SubnetArn"),
                vpc_id=item["VpcId"],
                availability_zone=item.get("AvailabilityZone", ""),
                availability_zone_id=item.get("AvailabilityZoneId"),
                cidr_block=item.get("CidrBlock"),
                map_public_ip_on_launch=bool(item.get("MapPublicIpOnLaunch")),
                name=tags.get("Name") or item["SubnetId"],
                tags=tags,
            )
        )
    return listed


def _route(item: Mapping[str, Any]) -> Route | None:
    destination = (
        item.get("DestinationCidrBlock")
        or item.get("DestinationIpv6CidrBlock")
        or item.get("DestinationPrefixListId")
    )
    if not destination:
        return None
    target = next((str(item[key]) for key in _ROUTE_TARGETS if item.get(key)), "unknown")
    return Route(destination=destination, target=target, state=item.get("State", "active"))


def route_tables(scope: RegionScope) -> list[RouteTable]:
    """Every route table with its main flag, explicit subnet associations and routes."""
    listed = []
    for item in scope.pages("ec2", "describe_route_tables", "RouteTables"):
        main = False
        subnet_ids = []
        for association in item.get("Associations") or []:
            state = (association.get("AssociationState") or {}).get("State", "associated")
            if state in ("disassociated", "disassociating", "failed"):
                continue
            if association.get("Main"):
                main = True
            elif association.get("SubnetId"):
                subnet_ids.append(association["SubnetId"])
        routes = [route for r in item.get("Routes") or [] if (route := _route(r))]
        tags = _tags(item)
        listed.append(
            RouteTable(
                route_table_id=item["RouteTableId"],
                vpc_id=item["VpcId"],
                main=main,
                subnet_ids=tuple(sorted(subnet_ids)),
                routes=tuple(routes),
                name=tags.get("Name") or item["RouteTableId"],
                tags=tags,
            )
        )
    return listed


def nat_gateways(scope: RegionScope) -> list[NatGateway]:
    """Every NAT gateway in any state, with the AZs it serves."""
    zone_of = {s.subnet_id: s.availability_zone for s in scope.get(declared.subnets)}
    listed = []
    for item in scope.pages("ec2", "describe_nat_gateways", "NatGateways"):
        mode = item.get("AvailabilityMode") or "zonal"
        subnet_id = item.get("SubnetId")
        if mode == "regional":
            addresses = item.get("NatGatewayAddresses") or []
            zones = {
                a["AvailabilityZone"]
                for a in addresses
                if a.get("AvailabilityZone") and a.get("Status", "succeeded") in _SERVING
            }
        else:
            zones = {zone_of[subnet_id]} if subnet_id in zone_of else set()
        tags = _tags(item)
        listed.append(
            NatGateway(
                nat_gateway_id=item["NatGatewayId"],
                vpc_id=item.get("VpcId", ""),
                subnet_id=subnet_id,
                state=item.get("State", "available"),
                connectivity_type=item.get("ConnectivityType") or "public",
                availability_mode=mode,
                availability_zones=tuple(sorted(zones)),
                name=tags.get("Name") or item["NatGatewayId"],
                tags=tags,
            )
        )
    return listed


def routing(scope: RegionScope) -> Network:
    """Subnets and where their default routes go, without NAT gateways: enough to tell a
    private subnet from a public one."""
    listed_subnets: list[Subnet] = scope.get(declared.subnets)
    tables: list[RouteTable] = scope.get(declared.route_tables)
    return Network.of(listed_subnets, tables, ())


def network(scope: RegionScope) -> Network:
    """The joined view: which subnets are private and where their default routes go."""
    listed_subnets: list[Subnet] = scope.get(declared.subnets)
    tables: list[RouteTable] = scope.get(declared.route_tables)
    gateways: list[NatGateway] = scope.get(declared.nat_gateways)
    return Network.of(listed_subnets, tables, gateways)


def _ingress(item: Mapping[str, Any]) -> IngressRule:
    protocol = str(item.get("IpProtocol", "-1"))
    return IngressRule(
        protocol=protocol,
        from_port=None if protocol == "-1" else item.get("FromPort"),
        to_port=None if protocol == "-1" else item.get("ToPort"),
        cidrs=tuple(
            [r["CidrIp"] for r in item.get("IpRanges") or [] if r.get("CidrIp")]
            + [r["CidrIpv6"] for r in item.get("Ipv6Ranges") or [] if r.get("CidrIpv6")]
        ),
        source_group_ids=tuple(
            p["GroupId"] for p in item.get("UserIdGroupPairs") or [] if p.get("GroupId")
        ),
        prefix_list_ids=tuple(
            p["PrefixListId"] for p in item.get("PrefixListIds") or [] if p.get("PrefixListId")
        ),
    )


def security_groups(scope: RegionScope) -> list[SecurityGroup]:
    """Every security group with its ingress rules (evidence: not filtered by the scope; a
    group is judged through the in-scope data stores it is attached to)."""
    return [
        SecurityGroup(
            group_id=item["GroupId"],
            arn=item.get("SecurityGroupArn"),
            name=item.get("GroupName", item["GroupId"]),
            vpc_id=item.get("VpcId"),
            owner_id=item.get("OwnerId", scope.account_id),
            description=item.get("Description", ""),
            ingress=tuple(_ingress(rule) for rule in item.get("IpPermissions") or []),
            tags=_tags(item),
        )
        for item in scope.pages("ec2", "describe_security_groups", "SecurityGroups")
    ]
