"""`pulumi up`: read the stack config once, compose the components, export the endpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `infra` as a package, run by the CLI

from infra import config as stack_config  # noqa: E402
from infra.components.cluster import Cluster, ExistingCluster  # noqa: E402
from infra.components.dashboards import Dashboards  # noqa: E402
from infra.components.gpu_pool import GpuNodePool  # noqa: E402
from infra.components.provider_secrets import ProviderSecrets  # noqa: E402
from infra.components.router import RouterService  # noqa: E402
from infra.components.shared_state import SharedState  # noqa: E402
from infra.components.vllm_server import VllmServer  # noqa: E402

cfg = stack_config.load()

subnet_ids = list(cfg.subnet_ids) or aws.ec2.get_subnets(
    filters=[{"name": "vpc-id", "values": [aws.ec2.get_vpc(default=True).id]}]
).ids
vpc = aws.ec2.get_vpc(id=aws.ec2.get_subnet(id=subnet_ids[0]).vpc_id)

if cfg.existing_cluster:
    assert cfg.existing_kubeconfig is not None
    cluster: Cluster | ExistingCluster = ExistingCluster(
        cfg.prefix, cluster_name=cfg.existing_cluster, kubeconfig_text=cfg.existing_kubeconfig)
else:
    cluster = Cluster(cfg.prefix, version=cfg.kubernetes_version, subnet_ids=subnet_ids,
                      system_instance_type=cfg.system_instance_type, system_nodes=cfg.system_nodes)

namespace = k8s.core.v1.Namespace(
    "namespace", metadata={"name": cfg.namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    opts=pulumi.ResourceOptions(provider=cluster.provider))
in_namespace = pulumi.ResourceOptions(depends_on=[namespace])

secrets = ProviderSecrets(f"{cfg.prefix}-keys", path=f"{cfg.project}/{cfg.stack}", keys=cfg.provider_keys)

if cfg.gpu.enabled:
    GpuNodePool(f"{cfg.prefix}-gpu", cluster_name=cluster.name, subnet_ids=subnet_ids, pool=cfg.gpu,
                k8s_provider=cluster.provider)
vllm = VllmServer(f"{cfg.prefix}-vllm", namespace=cfg.namespace, model=cfg.vllm, gpus=cfg.gpu.gpus_per_node,
                  hf_token=cfg.hf_token, k8s_provider=cluster.provider, opts=in_namespace)

state = SharedState(f"{cfg.prefix}-redis", mode=cfg.redis_mode, namespace=cfg.namespace,
                    k8s_provider=cluster.provider, subnet_ids=subnet_ids, vpc_id=vpc.id,
                    vpc_cidr=vpc.cidr_block, node_type=cfg.redis_node_type, opts=in_namespace)

router = RouterService(
    f"{cfg.prefix}-router",
    namespace=cfg.namespace,
    cluster_name=cluster.name,
    settings=cfg.router,
    routing_config=stack_config.routing_config_yaml(cfg),
    secret_arns=secrets.arns,
    secrets_policy_arn=secrets.read_policy.arn,
    redis_url=state.url,
    k8s_provider=cluster.provider,
    opts=in_namespace,
)

# Grafana's sidecar finds the dashboard by its label (search all namespaces, or this one); Prometheus finds
# the router pods by their prometheus.io/* scrape annotations.
Dashboards(f"{cfg.prefix}-dashboards", namespace=cfg.namespace, k8s_provider=cluster.provider, opts=in_namespace)

routing = cfg.routing_config()
pulumi.export("routerEndpoint", router.endpoint)
pulumi.export("routerRoleArn", router.role_arn)
pulumi.export("vllmUrl", vllm.url)
pulumi.export("failoverChains", {**routing["routes"], "default": routing["default_route"]})
pulumi.export("providerSecretArns", secrets.arns)
pulumi.export("clusterName", cluster.name)
pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
