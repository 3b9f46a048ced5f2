"""The AWS Load Balancer Controller: it serves Services of class `service.k8s.aws/nlb` (the router's NLB, with IP
targets, health checks on /readyz and TLS from ACM) and injects the readiness gates that keep a rolling update
from removing the last healthy target. Without it a LoadBalancer Service of that class never gets an address.

Its IAM policy is upstream's `docs/install/iam_policy.json` of the pinned version, vendored unchanged in
`infra/policies/`: writes to a load balancer, target group or security group need the `elbv2.k8s.aws/cluster`
tag the controller puts on what it creates, and tags on them can be changed only on what already carries it.

The Service mutating webhook is off (`enableServiceMutatorWebhook: false`): it intercepts every Service
created anywhere (failurePolicy Fail), so while the controller is not yet serving, other charts' Services
would fail; the router's Service names `loadBalancerClass` itself, which is all the webhook would add."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.components.base import Component
from infra.components.iam import POD_IDENTITY_TRUST, IamRole, PodIdentity
from infra.components.k8s import SYSTEM_POOL

CHART = "aws-load-balancer-controller"
CHART_VERSION = versions.LOAD_BALANCER_CONTROLLER.version
REPOSITORY = "https://aws.github.io/eks-charts"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
LOAD_BALANCER_CLASS = "service.k8s.aws/nlb"
LABELS = {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": CHART}
METRICS_PORT = "metrics-server"
POLICY_FILE = Path(__file__).resolve().parents[1] / "policies" / f"{CHART}-v{CHART_VERSION}.json"
STATEMENTS = json.loads(POLICY_FILE.read_text())["Statement"]


class LoadBalancerController(Component):
    release: k8s.helm.v3.Release
    role: IamRole

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
        super().__init__("switchboard:infra:LoadBalancerController", name, opts)
        self.role = IamRole(name, trust=POD_IDENTITY_TRUST, description="Switchboard: the AWS Load Balancer Controller",
                            statements=STATEMENTS, pod_identity=PodIdentity(cluster_name, NAMESPACE, SERVICE_ACCOUNT),
                            opts=self.child())
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
                "enableServiceMutatorWebhook": False,
                "nodeSelector": SYSTEM_POOL,
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            },
            opts=self.child(provider=k8s_provider, depends_on=[self.role]),
        )
        self.register_outputs({})
