"""The EKS cluster (or an existing one) and the Kubernetes provider that talks to it."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

EKS_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")


def node_role(name: str, parent: pulumi.Resource) -> aws.iam.Role:
    """The instance role of a managed node group (EKS gives it an access entry itself in API mode)."""
    role = aws.iam.Role(name, assume_role_policy=json.dumps(EC2_TRUST), opts=pulumi.ResourceOptions(parent=parent))
    for policy in NODE_POLICIES:
        aws.iam.RolePolicyAttachment(f"{name}-{policy}", role=role.name,
                                     policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                                     opts=pulumi.ResourceOptions(parent=role))
    return role


def kubeconfig(name: pulumi.Input[str], endpoint: pulumi.Input[str], ca: pulumi.Input[str]) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived credentials)."""
    return pulumi.Output.all(name, endpoint, ca).apply(lambda v: json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "aws",
        "clusters": [{"name": "eks", "cluster": {"server": v[1], "certificate-authority-data": v[2]}}],
        "contexts": [{"name": "aws", "context": {"cluster": "eks", "user": "aws"}}],
        "users": [{"name": "aws", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", v[0], "--output", "json"]}}}],
    }))


class Cluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(
        self,
        name: str,
        *,
        version: str,
        subnet_ids: Sequence[str],
        system_instance_type: str,
        system_nodes: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-cluster", assume_role_policy=json.dumps(EKS_TRUST), opts=child)
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy", role=role.name, policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child)
        cluster = aws.eks.Cluster(
            name,
            role_arn=role.arn,
            version=version,
            vpc_config={"subnet_ids": list(subnet_ids), "endpoint_private_access": True,
                        "endpoint_public_access": True},
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
        aws.eks.Addon(f"{name}-pod-identity-agent", cluster_name=cluster.name, addon_name="eks-pod-identity-agent",
                      opts=child)
        aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=node_role(f"{name}-system-node", self).arn,
            subnet_ids=list(subnet_ids),
            instance_types=[system_instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            scaling_config={"min_size": system_nodes, "desired_size": system_nodes, "max_size": system_nodes * 2},
            labels={"switchboard.dev/pool": "system"},
            opts=child,
        )
        self.name = cluster.name
        self.kubeconfig = pulumi.Output.secret(
            kubeconfig(cluster.name, cluster.endpoint, cluster.certificate_authority.data)
        )
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=child)
        self.register_outputs({"name": self.name, "kubeconfig": self.kubeconfig})


class ExistingCluster(pulumi.ComponentResource):
    """A cluster made elsewhere: named in config, reached with the kubeconfig given as a secret."""

    def __init__(self, name: str, *, cluster_name: str, kubeconfig_text: pulumi.Output[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("switchboard:infra:ExistingCluster", name, None, opts)
        self.name = pulumi.Output.from_input(cluster_name)
        self.kubeconfig = pulumi.Output.secret(kubeconfig_text)
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"name": self.name})
