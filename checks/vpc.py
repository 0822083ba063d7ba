"""VPC controls: private subnets egress through a NAT gateway in their own AZ."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.engine.compliance import Compliance
from scanner.engine.inventory import CheckInputs
from scanner.engine.records import ec2
from scanner.engine.registry import Param, Params, check
from scanner.model import Outcome, ReadError, Severity, failed, passed, unreadable


def _misrouted(network: ec2.Network, subnet: ec2.Subnet) -> str | None:
    """Why the private subnet's IPv4 default route is not a NAT gateway in its AZ, or None."""
    route = network.default_route(subnet.subnet_id)
    if isinstance(route, ReadError) or route is None:
        return f"{subnet.label} has no default route (0.0.0.0/0)"
    if not route.to_nat_gateway:
        return f"{subnet.label} routes {route} (not a NAT gateway)"
    nat = network.nat_gateways.get(route.target)
    if nat is None:
        return f"{subnet.label} routes to {route.target}, which DescribeNatGateways does not list"
    if nat.state != "available":
        return f"{subnet.label} routes to {nat.nat_gateway_id}, which is {nat.state}"
    if nat.connectivity_type != "public":
        return f"{subnet.label} routes to private NAT gateway {nat.nat_gateway_id} (no internet)"
    if subnet.availability_zone not in nat.availability_zones:
        return f"{subnet.label} routes to {nat.label} in another AZ"
    return None


@check(
    id="vpc.nat_gateway_per_az",
    severity=Severity.MEDIUM,
    title="Private subnets egress through a NAT gateway in their own AZ",
    description=(
        "A VPC with private subnets (route table without a default route to an internet "
        "gateway) has available public NAT gateways in at least `min_nat_gateways` distinct "
        "AZs, and every private subnet's 0.0.0.0/0 route goes to an available public NAT "
        "gateway in the subnet's own AZ, so losing one AZ does not cut the others' egress. "
        "Pending, failed, deleting or deleted NAT gateways do not count. Private NAT gateways "
        "(ConnectivityType private) give no internet egress: they count for nothing and a "
        "route to one fails. A regional NAT gateway counts for every AZ it has an address in. "
        "VPCs without private subnets are not judged; egress through transit gateways or "
        "firewalls fails this baseline."
    ),
    remediation=(
        "aws ec2 create-nat-gateway --subnet-id <public-subnet-in-az> --allocation-id <eip>; "
        "aws ec2 replace-route --route-table-id <private-rtb-in-az> "
        "--destination-cidr-block 0.0.0.0/0 --nat-gateway-id <nat-in-same-az>"
    ),
    rationale=(
        "Private subnets that egress through another AZ's NAT gateway lose the internet when "
        "that AZ fails, and pay cross-AZ data charges."
    ),
    cfn_property=(
        "AWS::EC2::NatGateway in each AZ; AWS::EC2::Route 0.0.0.0/0 NatGatewayId in each "
        "private subnet's route table"
    ),
    reads=[ec2.vpcs, ec2.network],
    partial_evidence=True,  # a subnet whose routing cannot be read is ERROR for its VPC
    params=[
        Param(
            name="min_nat_gateways",
            default=2,
            schema={"type": "integer", "minimum": 1},
            description="Distinct AZs that must hold an available public NAT gateway.",
        )
    ],
    compliance=Compliance.none("no Security Hub control judges NAT gateway placement"),
)
def nat_gateway_per_az(inputs: CheckInputs, params: Params) -> Iterator[Outcome]:
    network = inputs[ec2.network]
    minimum = int(params["min_nat_gateways"])
    for vpc in inputs[ec2.vpcs]:
        subnets = network.subnets_of(vpc.vpc_id)
        privacy = {s.subnet_id: network.is_private(s.subnet_id) for s in subnets}
        error = next((p for p in privacy.values() if isinstance(p, ReadError)), None)
        if error is not None:
            yield unreadable(vpc.ref, error, "subnet routing")
            continue
        private = [s for s in subnets if privacy[s.subnet_id] is True]
        if not private:
            continue  # no private subnets: not judged
        egress = [n for n in network.nat_gateways_of(vpc.vpc_id) if n.gives_internet_egress]
        zones = sorted({zone for nat in egress for zone in nat.availability_zones})
        routes = {s.subnet_id: network.default_route(s.subnet_id) for s in private}
        evidence = {
            "private_subnets": {
                s.subnet_id: None if routes[s.subnet_id] is None else str(routes[s.subnet_id])
                for s in private
            },
            "nat_gateways": {n.nat_gateway_id: list(n.availability_zones) for n in egress},
            "min_nat_gateways": minimum,
        }
        counted = f"{len(egress)} available public NAT gateway(s) in {len(zones)} AZ(s)"
        counted += f" ({', '.join(zones)})" if zones else ""
        problems = [reason for s in private if (reason := _misrouted(network, s))]
        if len(zones) < minimum:
            problems.insert(0, f"{counted}, below the baseline's {minimum}")
        if problems:
            yield failed(vpc.ref, f"VPC {vpc.vpc_id}: {'; '.join(problems)}", **evidence)
        else:
            yield passed(
                vpc.ref,
                f"VPC {vpc.vpc_id}: {len(private)} private subnet(s) each route to a NAT "
                f"gateway in their own AZ; {counted}",
                **evidence,
            )
