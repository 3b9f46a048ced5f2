"""One Secrets Manager secret per provider key, and a policy that may read exactly those."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws


def read_policy_document(arns: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": sorted(arns)}]})


class ProviderSecrets(pulumi.ComponentResource):
    arns: dict[str, pulumi.Output[str]]
    read_policy: aws.iam.Policy

    def __init__(
        self,
        name: str,
        *,
        path: str,
        keys: Mapping[str, pulumi.Output[str] | None],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:ProviderSecrets", name, None, opts)
        self.arns = {}
        for provider, key in keys.items():
            secret = aws.secretsmanager.Secret(
                f"{name}-{provider}",
                name=f"{path}/{provider}-api-key",
                description=f"Switchboard: the {provider} API key",
                recovery_window_in_days=7,
                opts=pulumi.ResourceOptions(parent=self),
            )
            if key is not None:  # otherwise set out of band: aws secretsmanager put-secret-value
                aws.secretsmanager.SecretVersion(f"{name}-{provider}", secret_id=secret.id, secret_string=key,
                                                 opts=pulumi.ResourceOptions(parent=secret))
            self.arns[provider] = secret.arn
        self.read_policy = aws.iam.Policy(
            f"{name}-read",
            description="Read the Switchboard provider keys, and nothing else",
            policy=pulumi.Output.all(*self.arns.values()).apply(read_policy_document),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"arns": self.arns})
