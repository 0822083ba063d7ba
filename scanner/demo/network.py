"""Network builders: a realistic VPC (IGW, public and private subnets per AZ, NAT gateways,
per-AZ route tables) and security groups.

moto's default VPC has no internet gateway, so its subnets look private (gap
ec2-default-vpc-no-internet-route): ``make_default_vpc_public`` fixes that, and
``reference_network`` calls it. Do not build on the default VPC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from scanner.demo.base import DemoAccount

NatLayout = Literal["per_az", "single", "cross_az", "none"]

DB_PORT = 5432
CACHE_PORT = 6379
NFS_PORT = 2049


@dataclass(frozen=True, kw_only=True)
class Network:
    """What ``make_vpc`` built. Subnet and NAT maps are keyed by AZ name."""

    vpc_id: str
    cidr: str
    igw_id: str
    azs: tuple[str, ...]
    public_subnets: Mapping[str, str]
    private_subnets: Mapping[str, str]
    nat_gateways: Mapping[str, str] = field(default_factory=dict)
    """The NAT gateway in each AZ that has one."""
    private_route_tables: Mapping[str, str] = field(default_factory=dict)
    """The route table of each AZ's private subnet."""
    security_groups: Mapping[str, str] = field(default_factory=dict)
    """By role: ``app``, ``database``, ``cache``, ``efs`` (``reference_network`` only)."""

    @property
    def public_subnet_ids(self) -> tuple[str, ...]:
        return tuple(self.public_subnets[az] for az in self.azs)

    @property
    def private_subnet_ids(self) -> tuple[str, ...]:
        return tuple(self.private_subnets[az] for az in self.azs)


def _tag_spec(resource: str, name: str, tags: Mapping[str, str] | None) -> list[dict[str, Any]]:
    pairs = {"Name": name, **(tags or {})}
    return [{"ResourceType": resource, "Tags": [{"Key": k, "Value": v} for k, v in pairs.items()]}]


def make_vpc(
    account: DemoAccount,
    *,
    azs: int = 2,
    nat_per_az: bool = True,
    nat: bool = True,
    cross_az: bool = False,
    private_nat: bool = False,
    deleted_nat_in: Sequence[str] = (),
    cidr: str = "10.0.0.0/16",
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Network:
    """A VPC over ``azs`` AZs: an attached IGW, one public subnet per AZ routed to it (shared
    public route table), one private subnet per AZ with its own route table whose 0.0.0.0/0
    goes to a NAT gateway. The main route table keeps only the local route.

    Knobs (defaults are compliant with vpc.nat_gateway_per_az):
    ``nat_per_az=False``: one NAT gateway (first AZ) that every private subnet routes to;
    ``nat=False``: no NAT gateway and no default route in the private tables;
    ``cross_az=True``: a NAT per AZ, but each private subnet routes to the next AZ's;
    ``private_nat=True``: the NAT gateways are private (ConnectivityType private, no EIP);
    ``deleted_nat_in``: AZ names (e.g. ``us-east-1b``) whose NAT gateway is then deleted.
    ``cidr`` must be a /16; subnets are /24s in it.
    """
    ec2 = account.client("ec2")
    name = name or account.name("vpc")
    zones = tuple(f"{account.region}{letter}" for letter in "abcdef"[:azs])
    prefix = cidr.split(".")[0] + "." + cidr.split(".")[1]
    vpc_id = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_tag_spec("vpc", name, tags))["Vpc"][
        "VpcId"
    ]
    igw_id = ec2.create_internet_gateway(
        TagSpecifications=_tag_spec("internet-gateway", f"{name}-igw", tags)
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    public_rtb = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=_tag_spec("route-table", f"{name}-public", tags)
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)

    public: dict[str, str] = {}
    private: dict[str, str] = {}
    tables: dict[str, str] = {}
    for index, az in enumerate(zones):
        public[az] = _subnet(ec2, vpc_id, f"{prefix}.{index}.0/24", az, f"{name}-public-{az}", tags)
        ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=public[az])
        private[az] = _subnet(
            ec2, vpc_id, f"{prefix}.{100 + index}.0/24", az, f"{name}-private-{az}", tags
        )
        tables[az] = ec2.create_route_table(
            VpcId=vpc_id, TagSpecifications=_tag_spec("route-table", f"{name}-private-{az}", tags)
        )["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=tables[az], SubnetId=private[az])

    nats: dict[str, str] = {}
    if nat:
        for az in zones if nat_per_az else zones[:1]:
            nats[az] = _nat_gateway(ec2, public[az], f"{name}-nat-{az}", tags, private_nat)
        for index, az in enumerate(zones):
            target = zones[(index + 1) % len(zones)] if cross_az else az
            nat_id = nats.get(target) or nats[zones[0]]
            ec2.create_route(
                RouteTableId=tables[az], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id
            )
        for az in deleted_nat_in:
            ec2.delete_nat_gateway(NatGatewayId=nats[az])
    return Network(
        vpc_id=vpc_id,
        cidr=cidr,
        igw_id=igw_id,
        azs=zones,
        public_subnets=public,
        private_subnets=private,
        nat_gateways=nats,
        private_route_tables=tables,
    )


def _subnet(
    ec2: Any, vpc_id: str, cidr: str, az: str, name: str, tags: Mapping[str, str] | None
) -> str:
    return str(
        ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=az,
            TagSpecifications=_tag_spec("subnet", name, tags),
        )["Subnet"]["SubnetId"]
    )


def _nat_gateway(
    ec2: Any, subnet_id: str, name: str, tags: Mapping[str, str] | None, private: bool
) -> str:
    params: dict[str, Any] = {
        "SubnetId": subnet_id,
        "TagSpecifications": _tag_spec("natgateway", name, tags),
    }
    if private:
        params["ConnectivityType"] = "private"
    else:
        params["AllocationId"] = ec2.allocate_address(Domain="vpc")["AllocationId"]
    return str(ec2.create_nat_gateway(**params)["NatGateway"]["NatGatewayId"])


def make_default_vpc_public(account: DemoAccount) -> None:
    """Give moto's default VPC what AWS gives it: an attached IGW and 0.0.0.0/0 -> IGW in its
    main route table (gap ec2-default-vpc-no-internet-route). Idempotent."""
    ec2 = account.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    for vpc in vpcs:
        vpc_id = vpc["VpcId"]
        attached = ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
        )["InternetGateways"]
        if attached:
            igw_id = attached[0]["InternetGatewayId"]
        else:
            igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        main = ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"][0]
        if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in main["Routes"]):
            ec2.create_route(
                RouteTableId=main["RouteTableId"],
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=igw_id,
            )


def tcp_from_groups(port: int, *group_ids: str) -> dict[str, Any]:
    """An ingress rule (IpPermissions item): TCP ``port`` from other security groups."""
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "UserIdGroupPairs": [{"GroupId": group} for group in group_ids],
    }


def tcp_from_cidrs(port: int, *cidrs: str, to_port: int | None = None) -> dict[str, Any]:
    """An ingress rule: TCP ``port`` (to ``to_port``) from IPv4/IPv6 ranges."""
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port if to_port is None else to_port,
        "IpRanges": [{"CidrIp": c} for c in cidrs if ":" not in c],
        "Ipv6Ranges": [{"CidrIpv6": c} for c in cidrs if ":" in c],
    }


def all_traffic_from_groups(*group_ids: str) -> dict[str, Any]:
    """An ingress rule: every protocol and port from other security groups."""
    return {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": g} for g in group_ids]}


def make_security_group(
    account: DemoAccount,
    vpc_id: str,
    *,
    ingress: Sequence[Mapping[str, Any]] = (),
    name: str | None = None,
    description: str = "driftscan demo security group",
    tags: Mapping[str, str] | None = None,
) -> str:
    """A security group in ``vpc_id`` with these ingress rules (IpPermissions items, e.g.
    ``tcp_from_groups(5432, app_sg)``); returns its id. Egress stays AWS's allow-all."""
    ec2 = account.client("ec2")
    name = name or account.name("sg")
    group_id = str(
        ec2.create_security_group(
            GroupName=name,
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=_tag_spec("security-group", name, tags),
        )["GroupId"]
    )
    if ingress:
        ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=[dict(rule) for rule in ingress]
        )
    return group_id


def default_security_group(account: DemoAccount, vpc_id: str) -> str:
    """The VPC's ``default`` security group id."""
    groups = account.client("ec2").describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    return str(groups[0]["GroupId"])


def reference_network(
    account: DemoAccount,
    *,
    compliant: bool,
    name: str | None = None,
    cidr: str = "10.0.0.0/16",
) -> Network:
    """The stack's VPC over two AZs and its security groups; returns the ``Network`` (the other
    reference builders take ``private_subnet_ids`` and ``security_groups[role]`` from it).

    Deps: none. ``name`` names the VPC and prefixes its resources (pass one naming the
    environment); ``cidr`` is a /16 (VPCs may overlap). Also makes moto's default VPC public
    as in AWS, so it is not judged as a VPC with private subnets.

    Security groups by role: ``app`` (the ECS service, no ingress), and data-store groups
    ``database`` (5432), ``cache`` (6379), ``efs`` (2049) admitting their port from ``app``.
    Broken (``compliant=False``): one NAT gateway that both AZs' private subnets route to
    (vpc.nat_gateway_per_az), and the data-store groups admit CIDR ranges: ``database``
    5432 from 0.0.0.0/0, ``cache`` 6379 from the VPC CIDR, ``efs`` all traffic from ``app``
    plus 2049 from ::/0 (for ec2.datastore_sg_least_privilege).
    """
    make_default_vpc_public(account)
    name = name or account.name("stack")
    network = make_vpc(account, azs=2, nat_per_az=compliant, cidr=cidr, name=name)
    app = make_security_group(account, network.vpc_id, name=f"{name}-app")
    if compliant:
        rules = {
            "database": [tcp_from_groups(DB_PORT, app)],
            "cache": [tcp_from_groups(CACHE_PORT, app)],
            "efs": [tcp_from_groups(NFS_PORT, app)],
        }
    else:
        rules = {
            "database": [tcp_from_cidrs(DB_PORT, "0.0.0.0/0")],
            "cache": [tcp_from_cidrs(CACHE_PORT, cidr)],
            "efs": [all_traffic_from_groups(app), tcp_from_cidrs(NFS_PORT, "::/0")],
        }
    groups = {"app": app}
    for role, ingress in rules.items():
        groups[role] = make_security_group(
            account, network.vpc_id, name=f"{name}-{role}", ingress=ingress
        )
    return replace(network, security_groups=groups)
