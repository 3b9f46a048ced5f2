"""A dedicated VPC: private subnets for the control plane's ENIs, nodes, pods and Redis; public subnets only for
the NAT gateways and an internet-facing load balancer; an S3 gateway endpoint so image layers skip the NAT.

Raw `aws.ec2` resources rather than `awsx.ec2.Vpc`: awsx is a remote component whose children Pulumi's mocks never
see, and the deployability tests check these subnets (private, in zones EKS supports, tagged for discovery).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.errors import StackConfigError

# EKS refuses control planes in these zones (AWS docs, "Amazon EKS VPC and subnet requirements"). Zone IDs, not
# names: names are shuffled per account.
EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
KARPENTER_DISCOVERY_TAG = "karpenter.sh/discovery"


def eks_zones(provider: aws.Provider, count: int) -> list[str]:
    """`count` zones of the region that need no opt-in and can hold an EKS control plane."""
    zones = aws.get_availability_zones(
        state="available",
        filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
        exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
        opts=pulumi.InvokeOptions(provider=provider),
    )
    names = sorted(zones.names)
    if len(names) < count:
        raise StackConfigError(f"availabilityZones: the region has {len(names)} zones EKS supports "
                               f"({', '.join(names)}); {count} asked")
    return names[:count]


def subnet_cidrs(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private subnets get three quarters of the VPC (pods take an address each with the VPC CNI); public ones,
    which hold only NAT gateways and load balancers, share the last quarter."""
    quarters = list(ipaddress.ip_network(cidr).subnets(prefixlen_diff=2))
    private = [str(quarter) for quarter in quarters[:zones]]
    public = [str(net) for net in list(quarters[3].subnets(prefixlen_diff=3))[:zones]]
    return private, public


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    cidr: str
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        *,
        cidr: str,
        region: str,
        zones: Sequence[str],
        nat_per_az: bool,
        cluster_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(name, cidr_block=cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          tags={"Name": name}, opts=child)
        gateway = aws.ec2.InternetGateway(name, vpc_id=vpc.id, tags={"Name": name}, opts=child)
        public_routes = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id,
                                           routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
                                           tags={"Name": f"{name}-public"}, opts=child)
        private_cidrs, public_cidrs = subnet_cidrs(cidr, len(zones))
        self.public_subnet_ids, self.private_subnet_ids = [], []
        nat_ids: list[pulumi.Output[str]] = []
        private_tables = []
        for index, zone in enumerate(zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}", vpc_id=vpc.id, cidr_block=public_cidrs[index], availability_zone=zone,
                map_public_ip_on_launch=False, tags={"Name": f"{name}-public-{zone}", PUBLIC_ELB_TAG: "1"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=public.id,
                                          route_table_id=public_routes.id, opts=child)
            self.public_subnet_ids.append(public.id)
            if nat_per_az or index == 0:
                address = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags={"Name": f"{name}-nat-{zone}"},
                                      opts=child)
                nat = aws.ec2.NatGateway(f"{name}-{zone}", allocation_id=address.id, subnet_id=public.id,
                                         tags={"Name": f"{name}-{zone}"},
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]))
                nat_ids.append(nat.id)
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}", vpc_id=vpc.id, cidr_block=private_cidrs[index], availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{zone}", INTERNAL_ELB_TAG: "1", KARPENTER_DISCOVERY_TAG: cluster_name},
                opts=child)
            table = aws.ec2.RouteTable(f"{name}-private-{zone}", vpc_id=vpc.id,
                                       routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat_ids[-1]}],
                                       tags={"Name": f"{name}-private-{zone}"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=private.id, route_table_id=table.id,
                                          opts=child)
            private_tables.append(table.id)
            self.private_subnet_ids.append(private.id)
        aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{region}.s3",
                            vpc_endpoint_type="Gateway", route_table_ids=private_tables, tags={"Name": f"{name}-s3"},
                            opts=child)
        self.vpc_id = vpc.id
        self.cidr = cidr
        self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids})
