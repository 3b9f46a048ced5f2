"""The routing service and its Celery worker: Pod Identity for the keys, hardened pods, a Network Load Balancer
served by the AWS Load Balancer Controller (internal by default; public only with TLS), autoscaling on
requests in flight, a disruption budget, a network policy, and metrics on their own port for Prometheus only.
The routing config is a ConfigMap with a checksum annotation on the pods, so a config change rolls them.

- Identity: the pods' role (read the provider keys and the admin key, nothing else) is an `IamRole` component
  the Deployments wait for: a pod never starts without its keys.
- Readiness is about the pod: `/readyz` answers 200 while the process can serve, even with every upstream
  breaker open (the router then answers fast 503s; `/readyz?strict=1` keeps the upstream meaning), so an
  outage of every provider does not empty the load balancer. It fails while the pod drains.
- One process per CPU the pod requests (`SWITCHBOARD_WORKERS` from the downward API, rounded up), sharing the
  port; their metrics are merged through `PROMETHEUS_MULTIPROC_DIR`, a memory-backed emptyDir. No CPU limit:
  the router sheds on requests in flight long before CPU matters, and throttling would only add latency.
- The HPA scales on `switchboard_in_flight` per pod (prometheus-adapter), aiming at `target_in_flight`, with
  CPU as a second signal.
- Shutdown is aligned with the service's `server.shutdown_grace_s`: preStop sleeps while the load balancer
  stops sending, then the service drains for the grace period, and Kubernetes waits for both (and a margin)
  before SIGKILL. The worker gets its job visibility timeout (`SWITCHBOARD_JOB_VISIBILITY_S`, the longest a
  job may take) to finish the jobs it holds."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.components.base import Component
from infra.components.iam import POD_IDENTITY_TRUST, IamRole, PodIdentity
from infra.components.k8s import FROM_MONITORING, checkov_skips, container_security, http_probe, pod_security
from infra.components.load_balancer_controller import LOAD_BALANCER_CLASS
from infra.components.monitoring import IN_FLIGHT
from infra.components.provider_secrets import read_statements
from infra.components.shared_state import URL_KEY, URL_SECRET
from infra.components.vllm_server import API_KEY, API_KEY_SECRET
from infra.config import KEY_ENV, RouterSettings

PORT = 8080
METRICS_PORT = 9090
OTLP_PORT = 4318
CONFIG_PATH = "/etc/switchboard/switchboard.yaml"
MULTIPROC_DIR = "/run/prometheus"
PRESTOP_SLEEP_S = 10  # NLB target deregistration takes a few seconds to reach every load balancer node
SHUTDOWN_MARGIN_S = 5
WORKER_MARGIN_S = 30  # after the job visibility timeout: Celery's warm shutdown acknowledges and exits
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


def worker_grace_seconds(job_visibility_s: int) -> int:
    return job_visibility_s + WORKER_MARGIN_S


def workers_per_pod(cpu: float) -> int:
    """What the downward API gives `SWITCHBOARD_WORKERS`: the CPU request rounded up (at least 1)."""
    return max(1, math.ceil(cpu - 1e-9))


class RouterService(Component):
    endpoint: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    role: IamRole

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
        target_in_flight: int,
        secret_arns: Mapping[str, pulumi.Output[str]],
        admin_key_arn: pulumi.Output[str],
        calls_vllm: bool,
        otlp_endpoint: str,
        trace_sample_ratio: float,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:RouterService", name, opts)
        child = self.child(provider=k8s_provider)

        # Identity: the pods may read the provider keys and the admin key, and nothing else.
        self.role = IamRole(
            f"{name}-pod", trust=POD_IDENTITY_TRUST, description="Switchboard: the router and worker pods",
            statements=pulumi.Output.all(*secret_arns.values(), admin_key_arn).apply(read_statements),
            pod_identity=PodIdentity(cluster_name, namespace, SERVICE_ACCOUNT), opts=self.child())
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata={"name": SERVICE_ACCOUNT, "namespace": namespace, "labels": ROUTER},
            automount_service_account_token=False, opts=child)
        with_identity = self.child(provider=k8s_provider, depends_on=[account, self.role])

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
        volumes = [{"name": "config", "configMap": {"name": "switchboard-config"}},
                   {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
        mounts = [{"name": "config", "mountPath": "/etc/switchboard", "readOnly": True},
                  {"name": "tmp", "mountPath": "/tmp"}]

        def pod(labels: dict[str, str], args: list[str], extra: dict[str, object], ports: list[object],
                grace: int, cpu: str, memory: str, more_env: Sequence[dict] = (),
                more_volumes: Sequence[tuple[dict, dict]] = (), cpu_limit: bool = True) -> dict:
            service_name = labels["app.kubernetes.io/name"]
            limits = {"cpu": cpu, "memory": memory} if cpu_limit else {"memory": memory}
            return {
                "metadata": {"labels": labels, "annotations": {"checksum/config": checksum}},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "automountServiceAccountToken": False,  # Pod Identity mounts its own token
                    "securityContext": pod_security(),
                    "terminationGracePeriodSeconds": grace,
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
                        "env": [*env, *more_env, {"name": "OTEL_SERVICE_NAME", "value": service_name}],
                        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits},
                        "securityContext": container_security(),
                        **extra,
                        "volumeMounts": [*mounts, *(m for _, m in more_volumes)],
                    }],
                    "volumes": [*volumes, *(v for v, _ in more_volumes)],
                },
            }

        env_secrets = "REDIS_URL and VLLM_API_KEY are read from the environment once, at start-up (the service's contract)"
        router_env = [
            # One process per CPU requested (rounded up), sharing the port: `switchboard serve --workers`.
            {"name": "SWITCHBOARD_WORKERS", "valueFrom": {"resourceFieldRef": {
                "containerName": "switchboard-router", "resource": "requests.cpu", "divisor": "1"}}},
            # prometheus-client's multiprocess mode: every worker's metrics, merged on one scrape.
            {"name": "PROMETHEUS_MULTIPROC_DIR", "value": MULTIPROC_DIR},
        ]
        multiproc = ({"name": "prometheus-multiproc", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                     {"name": "prometheus-multiproc", "mountPath": MULTIPROC_DIR})
        k8s.apps.v1.Deployment(
            name,
            metadata={"name": "switchboard-router", "namespace": namespace, "labels": ROUTER,
                      "annotations": checkov_skips(
                          CKV_K8S_11="no CPU limit by design: the router sheds on requests in flight, and CFS "
                                     "throttling would only add latency (it requests what it needs)",
                          CKV_K8S_35=env_secrets)},
            spec={
                "replicas": settings.replicas,
                "selector": {"matchLabels": ROUTER},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": pod(
                    ROUTER,
                    ["serve", "--host", "0.0.0.0", "--port", str(PORT), "--metrics-port", str(METRICS_PORT)],
                    {"startupProbe": http_probe("/healthz", "http", period=2, failures=30),
                     "livenessProbe": http_probe("/healthz", "http", period=10, failures=3),
                     # About the pod: 200 while it can serve, breakers open or not; 503 while it drains.
                     "readinessProbe": http_probe("/readyz", "http", period=5, failures=2),
                     # The load balancer keeps sending for a few seconds after the pod is marked for deletion.
                     "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SLEEP_S)]}}}},
                    [{"name": "http", "containerPort": PORT}, {"name": "metrics", "containerPort": METRICS_PORT}],
                    termination_grace_seconds(shutdown_grace_s), settings.cpu, settings.memory, router_env,
                    [multiproc], cpu_limit=False,
                ),
            },
            opts=self.child(provider=k8s_provider, depends_on=[account, self.role],
                            ignore_changes=["spec.replicas"]),
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
                "template": pod(
                    WORKER, ["worker", "--concurrency", str(settings.worker_concurrency)], {}, [],
                    worker_grace_seconds(settings.job_visibility_s), settings.worker_cpu, settings.worker_memory,
                    [{"name": "SWITCHBOARD_JOB_VISIBILITY_S", "value": str(settings.job_visibility_s)}]),
            },
            opts=with_identity,
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
                  "metrics": [
                      {"type": "Pods", "pods": {"metric": {"name": IN_FLIGHT},
                                                "target": {"type": "AverageValue",
                                                           "averageValue": str(target_in_flight)}}},
                      {"type": "Resource", "resource": {
                          "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                  ],
                  # Up at once (in flight doubles in seconds under a burst); down slowly, one pod a minute.
                  "behavior": {
                      "scaleUp": {"stabilizationWindowSeconds": 0,
                                  "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                      "scaleDown": {"stabilizationWindowSeconds": 300,
                                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}},
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
        self.role_arn = self.role.arn
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
