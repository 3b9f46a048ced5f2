"""IAM roles the way this program makes them: one trust policy per principal, policies attached by ARN."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

POD_IDENTITY_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
     "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
EKS_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
                 "AmazonSSMManagedInstanceCore")


def aws_policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


def role(name: str, trust: dict, parent: pulumi.Resource, policy_arns: Sequence[pulumi.Input[str]] = (),
         description: str | None = None) -> aws.iam.Role:
    """A role with `trust`, and each policy in `policy_arns` attached."""
    made = aws.iam.Role(name, assume_role_policy=json.dumps(trust), description=description,
                        opts=pulumi.ResourceOptions(parent=parent))
    for index, arn in enumerate(policy_arns):
        suffix = arn.rsplit("/", 1)[-1] if isinstance(arn, str) else f"policy-{index}"
        aws.iam.RolePolicyAttachment(f"{name}-{suffix}", role=made.name, policy_arn=arn,
                                     opts=pulumi.ResourceOptions(parent=made))
    return made


def node_role(name: str, parent: pulumi.Resource) -> aws.iam.Role:
    """The instance role of EKS nodes (managed node groups and Karpenter's alike)."""
    return role(name, EC2_TRUST, parent, [aws_policy(p) for p in NODE_POLICIES], "Switchboard: EKS nodes")


def pod_role(name: str, parent: pulumi.Resource, *, cluster_name: pulumi.Input[str], namespace: str,
             service_account: str, policy_arns: Sequence[pulumi.Input[str]] = (),
             description: str | None = None) -> aws.iam.Role:
    """A role for one service account, through EKS Pod Identity (no OIDC provider needed)."""
    made = role(name, POD_IDENTITY_TRUST, parent, policy_arns, description)
    aws.eks.PodIdentityAssociation(name, cluster_name=cluster_name, namespace=namespace,
                                   service_account=service_account, role_arn=made.arn,
                                   opts=pulumi.ResourceOptions(parent=made))
    return made


def policy(name: str, statements: Sequence[dict] | pulumi.Output[list[dict]], parent: pulumi.Resource,
           description: str) -> aws.iam.Policy:
    document = pulumi.Output.from_input(statements).apply(
        lambda s: json.dumps({"Version": "2012-10-17", "Statement": list(s)}))
    return aws.iam.Policy(name, description=description, policy=document, opts=pulumi.ResourceOptions(parent=parent))
