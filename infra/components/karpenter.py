"""Karpenter: nodes made for pending pods and removed when empty, so GPU nodes exist only while vLLM runs, and router
pods beyond what the system nodes hold get a node within a minute or two.

The controller runs on the fixed system node group (never on nodes it manages), with its role through Pod
Identity. Nodes join through an EKS access entry for their role, in the private subnets tagged for discovery and
with the cluster security group. An SQS queue fed by EventBridge warns Karpenter of spot interruptions and
scheduled maintenance, so it drains a node before AWS takes it.

Pools are NodePool objects: `general` here, the GPU pool in gpu_pool.py; both share the EC2NodeClass made here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.iam import node_role, pod_role, policy
from infra.components.k8s import GENERAL_POOL, SYSTEM_POOL
from infra.components.network import KARPENTER_DISCOVERY_TAG

CHART = "oci://public.ecr.aws/karpenter/karpenter"
CHART_VERSION = "1.8.1"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
NODE_CLASS_API = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass"}
INTERRUPTION_EVENTS = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}


def controller_statements(cluster_name: str, cluster_arn: str, region: str, node_role_arn: str,
                          queue_arn: str) -> list[dict]:
    """Karpenter's controller policy (its getting-started CloudFormation, v1): launch and terminate only what it
    tags, pass only the node role, manage only the instance profiles it created for this cluster."""
    owned = {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned",
                              "aws:ResourceTag/topology.kubernetes.io/region": region},
             "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}
    tagging = {"StringEquals": {f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
                                "aws:RequestTag/topology.kubernetes.io/region": region},
               "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}
    return [
        {"Sid": "Launch", "Effect": "Allow", "Resource": "*", "Action": [
            "ec2:CreateFleet", "ec2:CreateLaunchTemplate", "ec2:CreateTags", "ec2:DeleteLaunchTemplate",
            "ec2:RunInstances", "ec2:DescribeAvailabilityZones", "ec2:DescribeImages", "ec2:DescribeInstances",
            "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates",
            "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
            "ec2:DescribeCapacityReservations", "pricing:GetProducts", "ssm:GetParameter"]},
        {"Sid": "TerminateOwnNodes", "Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*",
         "Condition": {"StringLike": {"ec2:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "Interruptions", "Effect": "Allow", "Resource": queue_arn,
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:GetQueueAttributes"]},
        {"Sid": "PassNodeRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {"Sid": "FindCluster", "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": cluster_arn},
        {"Sid": "CreateInstanceProfiles", "Effect": "Allow", "Action": "iam:CreateInstanceProfile",
         "Resource": "*", "Condition": tagging},
        {"Sid": "TagInstanceProfiles", "Effect": "Allow", "Action": "iam:TagInstanceProfile", "Resource": "*",
         "Condition": {key: {**owned[key], **tagging[key]} for key in owned}},
        {"Sid": "ManageInstanceProfiles", "Effect": "Allow", "Resource": "*", "Condition": owned, "Action": [
            "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"]},
        {"Sid": "ReadInstanceProfiles", "Effect": "Allow", "Action": "iam:GetInstanceProfile", "Resource": "*"},
    ]


def node_class_spec(role_name: pulumi.Input[str], cluster_name: str, security_group_id: pulumi.Input[str],
                    disk_gib: int, tags: Mapping[str, str]) -> dict:
    return {
        "role": role_name,
        # Pin a tested AMI (al2023@vYYYYMMDD) in production; @latest rolls nodes when AWS publishes one.
        "amiSelectorTerms": [{"alias": "al2023@latest"}],
        "subnetSelectorTerms": [{"tags": {KARPENTER_DISCOVERY_TAG: cluster_name}}],
        "securityGroupSelectorTerms": [{"id": security_group_id}],
        # Room for a ~10 GB vLLM image and its unpacked layers, on gp3.
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {
            "volumeSize": f"{disk_gib}Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}}],
        # IMDSv2 only, one hop: pods get AWS credentials from Pod Identity, never from the node.
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1},
        "tags": dict(tags),
    }


class Karpenter(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    general_node_class: str
    gpu_node_class: str

    def __init__(
        self,
        name: str,
        *,
        cluster_name: str,
        cluster_arn: pulumi.Input[str],
        security_group_id: pulumi.Input[str],
        region: str,
        replicas: int,
        general_instance_types: Sequence[str],
        general_cpu_limit: int,
        gpu_disk_gib: int,
        tags: Mapping[str, str],
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:Karpenter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The name as an output of the cluster, so what registers with it waits for it to exist.
        existing_cluster = pulumi.Output.from_input(cluster_arn).apply(lambda _: cluster_name)
        nodes = node_role(f"{name}-node", self)
        aws.eks.AccessEntry(f"{name}-node", cluster_name=existing_cluster, principal_arn=nodes.arn,
                            type="EC2_LINUX", opts=child)

        queue = aws.sqs.Queue(name, message_retention_seconds=300, sqs_managed_sse_enabled=True, opts=child)
        aws.sqs.QueuePolicy(name, queue_url=queue.url, policy=queue.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn,
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}}]})), opts=child)
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{event}", event_pattern=json.dumps(pattern), opts=child)
            aws.cloudwatch.EventTarget(f"{name}-{event}", rule=rule.name, arn=queue.arn,
                                       opts=pulumi.ResourceOptions(parent=rule))

        statements = pulumi.Output.all(cluster_arn, nodes.arn, queue.arn).apply(
            lambda v: controller_statements(cluster_name, v[0], region, v[1], v[2]))
        access = policy(f"{name}-controller", statements, self, "Switchboard: the Karpenter controller")
        controller_role = pod_role(f"{name}-controller", self, cluster_name=existing_cluster, namespace=NAMESPACE,
                                   service_account=SERVICE_ACCOUNT, policy_arns=[access.arn],
                                   description="Switchboard: the Karpenter controller")
        self.release = k8s.helm.v3.Release(
            name,
            name="karpenter",
            chart=CHART,
            version=CHART_VERSION,
            namespace=NAMESPACE,
            values={
                "settings": {"clusterName": cluster_name, "interruptionQueue": queue.name},
                "replicas": replicas,
                "serviceAccount": {"name": SERVICE_ACCOUNT},
                # The chart also keeps it off Karpenter's own nodes (karpenter.sh/nodepool DoesNotExist).
                "nodeSelector": SYSTEM_POOL,
                "controller": {"resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                                             "limits": {"cpu": "1", "memory": "1Gi"}}},
            },
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[controller_role]),
        )
        after_release = pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[self.release])
        self.general_node_class, self.gpu_node_class = "general", "gpu"
        for node_class, disk in ((self.general_node_class, 50), (self.gpu_node_class, gpu_disk_gib)):
            k8s.apiextensions.CustomResource(
                f"{name}-{node_class}-class", api_version="karpenter.k8s.aws/v1", kind="EC2NodeClass",
                metadata={"name": node_class},
                spec=node_class_spec(nodes.name, cluster_name, security_group_id, disk, tags), opts=after_release)
        k8s.apiextensions.CustomResource(
            f"{name}-general", api_version="karpenter.sh/v1", kind="NodePool", metadata={"name": "general"},
            spec={
                "template": {
                    "metadata": {"labels": GENERAL_POOL},
                    "spec": {
                        "nodeClassRef": {**NODE_CLASS_API, "name": self.general_node_class},
                        "requirements": [
                            {"key": "node.kubernetes.io/instance-type", "operator": "In",
                             "values": list(general_instance_types)},
                            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        ],
                        "expireAfter": "720h",
                    },
                },
                "limits": {"cpu": str(general_cpu_limit)},
                "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "2m"},
            },
            opts=after_release,
        )
        self.register_outputs({})

