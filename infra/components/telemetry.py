"""Traces and logs off the cluster, both through the OpenTelemetry collector (contrib image):

- a Deployment that takes the services' OTLP traces and sends them to AWS X-Ray;
- a DaemonSet on every node (GPU nodes too) that tails the log files of the pods in Switchboard's namespace
  and sends each line, unchanged (`raw_log`: the service's own JSON line), to a CloudWatch Logs group this
  program creates with the stack's retention. One log stream per node. `switchboard costs` and `switchboard
  incident` read a day of every replica's lines from there (`aws logs tail ... | switchboard costs -`), after
  the pods are gone.

Each collector has its own role through Pod Identity: X-Ray's managed write-only policy, and for logs
PutLogEvents and CreateLogStream on this group only (the exporter's calls, internal/aws/cwlogs). The log agent
may not create a group: if the group were deleted, a recreated one would have no retention."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import capacity, versions
from infra.components.base import Component
from infra.components.iam import POD_IDENTITY_TRUST, IamRole, PodIdentity, aws_policy
from infra.components.k8s import MONITORING_NAMESPACE, SYSTEM_POOL

REPOSITORY = "https://open-telemetry.github.io/opentelemetry-helm-charts"
CHART = "opentelemetry-collector"
IMAGE = "otel/opentelemetry-collector-contrib"
TRACES = "otel-collector"
LOGS = "otel-logs"
OTLP_HTTP_PORT = 4318
HEALTH = {"health_check": {"endpoint": "${env:MY_POD_IP}:13133"}}
MEMORY_LIMITER = {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20}


def traces_config(region: str) -> dict:
    return {
        "extensions": HEALTH,
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_HTTP_PORT}"},
                                             "grpc": {"endpoint": "${env:MY_POD_IP}:4317"}}}},
        "processors": {"memory_limiter": MEMORY_LIMITER, "batch": {}},
        "exporters": {"awsxray": {"region": region}},
        "service": {"extensions": ["health_check"],
                    "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"],
                                             "exporters": ["awsxray"]}}},
    }


def logs_config(region: str, group: str, namespace: str) -> dict:
    return {
        "extensions": HEALTH,
        "receivers": {"filelog": {
            # /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log: Switchboard's pods only.
            "include": [f"/var/log/pods/{namespace}_*/*/*.log"],
            "exclude": [],
            "start_at": "beginning",  # with checkpoints: a restarted agent resumes, a new one misses nothing
        }},
        "processors": {"memory_limiter": MEMORY_LIMITER, "batch": {"timeout": "5s"}},
        "exporters": {"awscloudwatchlogs": {"region": region, "log_group_name": group,
                                            "log_stream_name": "${env:K8S_NODE_NAME}", "raw_log": True}},
        "service": {"extensions": ["health_check"],
                    "pipelines": {"logs": {"receivers": ["filelog"], "processors": ["memory_limiter", "batch"],
                                           "exporters": ["awscloudwatchlogs"]}}},
    }


def log_statements(group_arn: str) -> list[dict]:
    return [{"Sid": "ShipPodLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [group_arn, f"{group_arn}:*"]}]


class Telemetry(Component):
    otlp_endpoint: str
    log_group: aws.cloudwatch.LogGroup

    def __init__(
        self,
        name: str,
        *,
        cluster_name: pulumi.Input[str],
        region: str,
        stack: str,
        replicas: int,
        log_namespace: str,
        log_retention_days: int,
        namespace: pulumi.Resource,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:Telemetry", name, opts)
        traces_role = IamRole(f"{name}-traces", trust=POD_IDENTITY_TRUST,
                              description="Switchboard: the OpenTelemetry collector (traces to X-Ray)",
                              managed_policies=[aws_policy("AWSXrayWriteOnlyAccess")],
                              pod_identity=PodIdentity(cluster_name, MONITORING_NAMESPACE, TRACES), opts=self.child())
        k8s.helm.v3.Release(
            f"{name}-traces",
            name=TRACES,
            chart=CHART,
            version=versions.COLLECTOR.version,
            repository_opts={"repo": REPOSITORY},
            namespace=MONITORING_NAMESPACE,
            values={
                "mode": "deployment",
                "fullnameOverride": TRACES,
                "replicaCount": replicas,
                "image": {"repository": IMAGE},
                "serviceAccount": {"create": True, "name": TRACES},
                "nodeSelector": SYSTEM_POOL,
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                "alternateConfig": traces_config(region),  # not merged with the chart's example pipelines
            },
            opts=self.child(provider=k8s_provider, depends_on=[namespace, traces_role]),
        )

        self.log_group = aws.cloudwatch.LogGroup(f"{name}-pods", name=f"/switchboard/{stack}/pods",
                                                 retention_in_days=log_retention_days, opts=self.child())
        logs_role = IamRole(f"{name}-logs", trust=POD_IDENTITY_TRUST,
                            description="Switchboard: the log agent (pod logs to CloudWatch Logs)",
                            statements=self.log_group.arn.apply(log_statements),
                            pod_identity=PodIdentity(cluster_name, MONITORING_NAMESPACE, LOGS), opts=self.child())
        k8s.helm.v3.Release(
            f"{name}-logs",
            name=LOGS,
            chart=CHART,
            version=versions.COLLECTOR.version,
            repository_opts={"repo": REPOSITORY},
            namespace=MONITORING_NAMESPACE,
            values={
                "mode": "daemonset",
                "fullnameOverride": LOGS,
                "image": {"repository": IMAGE},
                "serviceAccount": {"create": True, "name": LOGS},
                # The volumes for /var/log/pods and a checkpoint directory on the node (so it runs as root).
                "presets": {"logsCollection": {"enabled": True, "storeCheckpoints": True}},
                "extraEnvs": [{"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                "tolerations": [{"operator": "Exists"}],  # every node, GPU nodes included
                "resources": {"requests": capacity.as_requests(capacity.LOG_AGENT), "limits": {"memory": "256Mi"}},
                "alternateConfig": self.log_group.name.apply(lambda group: logs_config(region, group, log_namespace)),
            },
            opts=self.child(provider=k8s_provider, depends_on=[namespace, logs_role, self.log_group]),
        )
        self.otlp_endpoint = f"http://{TRACES}.{MONITORING_NAMESPACE}.svc.cluster.local:{OTLP_HTTP_PORT}"
        self.register_outputs({"otlp_endpoint": self.otlp_endpoint})
