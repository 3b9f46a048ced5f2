"""`pulumi up`: read the stack config once, compose the components, export the endpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `infra` as a package, run by the CLI

from infra import config as stack_config  # noqa: E402
from infra.components.cluster import Cluster  # noqa: E402
from infra.components.gpu_pool import GpuNodePool  # noqa: E402
from infra.components.k8s import MONITORING_NAMESPACE  # noqa: E402
from infra.components.karpenter import Karpenter  # noqa: E402
from infra.components.load_balancer_controller import LoadBalancerController  # noqa: E402
from infra.components.network import Network, eks_zones  # noqa: E402
from infra.components.observability import Observability, ScrapeTarget  # noqa: E402
from infra.components.provider_secrets import AdminKey, ProviderSecrets  # noqa: E402
from infra.components.router import ROUTER, RouterService  # noqa: E402
from infra.components.shared_state import SharedState  # noqa: E402
from infra.components.vllm_server import LABELS as VLLM_LABELS  # noqa: E402
from infra.components.vllm_server import VllmServer  # noqa: E402
from infra.routing_config import render  # noqa: E402

cfg = stack_config.load()
routing = render(cfg)

# Every AWS resource goes through this provider, so every one carries the stack's tags.
aws_provider = aws.Provider("aws", region=cfg.region, default_tags={"tags": cfg.tags})
on_aws = pulumi.ResourceOptions(providers=[aws_provider])
controller_replicas = min(2, cfg.nodes.system_nodes)

network = Network(cfg.prefix, cidr=cfg.network.cidr, region=cfg.region,
                  zones=eks_zones(aws_provider, cfg.network.availability_zones),
                  nat_per_az=cfg.network.nat_per_az, cluster_name=cfg.prefix, opts=on_aws)
cluster = Cluster(cfg.prefix, cluster_name=cfg.prefix, version=cfg.kubernetes_version,
                  subnet_ids=network.private_subnet_ids, api_allowed_cidrs=cfg.network.api_allowed_cidrs,
                  system_instance_type=cfg.nodes.system_instance_type, system_nodes=cfg.nodes.system_nodes,
                  tags=cfg.tags, opts=on_aws)
load_balancers = LoadBalancerController(
    f"{cfg.prefix}-lbc", cluster_name=cluster.name, vpc_id=network.vpc_id, region=cfg.region,
    replicas=controller_replicas, tags=cfg.tags, k8s_provider=cluster.provider, opts=on_aws)
karpenter = Karpenter(
    f"{cfg.prefix}-karpenter", cluster_name=cfg.prefix, cluster_arn=cluster.arn,
    security_group_id=cluster.security_group_id, region=cfg.region, replicas=controller_replicas,
    general_instance_types=cfg.nodes.general_instance_types, general_cpu_limit=cfg.nodes.general_cpu_limit,
    gpu_disk_gib=cfg.gpu.disk_gib, tags=cfg.tags, k8s_provider=cluster.provider, opts=on_aws)

namespace = k8s.core.v1.Namespace(
    "namespace", metadata={"name": cfg.namespace, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        # The load balancer controller holds a rolling pod's readiness until its NLB target is healthy.
        "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}},
    opts=pulumi.ResourceOptions(provider=cluster.provider))

targets = [ScrapeTarget("switchboard-router", cfg.namespace, ROUTER, "metrics")]
if cfg.gpu.enabled:
    targets.append(ScrapeTarget("vllm", cfg.namespace, VLLM_LABELS, "http"))
observability = Observability(
    f"{cfg.prefix}-observability", cluster_name=cluster.name, region=cfg.region,
    storage_class=cluster.storage_class, retention=cfg.observability.prometheus_retention,
    storage=cfg.observability.prometheus_storage, replicas=controller_replicas, targets=targets,
    k8s_provider=cluster.provider, opts=on_aws)

secrets_path = f"{cfg.project}/{cfg.stack}"
secrets = ProviderSecrets(f"{cfg.prefix}-keys", path=secrets_path, keys=cfg.provider_keys, opts=on_aws)
admin_key = AdminKey(f"{cfg.prefix}-admin-key", path=secrets_path, value=cfg.admin_key, opts=on_aws)

in_namespace: list[pulumi.Resource] = [namespace]
vllm_url = None
if cfg.gpu.enabled:
    GpuNodePool(f"{cfg.prefix}-gpu", pool=cfg.gpu, node_class=karpenter.gpu_node_class, karpenter=karpenter.release,
                k8s_provider=cluster.provider)
    vllm = VllmServer(
        f"{cfg.prefix}-vllm", namespace=cfg.namespace, model=cfg.vllm, gpus=cfg.gpu.gpus_per_pod,
        storage_class=cluster.storage_class,
        api_key=random.RandomPassword(f"{cfg.prefix}-vllm-api-key", length=48, special=False).result,
        hf_token=cfg.hf_token, k8s_provider=cluster.provider,
        opts=pulumi.ResourceOptions(depends_on=[namespace, karpenter.release]))
    in_namespace.append(vllm.api_key_secret)
    vllm_url = vllm.url

state = SharedState(f"{cfg.prefix}-redis", mode=cfg.redis_mode, namespace=cfg.namespace,
                    k8s_provider=cluster.provider, subnet_ids=network.private_subnet_ids, vpc_id=network.vpc_id,
                    node_security_group_id=cluster.security_group_id, node_type=cfg.redis_node_type,
                    opts=pulumi.ResourceOptions(providers=[aws_provider], depends_on=[namespace]))

router = RouterService(
    f"{cfg.prefix}-router",
    namespace=cfg.namespace,
    stack=cfg.stack,
    region=cfg.region,
    cluster_name=cluster.name,
    settings=cfg.router,
    routing_config=routing.yaml(),
    shutdown_grace_s=routing.shutdown_grace_s,
    secret_arns=secrets.arns,
    admin_key_arn=admin_key.arn,
    calls_vllm=cfg.gpu.enabled,
    otlp_endpoint=observability.otlp_endpoint,
    trace_sample_ratio=cfg.observability.trace_sample_ratio,
    k8s_provider=cluster.provider,
    # The controller's webhook must be up before pods of a readiness-gated namespace are made.
    opts=pulumi.ResourceOptions(providers=[aws_provider],
                                depends_on=[*in_namespace, state.url_secret, load_balancers.release]),
)

pulumi.export("routerEndpoint", router.endpoint)
pulumi.export("routerExposure", cfg.router.exposure)
pulumi.export("routerRoleArn", router.role_arn)
pulumi.export("adminKeySecretArn", admin_key.arn)
pulumi.export("vllmUrl", vllm_url)
pulumi.export("failoverChains", routing.chains())
pulumi.export("providerSecretArns", secrets.arns)
pulumi.export("clusterName", cluster.name)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("grafana", f"kubectl -n {MONITORING_NAMESPACE} port-forward svc/kube-prometheus-stack-grafana 3000:80")
pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
