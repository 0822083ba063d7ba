"""EC2 networking: VPCs, subnets, route tables, NAT gateways, security groups.

``ec2.network`` joins subnets, route tables and NAT gateways into one ``Network`` view that
answers, once for every check, which table routes a subnet, where its default route goes and
whether the subnet is private (controls.md: its route table, the explicit association else the
VPC's main table, has no default route, 0.0.0.0/0 or ::/0, to an internet gateway).

Only VPCs are judged (``vpc.nat_gateway_per_az``), so only ``ec2.vpcs`` applies the baseline
scope. Subnets, route tables, NAT gateways and security groups are evidence about the resources
that are judged: they are listed whole, whatever their names or tags, so an in-scope file system
in an untagged subnet is still placed correctly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scanner.inventory import RegionScope, collector
from scanner.model import ReadError, ResourceRef

DEFAULT_DESTINATIONS = frozenset({"0.0.0.0/0", "::/0"})

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


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Vpc:
    vpc_id: str
    arn: str | None
    owner_id: str
    cidr_block: str
    is_default: bool
    state: str
    name: str
    """The Name tag, else the VPC id."""
    tags: Mapping[str, str] | None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::EC2::VPC", id=self.vpc_id, arn=self.arn)


@dataclass(frozen=True, kw_only=True)
class Subnet:
    subnet_id: str
    arn: str | None
    vpc_id: str
    availability_zone: str
    availability_zone_id: str | None
    cidr_block: str | None
    """None for an IPv6-only subnet."""
    map_public_ip_on_launch: bool
    name: str
    tags: Mapping[str, str] | None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::EC2::Subnet", id=self.subnet_id, arn=self.arn)

    @property
    def label(self) -> str:
        """``subnet-... (us-east-1a)`` for messages."""
        return f"{self.subnet_id} ({self.availability_zone})"


@dataclass(frozen=True, kw_only=True)
class Route:
    destination: str
    """IPv4 or IPv6 CIDR, or a prefix list id (``pl-...``)."""
    target: str
    """The target's id: ``local``, ``igw-...``, ``nat-...``, ``tgw-...``, ``vpce-...``..."""
    state: str
    """``active`` or ``blackhole`` (target deleted or detached)."""

    @property
    def is_default(self) -> bool:
        return self.destination in DEFAULT_DESTINATIONS

    @property
    def to_internet_gateway(self) -> bool:
        """Routes to an internet gateway (not an egress-only one, not blackholed)."""
        return self.target.startswith("igw-") and self.state != "blackhole"

    @property
    def to_nat_gateway(self) -> bool:
        return self.target.startswith("nat-")

    def __str__(self) -> str:
        return f"{self.destination} -> {self.target}" + (
            " (blackhole)" if self.state == "blackhole" else ""
        )


@dataclass(frozen=True, kw_only=True)
class RouteTable:
    route_table_id: str
    vpc_id: str
    main: bool
    """The VPC's main table: routes every subnet without an explicit association."""
    subnet_ids: tuple[str, ...]
    """Subnets explicitly associated with this table."""
    routes: tuple[Route, ...]
    name: str
    tags: Mapping[str, str] | None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::EC2::RouteTable", id=self.route_table_id)

    @property
    def default_routes(self) -> tuple[Route, ...]:
        return tuple(route for route in self.routes if route.is_default)


@dataclass(frozen=True, kw_only=True)
class NatGateway:
    nat_gateway_id: str
    vpc_id: str
    subnet_id: str | None
    """None for a regional NAT gateway."""
    state: str
    """``pending``, ``failed``, ``available``, ``deleting`` or ``deleted``."""
    connectivity_type: str
    """``public`` or ``private``; a missing value reads as ``public`` (moto omits it)."""
    availability_mode: str
    """``zonal`` (the default) or ``regional``."""
    availability_zones: tuple[str, ...]
    """The AZs it serves: its subnet's AZ when zonal; the AZs of its addresses when regional.
    Empty when the subnet is not visible."""
    name: str
    tags: Mapping[str, str] | None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::EC2::NatGateway", id=self.nat_gateway_id)

    @property
    def gives_internet_egress(self) -> bool:
        """Available and public: a private NAT gateway cannot reach the internet by itself."""
        return self.state == "available" and self.connectivity_type == "public"

    @property
    def label(self) -> str:
        zones = ",".join(self.availability_zones) or "unknown AZ"
        return f"{self.nat_gateway_id} ({zones})"


@dataclass(frozen=True, kw_only=True)
class IngressRule:
    """One ``IpPermissions`` entry of a security group."""

    protocol: str
    """``tcp``, ``udp``, ``icmp``, ``icmpv6``, a protocol number, or ``-1`` (all traffic)."""
    from_port: int | None
    to_port: int | None
    """None when the protocol has no ports (``-1``); ``-1`` for all ICMP types."""
    cidrs: tuple[str, ...] = ()
    """IPv4 and IPv6 ranges."""
    source_group_ids: tuple[str, ...] = ()
    prefix_list_ids: tuple[str, ...] = ()

    @property
    def all_traffic(self) -> bool:
        return self.protocol == "-1"

    @property
    def open_to_world(self) -> bool:
        return any(cidr in DEFAULT_DESTINATIONS for cidr in self.cidrs)

    def admits_tcp_port(self, port: int) -> bool:
        """True when the rule admits TCP traffic to ``port``."""
        if self.all_traffic:
            return True
        if self.protocol not in ("tcp", "6") or self.from_port is None or self.to_port is None:
            return False
        return self.from_port <= port <= self.to_port

    def describe(self) -> str:
        """``tcp 5432 from sg-1, 0.0.0.0/0`` for messages."""
        if self.all_traffic:
            what = "all traffic"
        elif self.from_port == self.to_port:
            what = f"{self.protocol} {self.from_port}"
        else:
            what = f"{self.protocol} {self.from_port}-{self.to_port}"
        sources = (*self.source_group_ids, *self.cidrs, *self.prefix_list_ids)
        return f"{what} from {', '.join(sources) or 'nothing'}"


@dataclass(frozen=True, kw_only=True)
class SecurityGroup:
    group_id: str
    arn: str | None
    name: str
    """The group name (``GroupName``)."""
    vpc_id: str | None
    owner_id: str
    description: str
    ingress: tuple[IngressRule, ...]
    tags: Mapping[str, str] | None

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(type="AWS::EC2::SecurityGroup", id=self.group_id, arn=self.arn)


# --- the joined view -------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """Subnets, their route tables and NAT gateways, with the private-subnet rule in one place.

    Every lookup answers for any subnet visible to DescribeSubnets; a subnet or route table
    that cannot be seen (e.g. a subnet shared from another account, whose route tables only
    its owner can describe) gives a ReadError, never a guess.
    """

    subnets: Mapping[str, Subnet]
    route_tables: Mapping[str, RouteTable]
    nat_gateways: Mapping[str, NatGateway]
    _explicit: Mapping[str, str] = field(init=False, repr=False)
    _main: Mapping[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        explicit: dict[str, str] = {}
        main: dict[str, str] = {}
        for table in self.route_tables.values():
            for subnet_id in table.subnet_ids:
                explicit[subnet_id] = table.route_table_id
            if table.main:
                main[table.vpc_id] = table.route_table_id
        object.__setattr__(self, "_explicit", explicit)
        object.__setattr__(self, "_main", main)

    @classmethod
    def of(
        cls,
        subnets: Iterable[Subnet],
        route_tables: Iterable[RouteTable],
        nat_gateways: Iterable[NatGateway],
    ) -> Network:
        return cls(
            {s.subnet_id: s for s in subnets},
            {t.route_table_id: t for t in route_tables},
            {n.nat_gateway_id: n for n in nat_gateways},
        )

    def subnets_of(self, vpc_id: str) -> list[Subnet]:
        """The VPC's subnets, by AZ then id."""
        found = [s for s in self.subnets.values() if s.vpc_id == vpc_id]
        return sorted(found, key=lambda s: (s.availability_zone, s.subnet_id))

    def nat_gateways_of(self, vpc_id: str) -> list[NatGateway]:
        found = [n for n in self.nat_gateways.values() if n.vpc_id == vpc_id]
        return sorted(found, key=lambda n: n.nat_gateway_id)

    def route_table_of(self, subnet_id: str) -> RouteTable | ReadError:
        """The subnet's explicit route table, else its VPC's main table."""
        subnet = self.subnets.get(subnet_id)
        if subnet is None:
            return ReadError(
                code="SubnetNotFound",
                action="ec2:DescribeSubnets",
                detail=f"{subnet_id} is not visible in this account and region",
            )
        table_id = self._explicit.get(subnet_id) or self._main.get(subnet.vpc_id)
        if table_id is None:
            return ReadError(
                code="RouteTableNotFound",
                action="ec2:DescribeRouteTables",
                detail=(
                    f"no route table visible for {subnet_id} in {subnet.vpc_id} "
                    "(a subnet shared by another account?)"
                ),
            )
        return self.route_tables[table_id]

    def default_routes(self, subnet_id: str) -> tuple[Route, ...] | ReadError:
        """The subnet's 0.0.0.0/0 and ::/0 routes."""
        table = self.route_table_of(subnet_id)
        return table if isinstance(table, ReadError) else table.default_routes

    def default_route(self, subnet_id: str) -> Route | None | ReadError:
        """The subnet's IPv4 default route (0.0.0.0/0), None when it has none."""
        routes = self.default_routes(subnet_id)
        if isinstance(routes, ReadError):
            return routes
        return next((r for r in routes if r.destination == "0.0.0.0/0"), None)

    def internet_route(self, subnet_id: str) -> Route | None | ReadError:
        """The default route that reaches an internet gateway, None for a private subnet."""
        routes = self.default_routes(subnet_id)
        if isinstance(routes, ReadError):
            return routes
        return next((r for r in routes if r.to_internet_gateway), None)

    def is_private(self, subnet_id: str) -> bool | ReadError:
        """No default route (IPv4 or IPv6) to an internet gateway. A blackholed route (its
        gateway detached or deleted) carries no traffic and does not make a subnet public."""
        route = self.internet_route(subnet_id)
        return route if isinstance(route, ReadError) else route is None


# --- collectors ------------------------------------------------------------------------------


@collector(name="ec2.vpcs", resource_type="AWS::EC2::VPC", actions=["ec2:DescribeVpcs"])
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


@collector(name="ec2.subnets", resource_type="AWS::EC2::Subnet", actions=["ec2:DescribeSubnets"])
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


@collector(
    name="ec2.route_tables",
    resource_type="AWS::EC2::RouteTable",
    actions=["ec2:DescribeRouteTables"],
)
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


@collector(
    name="ec2.nat_gateways",
    resource_type="AWS::EC2::NatGateway",
    actions=["ec2:DescribeNatGateways"],
    requires=[subnets],
)
def nat_gateways(scope: RegionScope) -> list[NatGateway]:
    """Every NAT gateway in any state, with the AZs it serves."""
    zone_of = {s.subnet_id: s.availability_zone for s in scope.get(subnets)}
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


@collector(
    name="ec2.routing",
    resource_type="AWS::EC2::VPC",
    actions=[],
    requires=[subnets, route_tables],
)
def routing(scope: RegionScope) -> Network:
    """Subnets and where their default routes go, without NAT gateways: enough to tell a
    private subnet from a public one."""
    listed_subnets: list[Subnet] = scope.get(subnets)
    tables: list[RouteTable] = scope.get(route_tables)
    return Network.of(listed_subnets, tables, ())


@collector(
    name="ec2.network",
    resource_type="AWS::EC2::VPC",
    actions=[],
    requires=[subnets, route_tables, nat_gateways],
)
def network(scope: RegionScope) -> Network:
    """The joined view: which subnets are private and where their default routes go."""
    listed_subnets: list[Subnet] = scope.get(subnets)
    tables: list[RouteTable] = scope.get(route_tables)
    gateways: list[NatGateway] = scope.get(nat_gateways)
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


@collector(
    name="ec2.security_groups",
    resource_type="AWS::EC2::SecurityGroup",
    actions=["ec2:DescribeSecurityGroups"],
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
