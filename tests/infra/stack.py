"""Run the real Pulumi program (`infra/__main__.py`) under Pulumi's mocks and record what it declares."""

from __future__ import annotations

import asyncio
import hashlib
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from tests.infra import pulumi_project

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "switchboard"
ACCOUNT = "210987654321"
K8S_PREFIX = "kubernetes:"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Recognisable stand-ins for the secrets an operator sets: the tests search outputs for them.
TEST_SECRET = "test-secret-value-{}"
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # Pulumi's marker for a secret value on the wire
SECRETS = ("openaiApiKey", "anthropicApiKey", "cohereApiKey", "hfToken")
# What docs/deploy.md tells the operator to set before the first preview (test values: the digests are made up).
OPERATOR_SETTINGS = {
    "switchboard:apiAllowedCidrs": ["34.201.10.20/32"],
    "switchboard:routerImage": "ghcr.io/example-org/switchboard:0.1.0@sha256:"
                               + hashlib.sha256(b"router image").hexdigest(),
    "switchboard:vllmImage": "vllm/vllm-openai:v0.33.0@sha256:" + hashlib.sha256(b"vllm image").hexdigest(),
}


# us-east-1 as one account sees it (zone names are shuffled per account; IDs are not). use1-az3 takes no EKS.
ZONES = {"us-east-1a": "use1-az4", "us-east-1b": "use1-az6", "us-east-1c": "use1-az1", "us-east-1d": "use1-az2",
         "us-east-1e": "use1-az3", "us-east-1f": "use1-az5"}
CLUSTER_SECURITY_GROUP = "sg-0cluster"


@dataclass
class Registration:
    """What the engine is told about a resource beyond its inputs: the options mocks do not see."""

    urn: str
    dependencies: list[str]
    custom_timeouts: dict[str, str]
    parent: str


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock engine, also keeping each resource's URN, dependencies and custom timeouts."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        response = super().RegisterResource(request)
        timeouts = request.customTimeouts
        self.registrations[f"{request.type}::{request.name}"] = Registration(
            urn=response.urn, dependencies=list(request.dependencies),
            custom_timeouts={k: v for k, v in (("create", timeouts.create), ("update", timeouts.update)) if v},
            parent=request.parent)
        return response


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource and call; answers with the provider-computed outputs the program reads."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        state = dict(args.inputs)
        # A name_prefix gets a generated suffix, as the provider does.
        name = args.inputs.get("name") or (args.inputs["namePrefix"] + "20261206000000000000000001"
                                            if args.inputs.get("namePrefix") else args.name)
        if args.typ == "aws:secretsmanager/secret:Secret":
            state["arn"] = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf"
        elif args.typ in ("aws:iam/role:Role", "aws:iam/policy:Policy"):
            kind = "role" if args.typ.endswith("Role") else "policy"
            state.update(arn=f"arn:aws:iam::{ACCOUNT}:{kind}/{name}", name=name)
        elif args.typ == "aws:eks/cluster:Cluster":
            state.update(name=name, endpoint="https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com",
                         certificateAuthority={"data": "Q0VSVElGSUNBVEU="},
                         arn=f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{name}",
                         vpcConfig={**args.inputs.get("vpcConfig", {}),
                                    "clusterSecurityGroupId": CLUSTER_SECURITY_GROUP})
        elif args.typ == "aws:eks/nodeGroup:NodeGroup":
            state["arn"] = f"arn:aws:eks:us-east-1:{ACCOUNT}:nodegroup/{args.name}"
        elif args.typ == "aws:sqs/queue:Queue":
            state.update(arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}", name=name,
                         url=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{name}")
        elif args.typ == "aws:cloudwatch/eventRule:EventRule":
            state["name"] = name
        elif args.typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            state["primaryEndpointAddress"] = "master.switchboard.abc123.use1.cache.amazonaws.com"
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{name}"
        elif args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"generated-{args.name}"
        elif args.typ == "random:index/randomId:RandomId":
            state["hex"] = f"{args.inputs.get('prefix', '')}0a1b2c3d"
        elif args.typ == "kubernetes:core/v1:Service" and args.inputs.get("spec", {}).get("type") == "LoadBalancer":
            state["status"] = {"loadBalancer": {"ingress": [{"hostname": "switchboard-123.elb.amazonaws.com"}]}}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append(args)
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            excluded = set(args.args.get("excludeZoneIds") or ())
            zones = {name: zone_id for name, zone_id in ZONES.items() if zone_id not in excluded}
            return {"names": list(zones), "zoneIds": list(zones.values()), "id": "us-east-1"}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "AIDAEXAMPLE",
                    "id": ACCOUNT}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
                    "id": "aws"}
        if args.token == "aws:ec2/getVpc:getVpc":
            return {"id": "vpc-0abc", "cidrBlock": "10.0.0.0/16"}
        if args.token == "aws:ec2/getSubnets:getSubnets":
            return {"ids": ["subnet-a", "subnet-b", "subnet-c"]}
        if args.token == "aws:ec2/getSubnet:getSubnet":
            return {"id": args.args.get("id"), "vpcId": "vpc-0abc"}
        return {}


@dataclass
class Deployment:
    resources: list[pulumi.runtime.MockResourceArgs]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    registrations: dict[str, Registration]
    calls: list[pulumi.runtime.MockCallArgs]

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def registration(self, resource: pulumi.runtime.MockResourceArgs) -> Registration:
        return self.registrations[f"{resource.typ}::{resource.name}"]

    def urn(self, resource: pulumi.runtime.MockResourceArgs) -> str:
        return self.registration(resource).urn

    def depends_on(self, resource: pulumi.runtime.MockResourceArgs, other: pulumi.runtime.MockResourceArgs) -> bool:
        """Whether `resource` waits for `other`: directly, through its provider, or transitively."""
        by_urn = {self.urn(r): r for r in self.resources}
        seen, todo = set(), self._waits_for(resource)
        while todo:
            urn = todo.pop()
            if urn == self.urn(other):
                return True
            if urn not in seen and urn in by_urn:
                seen.add(urn)
                todo.extend(self._waits_for(by_urn[urn]))
        return False

    def _waits_for(self, resource: pulumi.runtime.MockResourceArgs) -> list[str]:
        """Its dependencies, and its provider (made before it, deleted after it)."""
        provider = (resource.provider or "").rsplit("::", 1)[0]
        return [*self.registration(resource).dependencies, *([provider] if provider else [])]

    def by_urn(self) -> dict[str, pulumi.runtime.MockResourceArgs]:
        return {self.urn(r): r for r in self.resources}

    def descendants(self, component: pulumi.runtime.MockResourceArgs) -> list[pulumi.runtime.MockResourceArgs]:
        """The custom resources under a component, at any depth."""
        found, by_urn, root = [], self.by_urn(), self.urn(component)
        for resource in self.resources:
            parent = self.registration(resource).parent
            while parent and parent != root:
                parent = self.registration(by_urn[parent]).parent if parent in by_urn else ""
            if parent == root and resource.custom:
                found.append(resource)
        return found

    def parent_of(self, resource: pulumi.runtime.MockResourceArgs) -> pulumi.runtime.MockResourceArgs | None:
        return self.by_urn().get(self.registration(resource).parent)

    def dependents(self, resource: pulumi.runtime.MockResourceArgs) -> list[pulumi.runtime.MockResourceArgs]:
        """What waits for `resource` directly (and so, on destroy, is deleted before it)."""
        urn = self.urn(resource)
        return [r for r in self.resources if urn in self.registration(r).dependencies]

    def helm_releases(self) -> dict[str, dict[str, Any]]:
        """Each Helm release's inputs, by release name."""
        return {r.inputs["name"]: r.inputs for r in self.of_type(HELM_RELEASE)}

    @staticmethod
    def chart(release: dict[str, Any]) -> str:
        """A release's chart name (the last part of an OCI reference)."""
        return release["chart"].rsplit("/", 1)[-1]

    def k8s(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        objects = [o for o in self.k8s_objects() if o["kind"] == kind]
        return [o for o in objects if name is None or o["metadata"]["name"] == name]

    def k8s_objects(self) -> list[dict[str, Any]]:
        """Every declared Kubernetes object as a manifest (the provider's inputs are the manifest)."""
        objects = []
        for resource in self.resources:
            if not resource.typ.startswith(K8S_PREFIX) or resource.typ == HELM_RELEASE:
                continue
            manifest = _ints(dict(resource.inputs))  # includes apiVersion and kind, as the SDK sends them
            if "stringData" in manifest:  # secrets never leave the test as manifests
                manifest["stringData"] = {k: "redacted" for k in unwrap(manifest["stringData"])}
            objects.append(manifest)
        return objects


def unwrap(value: Any) -> Any:
    """A value the SDK sent as a secret, without its wrapper."""
    if isinstance(value, dict) and SECRET_SIGNATURE in value:
        return value["value"]
    return value


def _ints(value: Any) -> Any:
    """Numbers cross the mock's protobuf boundary as floats; Kubernetes wants its integers back."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints(item) for item in value]
    return value


def stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())


def stack_config(stack: str, overrides: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The config the Pulumi CLI hands the program: the stack file with what the operator sets (and `overrides`; a
    None removes a key), `Pulumi.yaml`'s declarations applied, and the operator's secrets (decrypted, and marked
    secret, as the CLI passes them)."""
    data = stack_file(stack)
    settings = {**data.get("config", {}), **OPERATOR_SETTINGS, **(overrides or {})}
    data["config"] = {key: value for key, value in settings.items() if value is not None}
    project = pulumi_project.load_project(ROOT / "Pulumi.yaml")
    config = pulumi_project.apply(project, stack, data)
    if secrets is None:
        secrets = {f"{PROJECT}:{key}": TEST_SECRET.format(key) for key in SECRETS}
    return {**config, **secrets}, sorted(secrets)


def configure(stack: str, overrides: dict[str, Any] | None = None,
              secrets: dict[str, str] | None = None) -> tuple[RecordingMocks, RecordingMonitor]:
    asyncio.set_event_loop(asyncio.new_event_loop())
    # A fresh root stack on the new loop (set_mocks keeps one left by a run that stopped at a config error).
    pulumi.runtime.settings.ROOT.set(None)
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(*stack_config(stack, overrides, secrets))
    return mocks, monitor


def deploy(stack: str, overrides: dict[str, Any] | None = None,
           secrets: dict[str, str] | None = None) -> Deployment:
    """`pulumi up` of the real program, against mocks instead of AWS."""
    mocks, monitor = configure(stack, overrides, secrets)
    exported: dict[str, Any] = {}
    values: dict[str, Any] = {}
    secret: set[str] = set()
    original_export = pulumi.export
    pulumi.export = lambda name, value: exported.__setitem__(name, value)  # type: ignore[assignment]

    @pulumi.runtime.test
    def run() -> Any:
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")

        async def collect() -> None:
            for name, value in exported.items():
                output = pulumi.Output.from_input(value)
                values[name] = await output.future()
                if await output.is_secret():
                    secret.add(name)

        return pulumi.Output.from_input(asyncio.ensure_future(collect()))

    try:
        run()
    finally:
        pulumi.export = original_export  # type: ignore[assignment]
    return Deployment(mocks.resources, values, secret, monitor.registrations, mocks.calls)
