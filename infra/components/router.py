"""The routing service and its Celery worker: Pod Identity for the keys, hardened pods, a Network Load Balancer
served by the AWS Load Balancer Controller (internal by default; public only with TLS), autoscaling, a disruption
budget, a network policy, and metrics on their own port for Prometheus only. The routing config is a ConfigMap
with a checksum annotation on the pods, so a config change rolls them.

Shutdown is aligned with the service's `server.shutdown_grace_s`: preStop sleeps while the load balancer stops
sending, then the service drains for the grace period, and Kubernetes waits for both (and a margin) before SIGKILL.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.iam import pod_role
from infra.components.k8s import FROM_MONITORING, checkov_skips, container_security, http_probe, pod_security
from infra.components.load_balancer_controller import LOAD_BALANCER_CLASS
from infra.components.provider_secrets import read_policy_document
from infra.components.shared_state import URL_KEY, URL_SECRET
from infra.components.vllm_server import API_KEY, API_KEY_SECRET
from infra.config import KEY_ENV, RouterSettings

PORT = 8080
METRICS_PORT = 9090
OTLP_PORT = 4318
CONFIG_PATH = "/etc/switchboard/switchboard.yaml"
PRESTOP_SLEEP_S = 10  # NLB target deregistration takes a few seconds to reach every load balancer node
SHUTDOWN_MARGIN_S = 5
ADMIN_KEY_ENV = "SWITCHBOARD_ADMIN_KEY_SECRET_ARN"
SERVICE_ACCOUNT = "switchboard"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
APP = {"app.kubernetes.io/part-of": "switchboard", "switchboard.dev/calls-vllm": "true",
       "switchboard.dev/uses-redis": "true"}
ROUTER = {**APP, "app.kubernetes.io/name": "switchboard-router"}
WORKER = {**APP, "app.kubernetes.io/name": "switchboard-worker"}


def config_checksum(rendered: str) -> str:
    return hashlib.sha256(rendered.encode()).hexdigest()


def termination_grace_seconds(shutdown_grace_s: float) -> int:
    return PRESTOP_SLEEP_S + math.ceil(shutdown_grace_s) + SHUTDOWN_MARGIN_S


class RouterService(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        stack: str,
        region: str,
        cluster_name: pulumi.Input[str],
        settings: RouterSettings,
        routing_config: str,
        shutdown_grace_s: float,
        secret_arns: Mapping[str, pulumi.Output[str]],
        admin_key_arn: pulumi.Output[str],
        calls_vllm: bool,
        otlp_endpoint: str,
        trace_sample_ratio: float,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:RouterService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=k8s_provider)

        # Identity: the pods may read the provider keys and the admin key, and nothing else.
        readable = [*secret_arns.values(), admin_key_arn]
        secrets_policy = aws.iam.Policy(
            f"{name}-secrets", description="Read the Switchboard provider keys and admin key, and nothing else",
            policy=pulumi.Output.all(*readable).apply(read_policy_document), opts=pulumi.ResourceOptions(parent=self))
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata={"name": SERVICE_ACCOUNT, "namespace": namespace, "labels": ROUTER},
            automount_service_account_token=False, opts=child)
        role = pod_role(f"{name}-pod", self, cluster_name=cluster_name, namespace=namespace,
                        service_account=SERVICE_ACCOUNT, policy_arns=[secrets_policy.arn],
                        description="Switchboard: the router and worker pods")

        k8s.core.v1.ConfigMap(f"{name}-config", metadata={"name": "switchboard-config", "namespace": namespace},
                              data={"switchboard.yaml": routing_config}, opts=child)
        checksum = config_checksum(routing_config)
        env = [
            {"name": "SWITCHBOARD_CONFIG", "value": CONFIG_PATH},
            {"name": "AWS_REGION", "value": region},
            {"name": "REDIS_URL", "valueFrom": {"secretKeyRef": {"name": URL_SECRET, "key": URL_KEY}}},
            {"name": ADMIN_KEY_ENV, "value": admin_key_arn},
            *({"name": f"{KEY_ENV[provider]}_SECRET_ARN", "value": arn} for provider, arn in secret_arns.items()),
            *([{"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": API_KEY_SECRET, "key": API_KEY}}}]
              if calls_vllm else []),
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": otlp_endpoint},
            {"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": "http/protobuf"},
            {"name": "OTEL_TRACES_SAMPLER", "value": "parentbased_traceidratio"},
            {"name": "OTEL_TRACES_SAMPLER_ARG", "value": f"{trace_sample_ratio:g}"},
            {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": f"deployment.environment={stack}"},
        ]

        def pod(labels: dict[str, str], args: list[str], extra: dict[str, object], ports: list[object],
                grace: int | None = None) -> dict:
            service_name = labels["app.kubernetes.io/name"]
            return {
                "metadata": {"labels": labels, "annotations": {"checksum/config": checksum}},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "automountServiceAccountToken": False,  # Pod Identity mounts its own token
                    "securityContext": pod_security(),
                    **({"terminationGracePeriodSeconds": grace} if grace is not None else {}),
                    "topologySpreadConstraints": [
                        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
                         "labelSelector": {"matchLabels": labels}}
                        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")],
                    "containers": [{
                        "name": service_name,
                        "image": settings.image,
                        "imagePullPolicy": "Always",
                        "args": args,
                        "ports": ports,
                        "env": [*env, {"name": "OTEL_SERVICE_NAME", "value": service_name}],
                        "resources": {"requests": {"cpu": settings.cpu, "memory": settings.memory},
                                      "limits": {"cpu": settings.cpu, "memory": settings.memory}},
                        "securityContext": container_security(),
                        **extra,
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/switchboard", "readOnly": True},
                                         {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "switchboard-config"}},
                                {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            }

        env_secrets = "REDIS_URL and VLLM_API_KEY are read from the environment once, at start-up (the service's contract)"
        k8s.apps.v1.Deployment(
            name,
            metadata={"name": "switchboard-router", "namespace": namespace, "labels": ROUTER,
                      "annotations": checkov_skips(CKV_K8S_35=env_secrets)},
            spec={
                "replicas": settings.replicas,
                "selector": {"matchLabels": ROUTER},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": pod(
                    ROUTER,
                    ["serve", "--host", "0.0.0.0", "--port", str(PORT), "--metrics-port", str(METRICS_PORT)],
                    {"startupProbe": http_probe("/healthz", "http", period=2, failures=30),
                     "livenessProbe": http_probe("/healthz", "http", period=10, failures=3),
                     "readinessProbe": http_probe("/readyz", "http", period=5, failures=2),
                     # The load balancer keeps sending for a few seconds after the pod is marked for deletion.
                     "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SLEEP_S)]}}}},
                    [{"name": "http", "containerPort": PORT}, {"name": "metrics", "containerPort": METRICS_PORT}],
                    grace=termination_grace_seconds(shutdown_grace_s),
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, ignore_changes=["spec.replicas"],
                                        depends_on=[account]),
        )
        k8s.apps.v1.Deployment(
            f"{name}-worker",
            metadata={"name": "switchboard-worker", "namespace": namespace, "labels": WORKER,
                      "annotations": checkov_skips(
                          CKV_K8S_8="a Celery worker serves no HTTP; a lost worker's jobs are redelivered by the broker",
                          CKV_K8S_9="a Celery worker serves no HTTP; it takes work only when it is ready",
                          CKV_K8S_35=env_secrets,
                      )},
            spec={
                "replicas": settings.worker_replicas,
                "selector": {"matchLabels": WORKER},
                "template": pod(WORKER, ["worker", "--concurrency", str(settings.worker_concurrency)], {}, []),
            },
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[account]),
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "switchboard", "namespace": namespace, "labels": ROUTER,
                      "annotations": load_balancer_annotations(settings, shutdown_grace_s)},
            spec={"type": "LoadBalancer", "loadBalancerClass": LOAD_BALANCER_CLASS, "selector": ROUTER,
                  **({"loadBalancerSourceRanges": list(settings.source_ranges)} if settings.source_ranges else {}),
                  # Only the API: /metrics is on its own port, which no Service exposes.
                  "ports": [{"name": "https", "port": 443, "targetPort": "http"} if settings.certificate_arn
                            else {"name": "http", "port": 80, "targetPort": "http"}]},
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
                "podSelector": {"matchLabels": APP},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {"ports": [{"port": PORT}]},  # the load balancer's nodes, from the VPC
                    {"from": [FROM_MONITORING], "ports": [{"port": METRICS_PORT}]},  # Prometheus only
                ],
                "egress": [
                    {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
                    {"ports": [{"port": 443}]},  # providers, Secrets Manager, STS
                    {"ports": [{"port": 8000}, {"port": 6379}]},  # vLLM and Redis
                    {"to": [FROM_MONITORING], "ports": [{"port": OTLP_PORT}]},  # the OpenTelemetry collector
                    {"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"port": 80}]},  # Pod Identity
                ],
            },
            opts=child,
        )
        self.role_arn = role.arn
        self.endpoint = service.status.apply(lambda status: _endpoint(status, settings))
        self.register_outputs({"endpoint": self.endpoint, "role_arn": self.role_arn})


def load_balancer_annotations(settings: RouterSettings, shutdown_grace_s: float) -> dict[str, str]:
    """The NLB, as the AWS Load Balancer Controller reads it: IP targets (pods), health from /readyz (which fails
    while a pod drains), and TLS from ACM when a certificate is given."""
    prefix = "service.beta.kubernetes.io/aws-load-balancer"
    drain = PRESTOP_SLEEP_S + math.ceil(shutdown_grace_s)
    annotations = {
        f"{prefix}-nlb-target-type": "ip",
        f"{prefix}-scheme": "internet-facing" if settings.exposure == "public" else "internal",
        f"{prefix}-healthcheck-protocol": "http",
        f"{prefix}-healthcheck-path": "/readyz",
        f"{prefix}-healthcheck-port": "traffic-port",
        f"{prefix}-target-group-attributes": f"deregistration_delay.timeout_seconds={drain}",
    }
    if settings.certificate_arn:
        annotations |= {f"{prefix}-ssl-cert": settings.certificate_arn, f"{prefix}-ssl-ports": "https",
                        f"{prefix}-ssl-negotiation-policy": TLS_POLICY}
    return annotations


def _endpoint(status: object, settings: RouterSettings) -> str:
    """`https://<load balancer host>` (or http:// inside the VPC), or a note while AWS has not assigned one yet."""
    scheme = "https" if settings.certificate_arn else "http"
    try:
        ingress = status.load_balancer.ingress[0]  # type: ignore[attr-defined]
        return f"{scheme}://{ingress.hostname or ingress.ip}"
    except (AttributeError, IndexError, TypeError):
        return "pending: the load balancer has no address yet"

