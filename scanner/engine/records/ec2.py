"""EC2 networking: VPCs, subnets, route tables, NAT gateways, security groups. Their records
and collector declarations: plain data, no I/O (the fetch functions are in
scanner/engine/collectors/ec2.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from scanner.engine.inventory import Collector, declare
from scanner.model import ReadError, ResourceRef

DEFAULT_DESTINATIONS = frozenset({"0.0.0.0/0", "::/0"})


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


vpcs: Collector[list[Vpc]] = declare(
    "ec2.vpcs",
    resource_type="AWS::EC2::VPC",
    actions=["ec2:DescribeVpcs"],
    fetch="scanner.engine.collectors.ec2:vpcs",
)
"""Every VPC the baseline scope admits (tags come with DescribeVpcs)."""


subnets: Collector[list[Subnet]] = declare(
    "ec2.subnets",
    resource_type="AWS::EC2::Subnet",
    actions=["ec2:DescribeSubnets"],
    fetch="scanner.engine.collectors.ec2:subnets",
)
"""Every subnet in the region (evidence: not filtered by the baseline scope)."""


route_tables: Collector[list[RouteTable]] = declare(
    "ec2.route_tables",
    resource_type="AWS::EC2::RouteTable",
    actions=["ec2:DescribeRouteTables"],
    fetch="scanner.engine.collectors.ec2:route_tables",
)
"""Every route table with its main flag, explicit subnet associations and routes."""


nat_gateways: Collector[list[NatGateway]] = declare(
    "ec2.nat_gateways",
    resource_type="AWS::EC2::NatGateway",
    actions=["ec2:DescribeNatGateways"],
    requires=[subnets],
    fetch="scanner.engine.collectors.ec2:nat_gateways",
)
"""Every NAT gateway in any state, with the AZs it serves."""


routing: Collector[Network] = declare(
    "ec2.routing",
    resource_type="AWS::EC2::VPC",
    actions=[],
    requires=[subnets, route_tables],
    fetch="scanner.engine.collectors.ec2:routing",
)
"""Subnets and where their default routes go, without NAT gateways: enough to tell a
private subnet from a public one."""


network: Collector[Network] = declare(
    "ec2.network",
    resource_type="AWS::EC2::VPC",
    actions=[],
    requires=[subnets, route_tables, nat_gateways],
    fetch="scanner.engine.collectors.ec2:network",
)
"""The joined view: which subnets are private and where their default routes go."""


security_groups: Collector[list[SecurityGroup]] = declare(
    "ec2.security_groups",
    resource_type="AWS::EC2::SecurityGroup",
    actions=["ec2:DescribeSecurityGroups"],
    fetch="scanner.engine.collectors.ec2:security_groups",
)
"""Every security group with its ingress rules (evidence: not filtered by the scope; a
group is judged through the in-scope data stores it is attached to)."""
