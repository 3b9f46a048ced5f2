"""Karpenter: nodes made for pending pods and removed when empty, so GPU nodes exist only while vLLM runs, and
router pods beyond what the system nodes hold get a node within a minute or two.

The controller runs on the fixed system node group (never on nodes it manages), with its role through Pod
Identity. Its policy is upstream's (the getting-started CloudFormation of the pinned version, statement by
statement): it launches, tags and terminates only instances tagged for this cluster and a NodePool, reads SSM
parameters only under /aws/service/, and may list instance profiles (the EC2NodeClass finalizer does, on
delete). Nodes join through an EKS access entry for their role, in the private subnets tagged for discovery
and with the cluster security group. An SQS queue fed by EventBridge warns Karpenter of spot interruptions and
maintenance.

The CRDs come from the `karpenter-crd` chart (Helm upgrades those; a chart's crds/ folder is installed once),
and the controller's chart skips its own copy. The node classes and the `general` pool wait for the controller
and its role, so on `pulumi destroy` they are deleted while Karpenter can still drain and terminate their
nodes and delete their instance profiles."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import versions
from infra.components.base import Component
from infra.components.iam import POD_IDENTITY_TRUST, IamRole, PodIdentity, node_role
from infra.components.k8s import GENERAL_POOL, SYSTEM_POOL
from infra.components.network import KARPENTER_DISCOVERY_TAG

REGISTRY = "oci://public.ecr.aws/karpenter"
CHART = f"{REGISTRY}/karpenter"
CRD_CHART = f"{REGISTRY}/karpenter-crd"
CHART_VERSION = versions.KARPENTER.version
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
LABELS = {"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"}
METRICS_PORT = "http-metrics"
NODE_CLASS_API = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass"}
INTERRUPTION_EVENTS = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "reservation": {"source": ["aws.ec2"],
                    "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"]},
}


def controller_statements(*, partition: str, region: str, account: str, cluster_name: str, node_role_arn: str,
                          queue_arn: str) -> list[dict]:
    """Upstream's controller policy (v1.14 CloudFormation: NodeLifecycle, IAMIntegration, EKSIntegration,
    Interruption, ZonalShift and ResourceDiscovery policies), for this cluster, region and account."""
    ec2 = f"arn:{partition}:ec2:{region}"
    profiles = f"arn:{partition}:iam::{account}:instance-profile/*"
    cluster_arn = f"arn:{partition}:eks:{region}:{account}:cluster/{cluster_name}"
    owned_tag = f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}"
    request_tag = f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}"
    tagged_kinds = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface",
                                                     "launch-template", "spot-instances-request")]
    return [
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow",
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*",
                      f"{ec2}:*:capacity-reservation/*", f"{ec2}:*:placement-group/*"],
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Resource": f"{ec2}:*:launch-template/*", "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Condition": {"StringEquals": {owned_tag: "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow", "Resource": tagged_kinds,
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
         "Condition": {"StringEquals": {request_tag: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster_name},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Resource": tagged_kinds,
         "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": {request_tag: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Resource": f"{ec2}:*:instance/*",
         "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": {owned_tag: "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                       "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim",
                                                                     "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow",
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Condition": {"StringEquals": {owned_tag: "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Resource": node_role_arn, "Action": "iam:PassRole",
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}}},
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow", "Resource": profiles,
         "Action": ["iam:CreateInstanceProfile"],
         "Condition": {"StringEquals": {request_tag: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                                        "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileTagActions", "Effect": "Allow", "Resource": profiles,
         "Action": ["iam:TagInstanceProfile"],
         "Condition": {"StringEquals": {owned_tag: "owned", "aws:ResourceTag/topology.kubernetes.io/region": region,
                                        request_tag: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                                        "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                                      "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow", "Resource": profiles,
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
         "Condition": {"StringEquals": {owned_tag: "owned", "aws:ResourceTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Resource": cluster_arn,
         "Action": "eks:DescribeCluster"},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow", "Resource": queue_arn,
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]},
        {"Sid": "AllowZonalShiftStatusReadOnly", "Effect": "Allow", "Resource": "*",
         "Action": ["arc-zonal-shift:GetManagedResource"],
         "Condition": {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": cluster_arn}}},
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets"],
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow",
         "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*", "Action": "ssm:GetParameter"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Resource": "*", "Action": "pricing:GetProducts"},
        {"Sid": "AllowUnscopedInstanceProfileListAction", "Effect": "Allow", "Resource": "*",
         "Action": "iam:ListInstanceProfiles"},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Resource": profiles,
         "Action": "iam:GetInstanceProfile"},
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


class Karpenter(Component):
    crds: k8s.helm.v3.Release
    release: k8s.helm.v3.Release
    controller_role: IamRole
    node_role: IamRole
    ready: list[pulumi.Resource]  # what a NodePool waits for: the controller, its role, the nodes' role and entry
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
        super().__init__("switchboard:infra:Karpenter", name, opts)
        # The name as an output of the cluster, so what registers with it waits for it to exist.
        existing_cluster = pulumi.Output.from_input(cluster_arn).apply(lambda _: cluster_name)
        self.node_role = node_role(f"{name}-node", opts=self.child())
        entry = aws.eks.AccessEntry(f"{name}-node", cluster_name=existing_cluster, principal_arn=self.node_role.arn,
                                    type="EC2_LINUX", opts=self.child())

        queue = aws.sqs.Queue(name, message_retention_seconds=300, sqs_managed_sse_enabled=True, opts=self.child())
        aws.sqs.QueuePolicy(name, queue_url=queue.url, policy=queue.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17", "Id": "EC2InterruptionPolicy", "Statement": [
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn,
                 "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}},
                {"Sid": "DenyHTTP", "Effect": "Deny", "Action": "sqs:*", "Resource": arn, "Principal": "*",
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})), opts=self.child())
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{event}", event_pattern=json.dumps(pattern), opts=self.child())
            aws.cloudwatch.EventTarget(f"{name}-{event}", rule=rule.name, arn=queue.arn, opts=self.child())

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self))
        statements = pulumi.Output.all(partition.partition, identity.account_id, self.node_role.arn, queue.arn).apply(
            lambda v: controller_statements(partition=v[0], region=region, account=v[1], cluster_name=cluster_name,
                                            node_role_arn=v[2], queue_arn=v[3]))
        self.controller_role = IamRole(
            f"{name}-controller", trust=POD_IDENTITY_TRUST, description="Switchboard: the Karpenter controller",
            statements=statements, opts=self.child(),
            pod_identity=PodIdentity(existing_cluster, NAMESPACE, SERVICE_ACCOUNT))
        on_cluster = self.child(provider=k8s_provider)
        self.crds = k8s.helm.v3.Release(f"{name}-crd", name="karpenter-crd", chart=CRD_CHART, version=CHART_VERSION,
                                        namespace=NAMESPACE, opts=on_cluster)
        self.release = k8s.helm.v3.Release(
            name,
            name="karpenter",
            chart=CHART,
            version=CHART_VERSION,
            namespace=NAMESPACE,
            skip_crds=True,  # karpenter-crd owns them
            values={
                "settings": {"clusterName": cluster_name, "interruptionQueue": queue.name},
                "replicas": replicas,
                "serviceAccount": {"name": SERVICE_ACCOUNT},
                # The chart also keeps it off Karpenter's own nodes (karpenter.sh/nodepool DoesNotExist).
                "nodeSelector": SYSTEM_POOL,
                "controller": {"resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                                             "limits": {"cpu": "1", "memory": "1Gi"}}},
            },
            opts=self.child(provider=k8s_provider, depends_on=[self.crds, self.controller_role]),
        )
        self.ready = [self.release, self.controller_role, self.node_role, entry]
        after_release = self.child(provider=k8s_provider, depends_on=self.ready)
        self.general_node_class, self.gpu_node_class = "general", "gpu"
        for node_class, disk in ((self.general_node_class, 50), (self.gpu_node_class, gpu_disk_gib)):
            k8s.apiextensions.CustomResource(
                f"{name}-{node_class}-class", api_version="karpenter.k8s.aws/v1", kind="EC2NodeClass",
                metadata={"name": node_class},
                spec=node_class_spec(self.node_role.name, cluster_name, security_group_id, disk, tags),
                opts=after_release)
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
