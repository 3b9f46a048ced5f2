"""The EKS cluster in private subnets, its managed add-ons, the system node group, the gp3 StorageClass, and the
Kubernetes provider that talks to it.

Add-ons are EKS-managed (versions follow the cluster) and each is what makes a declared control real:
- vpc-cni with network-policy mode, so the NetworkPolicies are enforced, not just stored;
- aws-ebs-csi-driver (its role through Pod Identity), which serves the gp3 StorageClass;
- metrics-server, which the router's HorizontalPodAutoscaler reads;
- eks-pod-identity-agent, which hands the router, the controllers and the CSI driver their roles.
The system node group has a fixed size: it holds the controllers (Karpenter must not run on nodes it manages);
everything that scales, scales through Karpenter.

Each role (the control plane's, the system nodes', the EBS CSI driver's) is an `IamRole` component the cluster, the
node group or the add-on waits for, so none starts without its policies and none loses them before it is gone.
The cluster keeps to standard support (`upgradePolicy: STANDARD`): at the end of its version's standard support
EKS upgrades it rather than billing extended support ($0.60/h instead of $0.10/h).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.iam import EKS_TRUST, POD_IDENTITY_TRUST, IamRole, aws_policy, node_role
from infra.components.k8s import SYSTEM_POOL

GP3 = "gp3"
EBS_CSI = "ebs.csi.aws.com"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
LOG_TYPES = ["api", "audit", "authenticator"]


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
    arn: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    security_group_id: pulumi.Output[str]  # EKS's cluster security group: on every node, managed or Karpenter's
    storage_class: str
    csi_driver_role: IamRole

    def __init__(
        self,
        name: str,
        *,
        cluster_name: str,
        version: str,
        subnet_ids: Sequence[pulumi.Input[str]],
        api_allowed_cidrs: Sequence[str],
        system_instance_type: str,
        system_nodes: int,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster_role = IamRole(f"{name}-cluster", trust=EKS_TRUST, description="Switchboard: the EKS control plane",
                               managed_policies=[aws_policy("AmazonEKSClusterPolicy")], opts=child)
        cluster = aws.eks.Cluster(
            name,
            name=cluster_name,
            role_arn=cluster_role.arn,
            version=version,
            vpc_config={
                "subnet_ids": list(subnet_ids),
                "endpoint_private_access": True,
                # Public only for the operator's networks (pulumi and kubectl); none named: private only.
                "endpoint_public_access": bool(api_allowed_cidrs),
                **({"public_access_cidrs": list(api_allowed_cidrs)} if api_allowed_cidrs else {}),
            },
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            # The add-ons below are EKS-managed; self-managed copies would fight them.
            bootstrap_self_managed_addons=False,
            enabled_cluster_log_types=LOG_TYPES,
            upgrade_policy={"support_type": "STANDARD"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_role]),
        )

        def addon(addon_name: str, after: Sequence[pulumi.Resource] = (), **args: object) -> aws.eks.Addon:
            return aws.eks.Addon(f"{name}-{addon_name}", cluster_name=cluster.name, addon_name=addon_name,
                                 resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
                                 opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)), **args)

        # Before nodes: a node without its CNI never turns Ready.
        before_nodes = [
            addon("vpc-cni", configuration_values=json.dumps({"enableNetworkPolicy": "true"})),
            addon("kube-proxy"),
            addon("eks-pod-identity-agent"),
        ]
        system_role = node_role(f"{name}-system-node", opts=child)
        system = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=system_role.arn,
            subnet_ids=list(subnet_ids),
            instance_types=[system_instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            # Fixed: nothing autoscales this group; Karpenter adds nodes for whatever does not fit here.
            scaling_config={"min_size": system_nodes, "desired_size": system_nodes, "max_size": system_nodes},
            update_config={"max_unavailable": 1},
            labels=SYSTEM_POOL,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*before_nodes, system_role]),
        )
        # The add-on makes the association itself; it waits for the role and every policy on it.
        csi_role = IamRole(f"{name}-ebs-csi", trust=POD_IDENTITY_TRUST, description="Switchboard: the EBS CSI driver",
                           managed_policies=[aws_policy("service-role/AmazonEBSCSIDriverPolicy")], opts=child)
        self.csi_driver_role = csi_role
        after_nodes = [
            addon("coredns", after=[system]),
            addon("aws-ebs-csi-driver", after=[system, csi_role],
                  pod_identity_associations=[{"role_arn": csi_role.arn, "service_account": EBS_CSI_SERVICE_ACCOUNT}],
                  configuration_values=json.dumps({"controller": {"extraVolumeTags": dict(tags)}})),
            addon("metrics-server", after=[system]),
        ]

        self.name = cluster.name
        self.arn = cluster.arn
        self.security_group_id = cluster.vpc_config.cluster_security_group_id
        self.kubeconfig = pulumi.Output.secret(
            kubeconfig(cluster.name, cluster.endpoint, cluster.certificate_authority.data))
        # Every Kubernetes object waits for nodes and add-ons: their controllers and webhooks must be running.
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[system, *after_nodes]))
        self.storage_class = GP3
        k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata={"name": GP3, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner=EBS_CSI,
            # The volume is made in the zone of the pod's node, and Karpenter puts a restarted pod's node in the
            # zone of its volume: an EBS volume never strands a pod in another zone.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            parameters={"type": "gp3", "encrypted": "true",
                        **{f"tagSpecification_{i}": f"{k}={v}" for i, (k, v) in enumerate(tags.items(), 1)}},
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        self.register_outputs({"name": self.name, "kubeconfig": self.kubeconfig})

