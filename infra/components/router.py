"""The routing service and its Celery worker: Pod Identity for the provider keys, hardened pods, a load
balancer, autoscaling, a disruption budget and a network policy. The routing config is a ConfigMap with a
checksum annotation on the pods, so a config change rolls them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.k8s import checkov_skips, container_security, http_probe, pod_security
from infra.config import KEY_ENV, RouterSettings

PORT = 8080
CONFIG_PATH = "/etc/switchboard/switchboard.yaml"
POD_IDENTITY_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
     "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
APP = {"app.kubernetes.io/part-of": "switchboard", "switchboard.dev/calls-vllm": "true",
       "switchboard.dev/uses-redis": "true"}
ROUTER = {**APP, "app.kubernetes.io/name": "switchboard-router"}
WORKER = {**APP, "app.kubernetes.io/name": "switchboard-worker"}


def config_checksum(rendered: str) -> str:
    return hashlib.sha256(rendered.encode()).hexdigest()


class RouterService(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        cluster_name: pulumi.Input[str],
        settings: RouterSettings,
        routing_config: str,
        secret_arns: Mapping[str, pulumi.Output[str]],
        secrets_policy_arn: pulumi.Input[str],
        redis_url: pulumi.Input[str],
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:RouterService", name, None, opts)
        aws_child = pulumi.ResourceOptions(parent=self)
        child = pulumi.ResourceOptions(parent=self, provider=k8s_provider)

        # Identity: the pods may read the provider secrets, and nothing else.
        role = aws.iam.Role(f"{name}-pod", assume_role_policy=json.dumps(POD_IDENTITY_TRUST), opts=aws_child)
        aws.iam.RolePolicyAttachment(f"{name}-secrets", role=role.name, policy_arn=secrets_policy_arn,
                                     opts=aws_child)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata={"name": "switchboard", "namespace": namespace, "labels": ROUTER},
            automount_service_account_token=False, opts=child)
        aws.eks.PodIdentityAssociation(f"{name}-identity", cluster_name=cluster_name, namespace=namespace,
                                       service_account="switchboard", role_arn=role.arn,
                                       opts=pulumi.ResourceOptions(parent=self, depends_on=[account]))

        k8s.core.v1.ConfigMap(f"{name}-config", metadata={"name": "switchboard-config", "namespace": namespace},
                              data={"switchboard.yaml": routing_config}, opts=child)
        checksum = config_checksum(routing_config)
        env = [
            {"name": "SWITCHBOARD_CONFIG", "value": CONFIG_PATH},
            {"name": "REDIS_URL", "value": redis_url},
            *({"name": f"{KEY_ENV[provider]}_SECRET_ARN", "value": arn} for provider, arn in secret_arns.items()),
        ]

        def pod(labels: dict[str, str], args: list[str], probes: dict[str, object], ports: list[object]) -> dict:
            return {
                "metadata": {"labels": labels, "annotations": {
                    "checksum/config": checksum,
                    **({"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics"} if ports else {})}},
                "spec": {
                    "serviceAccountName": "switchboard",
                    "automountServiceAccountToken": False,  # Pod Identity mounts its own token
                    "securityContext": pod_security(),
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                   "whenUnsatisfiable": "ScheduleAnyway",
                                                   "labelSelector": {"matchLabels": labels}}],
                    "containers": [{
                        "name": labels["app.kubernetes.io/name"],
                        "image": settings.image,
                        "imagePullPolicy": "Always",
                        "args": args,
                        "ports": ports,
                        "env": env,
                        "resources": {"requests": {"cpu": settings.cpu, "memory": settings.memory},
                                      "limits": {"cpu": settings.cpu, "memory": settings.memory}},
                        "securityContext": container_security(),
                        **probes,
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/switchboard", "readOnly": True},
                                         {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "switchboard-config"}},
                                {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            }

        digest = "pinned by digest in the name@sha256 form, which checkov does not parse"
        k8s.apps.v1.Deployment(
            name,
            metadata={"name": "switchboard-router", "namespace": namespace, "labels": ROUTER,
                      "annotations": checkov_skips(CKV_K8S_43=digest)},
            spec={
                "replicas": settings.replicas,
                "selector": {"matchLabels": ROUTER},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": pod(
                    ROUTER,
                    ["serve", "--host", "0.0.0.0", "--port", str(PORT)],
                    {"startupProbe": http_probe("/healthz", "http", period=2, failures=30),
                     "livenessProbe": http_probe("/healthz", "http", period=10, failures=3),
                     "readinessProbe": http_probe("/readyz", "http", period=5, failures=2)},
                    [{"name": "http", "containerPort": PORT}],
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, ignore_changes=["spec.replicas"]),
        )
        k8s.apps.v1.Deployment(
            f"{name}-worker",
            metadata={"name": "switchboard-worker", "namespace": namespace, "labels": WORKER,
                      "annotations": checkov_skips(
                          CKV_K8S_43=digest,
                          CKV_K8S_8="a Celery worker serves no HTTP; a lost worker's jobs are redelivered by the broker",
                          CKV_K8S_9="a Celery worker serves no HTTP; it takes work only when it is ready",
                      )},
            spec={
                "replicas": settings.worker_replicas,
                "selector": {"matchLabels": WORKER},
                "template": pod(WORKER, ["worker", "--concurrency", str(settings.worker_concurrency)], {}, []),
            },
            opts=child,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "switchboard", "namespace": namespace, "labels": ROUTER, "annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            }},
            spec={"type": "LoadBalancer", "selector": ROUTER,
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata={"name": "switchboard-router", "namespace": namespace},
            spec={"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "switchboard-router"},
                  "minReplicas": settings.replicas, "maxReplicas": settings.max_replicas,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata={"name": "switchboard-router", "namespace": namespace},
            spec={"selector": {"matchLabels": ROUTER},
                  **({"minAvailable": 1} if settings.replicas > 1 else {"maxUnavailable": 1})},
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network",
            metadata={"name": "switchboard", "namespace": namespace},
            spec={
                "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "switchboard",
                                                "switchboard.dev/calls-vllm": "true"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"ports": [{"port": PORT}]}],
                "egress": [
                    {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
                    {"ports": [{"port": 443}]},  # providers, Secrets Manager, STS
                    {"ports": [{"port": 8000}, {"port": 6379}]},  # vLLM and Redis
                    {"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"port": 80}]},  # Pod Identity
                ],
            },
            opts=child,
        )
        self.role_arn = role.arn
        self.endpoint = service.status.apply(_endpoint)
        self.register_outputs({"endpoint": self.endpoint, "role_arn": self.role_arn})


def _endpoint(status: object) -> str:
    """`http://<load balancer host>`, or a note while AWS has not assigned one yet."""
    try:
        ingress = status.load_balancer.ingress[0]  # type: ignore[attr-defined]
        return f"http://{ingress.hostname or ingress.ip}"
    except (AttributeError, IndexError, TypeError):
        return "pending: the load balancer has no address yet"
