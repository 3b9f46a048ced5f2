"""IAM roles as components: a role, every policy attached to it and (for pods) its Pod Identity association are
one `IamRole`, and whatever runs under the role depends on that component.

Depending on a component waits for all of its children, so a workload made after its `IamRole` starts with its
permissions in place, and `pulumi destroy` (which deletes in reverse) removes the workload before any of them:
a controller keeps its permissions while it cleans up what it made (load balancers, nodes, volumes). A policy
attached to a role that is a child of the role (the earlier shape) was neither waited for nor kept."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.base import Component

POD_IDENTITY_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
     "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
EKS_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
# What EKS nodes need (Karpenter's getting-started node role, v1.14: ECR pull-only, not read-only).
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly",
                 "AmazonSSMManagedInstanceCore")


def aws_policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


def document(statements: Sequence[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@dataclass(frozen=True)
class PodIdentity:
    """The service account a role is handed to, through EKS Pod Identity (no OIDC provider needed)."""

    cluster_name: pulumi.Input[str]
    namespace: str
    service_account: str


class IamRole(Component):
    """A role with its trust, AWS-managed policies, an optional policy of its own, and an optional association."""

    role: aws.iam.Role
    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        trust: dict,
        description: str,
        managed_policies: Sequence[str] = (),
        statements: Sequence[dict] | pulumi.Output[list[dict]] | None = None,
        pod_identity: PodIdentity | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:IamRole", name, opts)
        self.role = aws.iam.Role(name, assume_role_policy=json.dumps(trust), description=description,
                                 opts=self.child())
        for arn in managed_policies:
            aws.iam.RolePolicyAttachment(f"{name}-{arn.rsplit('/', 1)[-1]}", role=self.role.name, policy_arn=arn,
                                         opts=self.child())
        if statements is not None:
            own = aws.iam.Policy(name, description=description,
                                 policy=pulumi.Output.from_input(statements).apply(document), opts=self.child())
            aws.iam.RolePolicyAttachment(f"{name}-own", role=self.role.name, policy_arn=own.arn, opts=self.child())
        if pod_identity is not None:
            aws.eks.PodIdentityAssociation(
                name, cluster_name=pod_identity.cluster_name, namespace=pod_identity.namespace,
                service_account=pod_identity.service_account, role_arn=self.role.arn, opts=self.child())
        self.arn = self.role.arn
        self.name = self.role.name
        self.register_outputs({"arn": self.arn})


def node_role(name: str, opts: pulumi.ResourceOptions | None = None) -> IamRole:
    """The instance role of EKS nodes (the managed node group's and Karpenter's alike)."""
    return IamRole(name, trust=EC2_TRUST, description="Switchboard: EKS nodes",
                   managed_policies=[aws_policy(p) for p in NODE_POLICIES], opts=opts)
