"""The AWS Load Balancer Controller: it serves Services of class `service.k8s.aws/nlb` (the router's NLB, with
IP targets, health checks on /readyz and TLS from ACM) and injects the readiness gates that keep a rolling update
from removing the last healthy target. Without it a LoadBalancer Service of that class never gets an address.

The IAM policy follows the controller's published `iam_policy.json` (v2.14): reads are unscoped, and every write to
a load balancer, target group or security group is limited to those tagged `elbv2.k8s.aws/cluster` by the
controller itself.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from infra.components.iam import pod_role, policy
from infra.components.k8s import SYSTEM_POOL

CHART = "aws-load-balancer-controller"
CHART_VERSION = "1.14.0"  # controller v2.14.0
REPOSITORY = "https://aws.github.io/eks-charts"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
LOAD_BALANCER_CLASS = "service.k8s.aws/nlb"

_ELB = "elasticloadbalancing"
_TAGGED_BY_CONTROLLER = {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
_TAGGING_ON_CREATE = {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}
_ELB_ARNS = [f"arn:aws:{_ELB}:*:*:{kind}" for kind in (
    "targetgroup/*/*", "loadbalancer/net/*/*", "loadbalancer/app/*/*", "listener/net/*/*/*", "listener/app/*/*/*",
    "listener-rule/net/*/*/*", "listener-rule/app/*/*/*")]
STATEMENTS = [
    {"Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
     "Condition": {"StringEquals": {"iam:AWSServiceName": f"{_ELB}.amazonaws.com"}}},
    {"Effect": "Allow", "Resource": "*", "Action": [
        *(f"ec2:{a}" for a in ("DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones",
                               "DescribeInternetGateways", "DescribeVpcs", "DescribeVpcPeeringConnections",
                               "DescribeSubnets", "DescribeSecurityGroups", "DescribeInstances",
                               "DescribeNetworkInterfaces", "DescribeTags", "DescribeRouteTables",
                               "GetCoipPoolUsage", "DescribeCoipPools", "GetSecurityGroupsForVpc",
                               "DescribeIpamPools")),
        *(f"{_ELB}:{a}" for a in ("DescribeLoadBalancers", "DescribeLoadBalancerAttributes", "DescribeListeners",
                                  "DescribeListenerCertificates", "DescribeSSLPolicies", "DescribeRules",
                                  "DescribeTargetGroups", "DescribeTargetGroupAttributes", "DescribeTargetHealth",
                                  "DescribeTags", "DescribeTrustStores", "DescribeListenerAttributes",
                                  "DescribeCapacityReservation")),
        "acm:ListCertificates", "acm:DescribeCertificate", "iam:ListServerCertificates", "iam:GetServerCertificate",
        "cognito-idp:DescribeUserPoolClient", "shield:GetSubscriptionState", "shield:DescribeProtection",
        "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "waf-regional:GetWebACL",
        "waf-regional:GetWebACLForResource"]},
    {"Effect": "Allow", "Resource": "*", "Action": [
        "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "waf-regional:AssociateWebACL",
        "waf-regional:DisassociateWebACL", "shield:CreateProtection", "shield:DeleteProtection"]},
    # Rules on the nodes' security group (which the controller does not own) let the NLB reach the pods.
    {"Effect": "Allow", "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
                                   "ec2:CreateSecurityGroup"], "Resource": "*"},
    {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "arn:aws:ec2:*:*:security-group/*",
     "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **_TAGGING_ON_CREATE}},
    {"Effect": "Allow", "Action": ["ec2:CreateTags", "ec2:DeleteTags"], "Resource": "arn:aws:ec2:*:*:security-group/*",
     "Condition": {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "true",
                            "aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}},
    {"Effect": "Allow", "Action": "ec2:DeleteSecurityGroup", "Resource": "*", "Condition": _TAGGED_BY_CONTROLLER},
    {"Effect": "Allow", "Action": [f"{_ELB}:CreateLoadBalancer", f"{_ELB}:CreateTargetGroup"], "Resource": "*",
     "Condition": _TAGGING_ON_CREATE},
    {"Effect": "Allow", "Action": [f"{_ELB}:{a}" for a in ("CreateListener", "DeleteListener", "CreateRule",
                                                            "DeleteRule")], "Resource": "*"},
    {"Effect": "Allow", "Action": [f"{_ELB}:AddTags", f"{_ELB}:RemoveTags"], "Resource": _ELB_ARNS},
    {"Effect": "Allow", "Resource": "*", "Condition": _TAGGED_BY_CONTROLLER, "Action": [
        f"{_ELB}:{a}" for a in ("ModifyLoadBalancerAttributes", "SetIpAddressType", "SetSecurityGroups", "SetSubnets",
                                "DeleteLoadBalancer", "ModifyTargetGroup", "ModifyTargetGroupAttributes",
                                "DeleteTargetGroup", "ModifyListenerAttributes", "ModifyCapacityReservation",
                                "ModifyIpPools")]},
    {"Effect": "Allow", "Action": [f"{_ELB}:RegisterTargets", f"{_ELB}:DeregisterTargets"],
     "Resource": f"arn:aws:{_ELB}:*:*:targetgroup/*/*"},
    {"Effect": "Allow", "Resource": "*", "Action": [
        f"{_ELB}:{a}" for a in ("SetWebAcl", "ModifyListener", "AddListenerCertificates",
                                "RemoveListenerCertificates", "ModifyRule", "SetRulePriorities")]},
]


class LoadBalancerController(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(
        self,
        name: str,
        *,
        cluster_name: pulumi.Input[str],
        vpc_id: pulumi.Input[str],
        region: str,
        replicas: int,
        tags: Mapping[str, str],
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:LoadBalancerController", name, None, opts)
        access = policy(name, STATEMENTS, self, "Switchboard: the AWS Load Balancer Controller")
        controller_role = pod_role(name, self, cluster_name=cluster_name, namespace=NAMESPACE,
                                   service_account=SERVICE_ACCOUNT, policy_arns=[access.arn],
                                   description="Switchboard: the AWS Load Balancer Controller")
        self.release = k8s.helm.v3.Release(
            name,
            name=CHART,
            chart=CHART,
            version=CHART_VERSION,
            repository_opts={"repo": REPOSITORY},
            namespace=NAMESPACE,
            values={
                "clusterName": cluster_name,
                "region": region,
                "vpcId": vpc_id,  # given, so the controller needs no instance metadata
                "replicaCount": replicas,
                "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
                "defaultTags": dict(tags),  # on every load balancer, target group and security group it makes
                "nodeSelector": SYSTEM_POOL,
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            },
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[controller_role]),
        )
        self.register_outputs({})
