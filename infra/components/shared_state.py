"""Redis for breakers, limits, cache and the job queue: ElastiCache (TLS, an AUTH token, reachable only from the
cluster's nodes), or a small in-cluster one for dev (a password, reachable only from Switchboard's pods).

Either way the URL, password included, reaches the pods from the Kubernetes Secret `redis-url` (key `url`), never
from a ConfigMap or a plain environment value.

The callers' API keys (hashed), budgets and jobs live here, so ElastiCache keeps daily snapshots
(`snapshot_days`, 7 in prod) and a final one when the group is deleted, named with a suffix generated once so a
second destroy of a re-created stack does not collide with the first one's snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import versions
from infra.components.base import Component
from infra.components.k8s import container_security, pod_security

# Redis 7.4.9: fixes CVE-2025-49844 (7.4.6) and the May 2026 Lua/HyperLogLog advisories (versions.REDIS).
REDIS_IMAGE = (f"redis:{versions.REDIS.version}-alpine"
               "@sha256:6ab0b6e7381779332f97b8ca76193e45b0756f38d4c0dcda72dbb3c32061ab99")
LABELS = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/part-of": "switchboard"}
URL_SECRET = "redis-url"
URL_KEY = "url"


class SharedState(Component):
    url_secret: k8s.core.v1.Secret

    def __init__(
        self,
        name: str,
        *,
        mode: str,
        namespace: str,
        k8s_provider: k8s.Provider,
        subnet_ids: Sequence[pulumi.Input[str]] = (),
        vpc_id: pulumi.Input[str] | None = None,
        node_security_group_id: pulumi.Input[str] | None = None,
        node_type: str = "cache.t4g.small",
        snapshot_days: int = 0,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:SharedState", name, opts)
        password = random.RandomPassword(f"{name}-auth", length=64, special=False, opts=self.child()).result
        if mode == "elasticache":
            url = self._elasticache(name, password, subnet_ids, vpc_id, node_security_group_id, node_type,
                                    snapshot_days)
        else:
            url = self._in_cluster(name, password, namespace, k8s_provider)
        self.url_secret = k8s.core.v1.Secret(
            f"{name}-url", metadata={"name": URL_SECRET, "namespace": namespace, "labels": LABELS},
            string_data={URL_KEY: pulumi.Output.secret(url)},
            opts=self.child(provider=k8s_provider))
        self.register_outputs({})

    def _elasticache(self, name: str, password: pulumi.Output[str], subnet_ids: Sequence[pulumi.Input[str]],
                     vpc_id: pulumi.Input[str] | None, node_security_group_id: pulumi.Input[str] | None,
                     node_type: str, snapshot_days: int) -> pulumi.Output[str]:
        child = self.child()
        subnets = aws.elasticache.SubnetGroup(name, subnet_ids=list(subnet_ids),
                                              description="Switchboard Redis: the private subnets", opts=child)
        group = aws.ec2.SecurityGroup(
            f"{name}-redis", vpc_id=vpc_id, description="Switchboard Redis: from the cluster's nodes only",
            ingress=[{"protocol": "tcp", "from_port": 6379, "to_port": 6379,
                      "security_groups": [node_security_group_id], "description": "EKS nodes (pods use node SGs)"}],
            opts=child,
        )
        redis = aws.elasticache.ReplicationGroup(
            name,
            description="Switchboard shared state and job queue",
            engine="redis",
            engine_version=versions.ELASTICACHE_REDIS.version,
            node_type=node_type,
            num_cache_clusters=2,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            transit_encryption_enabled=True,  # AUTH needs TLS; the token never crosses the wire in the clear
            auth_token=password,
            at_rest_encryption_enabled=True,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            snapshot_retention_limit=snapshot_days,
            **({"snapshot_window": "03:00-05:00",
                "final_snapshot_identifier": random.RandomId(f"{name}-final", byte_length=4, prefix=f"{name}-final-",
                                                             opts=child).hex} if snapshot_days else {}),
            opts=child,
        )
        return pulumi.Output.all(password, redis.primary_endpoint_address).apply(
            lambda v: f"rediss://:{v[0]}@{v[1]}:6379/0?ssl_cert_reqs=required")

    def _in_cluster(self, name: str, password: pulumi.Output[str], namespace: str,
                    provider: k8s.Provider) -> pulumi.Output[str]:
        child = self.child(provider=provider)
        # The password lives in a mounted config file, not in the command line or the environment.
        config = k8s.core.v1.Secret(
            f"{name}-config", metadata={"name": "redis-config", "namespace": namespace, "labels": LABELS},
            string_data={"redis.conf": password.apply(lambda p: f'requirepass {p}\nsave ""\nappendonly no\n'),
                         "password": password},
            opts=child)
        ping = 'REDISCLI_AUTH="$(cat /etc/redis/password)" redis-cli ping | grep -q PONG'
        k8s.apps.v1.Deployment(
            name,
            metadata={"name": "redis", "namespace": namespace, "labels": LABELS},
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
                        "args": ["/etc/redis/redis.conf"],
                        "ports": [{"name": "redis", "containerPort": 6379}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"cpu": "500m", "memory": "512Mi"}},
                        "securityContext": container_security(),
                        "readinessProbe": {"exec": {"command": ["sh", "-c", ping]}, "periodSeconds": 10},
                        "livenessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 20},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                         {"name": "config", "mountPath": "/etc/redis", "readOnly": True}],
                    }],
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                                {"name": "config", "secret": {"secretName": "redis-config", "defaultMode": 0o440}}],
                }},
            },
            opts=self.child(provider=provider, depends_on=[config]),
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
        return password.apply(lambda p: f"redis://:{p}@redis.{namespace}.svc.cluster.local:6379/0")
