"""Run the real Pulumi program (`infra/__main__.py`) under Pulumi's mocks and record what it declares."""

from __future__ import annotations

import asyncio
import json
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "switchboard"
ACCOUNT = "123456789012"
K8S_PREFIX = "kubernetes:"
# Recognisable stand-ins for the `secure:` values: the tests search outputs for them.
TEST_SECRET = "test-secret-value-{}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource; answers with the provider-computed outputs the program reads."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        state = dict(args.inputs)
        name = args.inputs.get("name") or args.name
        if args.typ == "aws:secretsmanager/secret:Secret":
            state["arn"] = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf"
        elif args.typ in ("aws:iam/role:Role", "aws:iam/policy:Policy"):
            kind = "role" if args.typ.endswith("Role") else "policy"
            state.update(arn=f"arn:aws:iam::{ACCOUNT}:{kind}/{name}", name=name)
        elif args.typ == "aws:eks/cluster:Cluster":
            state.update(name=args.name, endpoint="https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com",
                         certificateAuthority={"data": "Q0VSVElGSUNBVEU="},
                         arn=f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{args.name}")
        elif args.typ == "aws:eks/nodeGroup:NodeGroup":
            state["arn"] = f"arn:aws:eks:us-east-1:{ACCOUNT}:nodegroup/{args.name}"
        elif args.typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            state["primaryEndpointAddress"] = "master.switchboard.abc123.use1.cache.amazonaws.com"
        elif args.typ == "kubernetes:core/v1:Service" and args.inputs.get("spec", {}).get("type") == "LoadBalancer":
            state["status"] = {"loadBalancer": {"ingress": [{"hostname": "switchboard-123.elb.amazonaws.com"}]}}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
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

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def k8s(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        objects = [o for o in self.k8s_objects() if o["kind"] == kind]
        return [o for o in objects if name is None or o["metadata"]["name"] == name]

    def k8s_objects(self) -> list[dict[str, Any]]:
        """Every declared Kubernetes object as a manifest (the provider's inputs are the manifest)."""
        objects = []
        for resource in self.resources:
            if not resource.typ.startswith(K8S_PREFIX) or resource.typ == "pulumi:providers:kubernetes":
                continue
            manifest = _ints(dict(resource.inputs))  # includes apiVersion and kind, as the SDK sends them
            if "stringData" in manifest:  # secrets never leave the test as manifests
                manifest["stringData"] = {k: "redacted" for k in manifest["stringData"]}
            objects.append(manifest)
        return objects


def _ints(value: Any) -> Any:
    """Numbers cross the mock's protobuf boundary as floats; Kubernetes wants its integers back."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints(item) for item in value]
    return value


def stack_config(stack: str, overrides: dict[str, Any] | None = None) -> tuple[dict[str, str], list[str]]:
    """A stack file's config as Pulumi hands it to a program; `secure:` values become test stand-ins."""
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    data.update(overrides or {})
    config, secret_keys = {}, []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict) and "secure" in value:
            value = TEST_SECRET.format(key.split(":", 1)[1])
            secret_keys.append(key)
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config, secret_keys


def configure(stack: str, overrides: dict[str, Any] | None = None) -> RecordingMocks:
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(*stack_config(stack, overrides))
    return mocks


def deploy(stack: str, overrides: dict[str, Any] | None = None) -> Deployment:
    """`pulumi up` of the real program, against mocks instead of AWS."""
    mocks = configure(stack, overrides)
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
    return Deployment(mocks.resources, values, secret)
