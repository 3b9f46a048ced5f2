"""Redis for breakers, limits, cache and the job queue: ElastiCache, or a small in-cluster one for dev."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.k8s import checkov_skips, container_security, pod_security

REDIS_IMAGE = "redis:7.4.2-alpine@sha256:02419de7eddf55aa5bcf49efb74e88fa8d931b4d77c07eff8a6b2144472b6952"
LABELS = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/part-of": "switchboard"}


class SharedState(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        mode: str,
        namespace: str,
        k8s_provider: k8s.Provider,
        subnet_ids: Sequence[str] = (),
        vpc_cidr: pulumi.Input[str] | None = None,
        vpc_id: pulumi.Input[str] | None = None,
        node_type: str = "cache.t4g.small",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:SharedState", name, None, opts)
        if mode == "elasticache":
            self.url = self._elasticache(name, subnet_ids, vpc_id, vpc_cidr, node_type)
        else:
            self.url = pulumi.Output.from_input(self._in_cluster(name, namespace, k8s_provider))
        self.register_outputs({"url": self.url})

    def _elasticache(self, name: str, subnet_ids: Sequence[str], vpc_id: pulumi.Input[str] | None,
                     vpc_cidr: pulumi.Input[str] | None, node_type: str) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        subnets = aws.elasticache.SubnetGroup(name, subnet_ids=list(subnet_ids), opts=child)
        group = aws.ec2.SecurityGroup(
            f"{name}-redis", vpc_id=vpc_id, description="Switchboard Redis: reachable from the VPC only",
            ingress=[{"protocol": "tcp", "from_port": 6379, "to_port": 6379, "cidr_blocks": [vpc_cidr]}],
            opts=child,
        )
        redis = aws.elasticache.ReplicationGroup(
            name,
            description="Switchboard shared state and job queue",
            engine="redis",
            engine_version="7.1",
            node_type=node_type,
            num_cache_clusters=2,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            opts=child,
        )
        return redis.primary_endpoint_address.apply(lambda host: f"rediss://{host}:6379/0?ssl_cert_reqs=required")

    def _in_cluster(self, name: str, namespace: str, provider: k8s.Provider) -> str:
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        k8s.apps.v1.Deployment(
            name,
            metadata={"name": "redis", "namespace": namespace, "labels": LABELS,
                      "annotations": checkov_skips(CKV_K8S_43="pinned by digest in the tag@sha256 form")},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": LABELS},
                "template": {"metadata": {"labels": LABELS}, "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [{
                        "name": "redis",
                        "image": REDIS_IMAGE,
                        "imagePullPolicy": "Always",
                        "args": ["--save", "", "--appendonly", "no", "--protected-mode", "no"],
                        "ports": [{"name": "redis", "containerPort": 6379}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"cpu": "500m", "memory": "512Mi"}},
                        "securityContext": container_security(),
                        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10},
                        "livenessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 20},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }],
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
                }},
            },
            opts=child,
        )
        k8s.core.v1.Service(f"{name}-service", metadata={"name": "redis", "namespace": namespace, "labels": LABELS},
                            spec={"selector": LABELS, "ports": [{"name": "redis", "port": 6379, "targetPort": "redis"}]},
                            opts=child)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network",
            metadata={"name": "redis", "namespace": namespace},
            spec={"podSelector": {"matchLabels": LABELS}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "switchboard",
                                                                         "switchboard.dev/uses-redis": "true"}}}],
                               "ports": [{"port": 6379}]}]},
            opts=child,
        )
        return f"redis://redis.{namespace}.svc.cluster.local:6379/0"
