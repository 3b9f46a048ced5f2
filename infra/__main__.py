"""`pulumi up`: read the stack config once, compose the components, export the endpoints.

The order is the dependency graph below; `pulumi destroy` walks it backwards, so every controller (and its IAM role)
outlives what it cleans up. docs/deploy.md tells it step by step.
- network -> cluster (roles, add-ons, system nodes, the Kubernetes provider every object uses)
- the load balancer controller -> the `switchboard` namespace -> everything in it (its pods get the controller's
  readiness gates, and the router's NLB is deleted while the controller can still delete it)
- Karpenter (CRDs, role, node role and access entry) -> node pools -> vLLM
- monitoring CRDs -> kube-prometheus-stack -> monitors, rules, prometheus-adapter; the DCGM exporter
- each workload -> its IamRole (role, policies, Pod Identity association)
"""

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
from infra.components.karpenter import LABELS as KARPENTER_LABELS  # noqa: E402
from infra.components.karpenter import METRICS_PORT as KARPENTER_METRICS  # noqa: E402
from infra.components.karpenter import NAMESPACE as KARPENTER_NAMESPACE  # noqa: E402
from infra.components.karpenter import Karpenter  # noqa: E402
from infra.components.load_balancer_controller import LABELS as LBC_LABELS  # noqa: E402
from infra.components.load_balancer_controller import METRICS_PORT as LBC_METRICS  # noqa: E402
from infra.components.load_balancer_controller import NAMESPACE as LBC_NAMESPACE  # noqa: E402
from infra.components.load_balancer_controller import LoadBalancerController  # noqa: E402
from infra.components.monitoring import Monitoring, ScrapeTarget  # noqa: E402
from infra.components.network import Network, eks_zones  # noqa: E402
from infra.components.provider_secrets import AdminKey, ProviderSecrets  # noqa: E402
from infra.components.router import ROUTER, RouterService  # noqa: E402
from infra.components.shared_state import SharedState  # noqa: E402
from infra.components.telemetry import Telemetry  # noqa: E402
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

# The controller's pod webhook adds readiness gates to this namespace's pods: it must be serving before any is
# made (it fails open, silently). And its NLB is deleted with this namespace, while the controller still runs.
namespace = k8s.core.v1.Namespace(
    "namespace", metadata={"name": cfg.namespace, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}},
    opts=pulumi.ResourceOptions(provider=cluster.provider, depends_on=[load_balancers]))

targets = [ScrapeTarget("switchboard-router", cfg.namespace, ROUTER, "metrics"),
           ScrapeTarget("karpenter", KARPENTER_NAMESPACE, KARPENTER_LABELS, KARPENTER_METRICS),
           ScrapeTarget("aws-load-balancer-controller", LBC_NAMESPACE, LBC_LABELS, LBC_METRICS)]
if cfg.gpu.enabled:
    targets.append(ScrapeTarget("vllm", cfg.namespace, VLLM_LABELS, "http"))
monitoring = Monitoring(
    f"{cfg.prefix}-monitoring", storage_class=cluster.storage_class,
    retention=cfg.observability.prometheus_retention, storage=cfg.observability.prometheus_storage,
    replicas=controller_replicas, targets=targets, alert_receiver=cfg.alert_receiver,
    runbook_base=cfg.observability.runbook_base_url, k8s_provider=cluster.provider, opts=on_aws)
telemetry = Telemetry(
    f"{cfg.prefix}-telemetry", cluster_name=cluster.name, region=cfg.region, stack=cfg.stack,
    replicas=controller_replicas, log_namespace=cfg.namespace,
    log_retention_days=cfg.observability.log_retention_days, namespace=monitoring.namespace,
    k8s_provider=cluster.provider, opts=on_aws)

secrets_path = f"{cfg.project}/{cfg.stack}"
secrets = ProviderSecrets(f"{cfg.prefix}-keys", path=secrets_path, keys=cfg.provider_keys,
                          recovery_days=cfg.secret_recovery_days, opts=on_aws)
admin_key = AdminKey(f"{cfg.prefix}-admin-key", path=secrets_path, value=cfg.admin_key,
                     recovery_days=cfg.secret_recovery_days, opts=on_aws)

router_after: list[pulumi.Resource] = [namespace, load_balancers]
vllm_url = None
if cfg.gpu.enabled:
    gpu_pool = GpuNodePool(f"{cfg.prefix}-gpu", pool=cfg.gpu, node_class=karpenter.gpu_node_class,
                           karpenter=karpenter.ready, monitoring_crds=monitoring.crds,
                           k8s_provider=cluster.provider)
    vllm = VllmServer(
        f"{cfg.prefix}-vllm", namespace=cfg.namespace, model=cfg.vllm, gpus=cfg.gpu.gpus_per_pod,
        storage_class=cluster.storage_class,
        api_key=random.RandomPassword(f"{cfg.prefix}-vllm-api-key", length=48, special=False).result,
        hf_token=cfg.hf_token, k8s_provider=cluster.provider,
        opts=pulumi.ResourceOptions(depends_on=[namespace, gpu_pool]))
    router_after.append(vllm.api_key_secret)
    vllm_url = vllm.url

state = SharedState(f"{cfg.prefix}-redis", mode=cfg.redis_mode, namespace=cfg.namespace,
                    k8s_provider=cluster.provider, subnet_ids=network.private_subnet_ids, vpc_id=network.vpc_id,
                    node_security_group_id=cluster.security_group_id, node_type=cfg.redis_node_type,
                    snapshot_days=cfg.redis_snapshot_days,
                    opts=pulumi.ResourceOptions(providers=[aws_provider], depends_on=[namespace]))
router_after.append(state.url_secret)

workers = cfg.router.workers
router = RouterService(
    f"{cfg.prefix}-router",
    namespace=cfg.namespace,
    stack=cfg.stack,
    region=cfg.region,
    cluster_name=cluster.name,
    settings=cfg.router,
    routing_config=routing.yaml(),
    shutdown_grace_s=routing.shutdown_grace_s,
    # The HPA aims at half of what a pod sheds at, unless the stack names a target.
    target_in_flight=cfg.router.target_in_flight or max(1, workers * routing.max_in_flight // 2),
    secret_arns=secrets.arns,
    admin_key_arn=admin_key.arn,
    calls_vllm=cfg.gpu.enabled,
    otlp_endpoint=telemetry.otlp_endpoint,
    trace_sample_ratio=cfg.observability.trace_sample_ratio,
    k8s_provider=cluster.provider,
    opts=pulumi.ResourceOptions(providers=[aws_provider], depends_on=router_after),
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
pulumi.export("podLogGroup", telemetry.log_group.name)
pulumi.export("grafana", f"kubectl -n {MONITORING_NAMESPACE} port-forward svc/kube-prometheus-stack-grafana 3000:80")
pulumi.export("alertmanager", f"kubectl -n {MONITORING_NAMESPACE} port-forward "
                              "svc/kube-prometheus-stack-alertmanager 9093:9093")
pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
