"""Every version this program pins, with the date its support ends (or the date it must be re-checked), where
that date comes from, and, for a controller that calls AWS, the IAM actions the pinned version calls
(upstream's list).

One table, so that a pinned version past its date fails a test (`tests/infra/test_versions.py`) instead of a
cluster quietly billing extended support or running a controller nobody patches. `support` dates are the
upstream's published end of support; `review` dates are for components without a published window: checked
current on `CHECKED`, to be checked again by then."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

CHECKED = datetime.date(2026, 12, 6)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    until: datetime.date
    kind: str  # "support": upstream's end of support; "review": no published window, re-check by then
    source: str
    iam_actions: tuple[str, ...] = field(default=())  # what the pinned version calls, from upstream's policy


# EKS standard support (AWS, "Understand the Kubernetes version lifecycle on EKS"): 14 months from the EKS release;
# after it a cluster bills $0.60/h instead of $0.10/h (extended support).
EKS_STANDARD_SUPPORT = {
    "1.33": datetime.date(2026, 7, 29),
    "1.34": datetime.date(2026, 12, 2),
    "1.35": datetime.date(2027, 3, 27),
}
KUBERNETES = Pin("EKS (Kubernetes)", "1.35", EKS_STANDARD_SUPPORT["1.35"], "support",
                 "docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html (1.35: released 2026-01-28)")

# Karpenter v1.14 is an LTS release (SUPPORT.md, "LTS versions table": v1.14, released Jul 2026, EOL Jul 2027);
# it supports Kubernetes 1.30-1.36 (compatibility matrix: 1.35 needs >= 1.9). The CRDs and the controller policy
# below are read from tag v1.14.1; 1.14.2 and 1.14.3 are bug-fix and dependency releases (their notes list no CRD
# or IAM change).
KARPENTER = Pin(
    "Karpenter (karpenter, karpenter-crd charts)", "1.14.3", datetime.date(2027, 7, 1), "support",
    "github.com/aws/karpenter-provider-aws SUPPORT.md; getting-started cloudformation.yaml at v1.14.1",
    iam_actions=(
        # NodeLifecyclePolicy
        "ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate", "ec2:CreateTags",
        "ec2:TerminateInstances", "ec2:DeleteLaunchTemplate",
        # IAMIntegrationPolicy
        "iam:PassRole", "iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile",
        # EKSIntegrationPolicy, InterruptionPolicy, ZonalShiftPolicy
        "eks:DescribeCluster", "sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage",
        "arc-zonal-shift:GetManagedResource",
        # ResourceDiscoveryPolicy (iam:ListInstanceProfiles: the EC2NodeClass finalizer lists profiles on delete)
        "ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
        "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets", "ssm:GetParameter", "pricing:GetProducts",
        "iam:ListInstanceProfiles", "iam:GetInstanceProfile",
    ),
)
KARPENTER_KUBERNETES = ("1.30", "1.36")  # the range v1.14 declares

# The v2 line is frozen (last release v2.17.1, January 2026); v3 is maintained. No published support window.
# The IAM policy is docs/install/iam_policy.json at v3.5.0 (identical to v2.14.0's), vendored beside the component.
LOAD_BALANCER_CONTROLLER = Pin(
    "AWS Load Balancer Controller (chart and controller)", "3.5.0", datetime.date(2027, 3, 27), "review",
    "github.com/kubernetes-sigs/aws-load-balancer-controller v3.5.0 (2026-08-03): helm chart, iam_policy.json",
    iam_actions=(
        "iam:CreateServiceLinkedRole", "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses",
        "ec2:DescribeAvailabilityZones", "ec2:DescribeInternetGateways", "ec2:DescribeVpcs",
        "ec2:DescribeVpcPeeringConnections", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
        "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage",
        "ec2:DescribeCoipPools", "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools",
        "ec2:DescribeRouteTables", "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeListenerCertificates", "elasticloadbalancing:DescribeSSLPolicies",
        "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTrustStores",
        "elasticloadbalancing:DescribeListenerAttributes", "elasticloadbalancing:DescribeCapacityReservation",
        "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
        "iam:ListServerCertificates", "iam:GetServerCertificate", "waf-regional:GetWebACL",
        "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
        "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
        "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection",
        "shield:DeleteProtection", "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
        "ec2:CreateSecurityGroup", "ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup",
        "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
        "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule", "elasticloadbalancing:AddTags",
        "elasticloadbalancing:RemoveTags", "elasticloadbalancing:ModifyLoadBalancerAttributes",
        "elasticloadbalancing:SetIpAddressType", "elasticloadbalancing:SetSecurityGroups",
        "elasticloadbalancing:SetSubnets", "elasticloadbalancing:DeleteLoadBalancer",
        "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes",
        "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:ModifyListenerAttributes",
        "elasticloadbalancing:ModifyCapacityReservation", "elasticloadbalancing:ModifyIpPools",
        "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
        "elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities",
    ),
)

# kube-prometheus-stack has no support window (only the newest chart is patched); its CRDs come from the
# prometheus-operator-crds chart of the same operator version (v0.93.1), which Helm upgrades (the other chart's
# crds/ folder is installed once and never upgraded).
PROMETHEUS_STACK = Pin("kube-prometheus-stack", "88.5.3", datetime.date(2027, 3, 27), "review",
                       "github.com/prometheus-community/helm-charts (2026-08-22; prometheus-operator v0.93.1)")
PROMETHEUS_CRDS = Pin("prometheus-operator-crds", "31.0.1", datetime.date(2027, 3, 27), "review",
                      "github.com/prometheus-community/helm-charts (prometheus-operator v0.93.1)")
PROMETHEUS_ADAPTER = Pin("prometheus-adapter", "5.3.0", datetime.date(2027, 3, 27), "review",
                         "github.com/prometheus-community/helm-charts (adapter v0.12.0)")
# The collector: traces to X-Ray and every pod's log lines to CloudWatch Logs.
COLLECTOR = Pin(
    "opentelemetry-collector chart", "0.170.0", datetime.date(2027, 3, 27), "review",
    "github.com/open-telemetry/opentelemetry-helm-charts (2026-08-20; collector-contrib 0.158.0); "
    "awscloudwatchlogs exporter: internal/aws/cwlogs/cwlog_client.go",
    iam_actions=("logs:PutLogEvents", "logs:CreateLogStream", "xray:PutTraceSegments", "xray:PutTelemetryRecords"),
)
DCGM_EXPORTER = Pin("NVIDIA dcgm-exporter chart", "4.8.2", datetime.date(2027, 3, 27), "review",
                    "github.com/NVIDIA/dcgm-exporter deployment/Chart.yaml (2026-05-12)")
DEVICE_PLUGIN = Pin("NVIDIA k8s-device-plugin image", "v0.17.0", datetime.date(2027, 3, 27), "review",
                    "nvcr.io/nvidia/k8s-device-plugin (no published advisory against v0.17.0 as of CHECKED)")
# vLLM: every release before 0.33.0 has a published advisory (GHSA-5r3c-5x4v-8gjh is fixed in 0.33.0; 0.32.0
# fixed CVE-2026-115911). The stack refuses an older vllmImage; its digest is the operator's to supply.
VLLM_MINIMUM = Pin("vLLM image (minimum)", "0.33.0", datetime.date(2027, 3, 27), "review",
                   "github.com/advisories (vllm): GHSA-5r3c-5x4v-8gjh, CVE-2026-115911, CVE-2026-105757")
# Redis 7.4.9 (May 2026) fixes the 2026 Lua and HyperLogLog RCEs; 7.4.6 fixed CVE-2025-49844.
REDIS = Pin("Redis image (dev, in-cluster)", "7.4.9", datetime.date(2027, 3, 27), "review",
            "redis.io release notes: Redis Community Edition 7.4.9 (May 2026)")
ELASTICACHE_REDIS = Pin("ElastiCache engine (prod)", "7.1", datetime.date(2027, 3, 27), "review",
                        "AWS applies engine security patches as service updates; re-check the engine's support")

PINS = (KUBERNETES, KARPENTER, LOAD_BALANCER_CONTROLLER, PROMETHEUS_STACK, PROMETHEUS_CRDS, PROMETHEUS_ADAPTER,
        COLLECTOR, DCGM_EXPORTER, DEVICE_PLUGIN, VLLM_MINIMUM, REDIS, ELASTICACHE_REDIS)


def version_tuple(version: str) -> tuple[int, ...]:
    """`v0.33.0` or `0.33.0.post1` as (0, 33, 0): enough to compare releases."""
    parts = []
    for part in version.lstrip("v").split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if not part.isdigit():
            break
    return tuple(parts)
