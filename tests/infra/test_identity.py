"""Blockers 2, 4 and 8 of issue 20, on the dependency graph the mocks record (what the engine is told):

- every workload that runs under an AWS role waits for the role, every policy on it and its Pod Identity
  association (pods never start without credentials; on destroy none of them goes first);
- every controller is granted what its pinned version calls (the lists beside the versions, from upstream),
  and Karpenter's and the load balancer controller's policies are upstream's, no broader."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from infra import versions
from infra.components.load_balancer_controller import POLICY_FILE
from tests.infra.stack import ACCOUNT, ROOT, Deployment

STACKS = ["dev", "prod"]
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# What AWS-managed policies grant, as far as these tests need (AWS's managed policy reference).
MANAGED_GRANTS = {"arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries"}}


def name_of(resource: Any) -> str:
    return resource.inputs.get("name") or resource.name


def role_arn(role: Any) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name_of(role)}"


def role_pieces(deployment: Deployment, role: Any) -> list[Any]:
    """The role and everything that makes it usable: the component it belongs to, all of it."""
    component = deployment.parent_of(role)
    assert component is not None and component.typ == "switchboard:infra:IamRole", f"{role.name}: not an IamRole"
    pieces = deployment.descendants(component)
    assert role in pieces and any(p.typ == ATTACHMENT for p in pieces)
    return pieces


def roles_by_arn(deployment: Deployment) -> dict[str, Any]:
    return {role_arn(r): r for r in deployment.of_type(ROLE)}


def workloads_as(deployment: Deployment, namespace: str, account: str) -> list[Any]:
    """Everything that runs pods as this service account: the program's own workloads and Helm releases."""
    found = []
    for resource in deployment.resources:
        kind = resource.typ.rsplit(":", 1)[-1]
        if kind in WORKLOAD_KINDS and resource.typ.startswith("kubernetes:apps/"):
            pod = resource.inputs["spec"]["template"]["spec"]
            if (resource.inputs["metadata"].get("namespace") == namespace
                    and pod.get("serviceAccountName", "default") == account):
                found.append(resource)
        elif (resource.typ == "kubernetes:helm.sh/v3:Release" and resource.inputs["namespace"] == namespace
              and (resource.inputs.get("values") or {}).get("serviceAccount", {}).get("name") == account):
            found.append(resource)
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_waits_for_its_role_its_policies_and_its_association(deployments: dict[str, Deployment],
                                                                            stack: str) -> None:
    deployment = deployments[stack]
    by_arn = roles_by_arn(deployment)
    problems, checked = [], 0
    for association in deployment.of_type(ASSOCIATION):
        namespace, account = association.inputs["namespace"], association.inputs["serviceAccount"]
        pieces = role_pieces(deployment, by_arn[association.inputs["roleArn"]])
        assert association in pieces
        workloads = workloads_as(deployment, namespace, account)
        if not workloads:
            problems.append(f"{namespace}/{account}: a role nothing runs under")
        for workload in workloads:
            checked += 1
            problems += [f"{workload.typ} {workload.name} starts before {p.typ} {p.name}" for p in pieces
                         if not deployment.depends_on(workload, p)]
    for addon in deployment.of_type("aws:eks/addon:Addon"):  # add-ons make their own association
        for inline in addon.inputs.get("podIdentityAssociations") or ():
            checked += 1
            problems += [f"add-on {addon.inputs['addonName']} starts before {p.typ} {p.name}"
                         for p in role_pieces(deployment, by_arn[inline["roleArn"]])
                         if not deployment.depends_on(addon, p)]
    assert checked >= 7 and problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_cluster_and_every_node_wait_for_their_roles(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    by_arn = roles_by_arn(deployment)
    (cluster,) = deployment.of_type("aws:eks/cluster:Cluster")
    (group,) = deployment.of_type("aws:eks/nodeGroup:NodeGroup")
    problems = [f"cluster before {p.name}" for p in role_pieces(deployment, by_arn[cluster.inputs["roleArn"]])
                if not deployment.depends_on(cluster, p)]
    problems += [f"node group before {p.name}" for p in role_pieces(deployment, by_arn[group.inputs["nodeRoleArn"]])
                 if not deployment.depends_on(group, p)]
    # Karpenter's nodes: a node class names the role; its nodes join through the role's access entry.
    roles_by_name = {name_of(r): r for r in deployment.of_type(ROLE)}
    entries = deployment.of_type("aws:eks/accessEntry:AccessEntry")
    for resource in deployment.resources:
        if resource.typ not in ("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "kubernetes:karpenter.sh/v1:NodePool"):
            continue
        for node_class in deployment.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"):
            role = roles_by_name[node_class.inputs["spec"]["role"]]
            (entry,) = [e for e in entries if e.inputs["principalArn"] == role_arn(role)]
            problems += [f"{resource.name} before {p.name}" for p in [*role_pieces(deployment, role), entry]
                         if not deployment.depends_on(resource, p)]
    assert problems == []


def no_iam_piece_is_a_leaf(deployment: Deployment) -> list[str]:
    """An IAM piece nothing depends on is deleted in the first wave of `pulumi destroy`."""
    return [f"{r.typ} {r.name}" for r in deployment.resources
            if r.typ in (ATTACHMENT, POLICY, ASSOCIATION, ROLE) and not deployment.dependents(r)]


@pytest.mark.parametrize("stack", STACKS)
def test_no_role_policy_or_association_goes_in_destroy_first_wave(deployments: dict[str, Deployment],
                                                                  stack: str) -> None:
    assert no_iam_piece_is_a_leaf(deployments[stack]) == []


# --- what each controller may do -------------------------------------------------------------------------------


def grants(deployment: Deployment, role: Any) -> tuple[list[dict], set[str]]:
    """The statements of the role's own policies, and the managed policies attached to it."""
    policies = {f"arn:aws:iam::{ACCOUNT}:policy/{name_of(p)}": p for p in deployment.of_type(POLICY)}
    statements, managed = [], set()
    for attachment in deployment.of_type(ATTACHMENT):
        if attachment.inputs["role"] != name_of(role):
            continue
        arn = attachment.inputs["policyArn"]
        if arn in policies:
            statements += json.loads(policies[arn].inputs["policy"])["Statement"]
        else:
            managed.add(arn)
    return statements, managed


def allowed(statements: list[dict], managed: set[str], action: str) -> bool:
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action, a) for a in actions):
            return True
    return any(action in MANAGED_GRANTS.get(arn, ()) for arn in managed)


def controller_role(deployment: Deployment, namespace: str, account: str) -> Any:
    (association,) = [a for a in deployment.of_type(ASSOCIATION)
                      if (a.inputs["namespace"], a.inputs["serviceAccount"]) == (namespace, account)]
    return roles_by_arn(deployment)[association.inputs["roleArn"]]


CONTROLLERS = [
    (versions.KARPENTER, "kube-system", "karpenter", None),
    (versions.LOAD_BALANCER_CONTROLLER, "kube-system", "aws-load-balancer-controller", None),
    (versions.COLLECTOR, "monitoring", "otel-logs", "logs:"),
    (versions.COLLECTOR, "monitoring", "otel-collector", "xray:"),
]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("pin", "namespace", "account", "prefix"), CONTROLLERS)
def test_each_controller_is_granted_what_its_pinned_version_calls(deployments: dict[str, Deployment], stack: str,
                                                                  pin, namespace, account, prefix) -> None:
    deployment = deployments[stack]
    statements, managed = grants(deployment, controller_role(deployment, namespace, account))
    needed = [a for a in pin.iam_actions if prefix is None or a.startswith(prefix)]
    assert needed and [a for a in needed if not allowed(statements, managed, a)] == []


def test_the_karpenter_list_covers_what_the_node_class_finalizer_calls() -> None:
    """`pulumi destroy` waits on the EC2NodeClass finalizer, which lists and deletes instance profiles."""
    assert {"iam:ListInstanceProfiles", "iam:RemoveRoleFromInstanceProfile",
            "iam:DeleteInstanceProfile"} <= set(versions.KARPENTER.iam_actions)


def substitute(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in names.items():
            value = value.replace(f"${{{key}}}", replacement)
        return value
    if isinstance(value, list):
        return [substitute(v, names) for v in value]
    if isinstance(value, dict):
        return {substitute(k, names): substitute(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("stack", STACKS)
def test_karpenter_may_do_what_upstream_grants_it_and_nothing_more(deployments: dict[str, Deployment],
                                                                   stack: str) -> None:
    deployment = deployments[stack]
    statements, managed = grants(deployment, controller_role(deployment, "kube-system", "karpenter"))
    (queue,) = deployment.of_type("aws:sqs/queue:Queue")
    node_role = next(r for r in deployment.of_type(ROLE) if r.name.endswith("-karpenter-node"))
    upstream = json.loads((ROOT / "tests" / "infra" / "upstream" /
                           "karpenter-v1.14.1-controller-policy.json").read_text())["Statement"]
    expected = substitute(upstream, {
        "AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT,
        "ClusterName": f"switchboard-{stack}", "KarpenterNodeRole.Arn": role_arn(node_role),
        "KarpenterInterruptionQueue.Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name_of(queue)}"})
    assert managed == set() and statements == expected


@pytest.mark.parametrize("stack", STACKS)
def test_the_load_balancer_controller_policy_is_upstreams(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    statements, managed = grants(deployment, controller_role(deployment, "kube-system",
                                                             "aws-load-balancer-controller"))
    assert managed == set() and statements == json.loads(POLICY_FILE.read_text())["Statement"]


def conditioned_on(statement: dict, text: str) -> bool:
    return text in json.dumps(statement.get("Condition", {}))


@pytest.mark.parametrize("stack", STACKS)
def test_no_controller_can_touch_what_it_did_not_make(deployments: dict[str, Deployment], stack: str) -> None:
    """Issue 20 found Karpenter able to terminate and tag any instance and read any SSM parameter, and the load
    balancer controller able to retag and delete any load balancer."""
    deployment = deployments[stack]
    cluster_tag = f"kubernetes.io/cluster/switchboard-{stack}"
    karpenter, _ = grants(deployment, controller_role(deployment, "kube-system", "karpenter"))
    problems = []
    for statement in karpenter:
        actions = set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        if actions & {"ec2:TerminateInstances", "ec2:DeleteLaunchTemplate", "ec2:CreateTags"} and not (
                conditioned_on(statement, cluster_tag) and conditioned_on(statement, "karpenter.sh/nodepool")):
            problems.append(f"karpenter {statement.get('Sid')}: {sorted(actions)} on anything")
        if "ssm:GetParameter" in actions and statement["Resource"] != "arn:aws:ssm:us-east-1::parameter/aws/service/*":
            problems.append(f"karpenter: ssm:GetParameter on {statement['Resource']}")
        if "iam:PassRole" in actions and not str(statement["Resource"]).endswith("-karpenter-node"):
            problems.append(f"karpenter: iam:PassRole on {statement['Resource']}")
    lbc, _ = grants(deployment, controller_role(deployment, "kube-system", "aws-load-balancer-controller"))
    guarded = {"elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DeleteTargetGroup",
               "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:AddTags",
               "elasticloadbalancing:RemoveTags", "ec2:DeleteSecurityGroup"}
    for statement in lbc:
        actions = set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        only_listeners = all(":listener" in r for r in resources)
        if actions & guarded and not only_listeners and not conditioned_on(statement, "elbv2.k8s.aws/cluster"):
            problems.append(f"load balancer controller: {sorted(actions & guarded)} on {resources}")
    for policy in deployment.of_type(POLICY):  # nowhere a wildcard action
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            problems += [f"{policy.name}: {a}" for a in actions if a == "*" or a.endswith(":*")]
    assert problems == []
