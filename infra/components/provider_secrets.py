"""The keys the router reads at start-up, in Secrets Manager: one secret per provider key, and the admin key.

The router's role may read exactly these (see router.py); their ARNs reach the pods as plain environment variables
and are exported, their values never are.

Names are generated (`<project>/<stack>/<key>-` and a suffix), so a stack destroyed and created again does not
collide with its own deleted secrets, which Secrets Manager keeps for the recovery window (`recovery_days`: 0,
deleted at once, outside prod; up to 30 in prod, where a key deleted by mistake can be restored).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws
import pulumi_random as random


def read_statements(arns: list[str]) -> list[dict]:
    """Read exactly these secrets (the router's and worker's policy)."""
    return [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": sorted(arns)}]


class ProviderSecrets(pulumi.ComponentResource):
    arns: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        *,
        path: str,
        keys: Mapping[str, pulumi.Output[str] | None],
        recovery_days: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:ProviderSecrets", name, None, opts)
        self.arns = {}
        for provider, key in keys.items():
            secret = aws.secretsmanager.Secret(
                f"{name}-{provider}",
                name_prefix=f"{path}/{provider}-api-key-",
                description=f"Switchboard: the {provider} API key",
                recovery_window_in_days=recovery_days,
                opts=pulumi.ResourceOptions(parent=self),
            )
            if key is not None:  # otherwise set out of band: aws secretsmanager put-secret-value
                aws.secretsmanager.SecretVersion(f"{name}-{provider}", secret_id=secret.id, secret_string=key,
                                                 opts=pulumi.ResourceOptions(parent=secret))
            self.arns[provider] = secret.arn
        self.register_outputs({"arns": self.arns})


class AdminKey(pulumi.ComponentResource):
    """The gateway's admin key: the stack's `adminKey` secret if set, else generated once (and kept in state)."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, *, path: str, value: pulumi.Output[str] | None, recovery_days: int,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("switchboard:infra:AdminKey", name, None, opts)
        if value is None:
            value = random.RandomPassword(name, length=48, special=False,
                                          opts=pulumi.ResourceOptions(parent=self)).result
        secret = aws.secretsmanager.Secret(name, name_prefix=f"{path}/admin-key-", recovery_window_in_days=recovery_days,
                                           description="Switchboard: the admin key (manages callers' keys)",
                                           opts=pulumi.ResourceOptions(parent=self))
        aws.secretsmanager.SecretVersion(name, secret_id=secret.id, secret_string=pulumi.Output.secret(value),
                                         opts=pulumi.ResourceOptions(parent=secret))
        self.arn = secret.arn
        self.register_outputs({"arn": self.arn})
