"""Provider keys from AWS Secrets Manager.

When the environment names a secret for a key (`OPENAI_API_KEY_SECRET_ARN=arn:aws:secretsmanager:...`),
the key is read with boto3 at start-up, kept in memory, and read again every `refresh_s` so a rotated key
is picked up without a restart. Values are never logged; only ARNs and error classes are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import boto3

from switchboard.logs import log
from switchboard.redact import register_secret

ARN_SUFFIX = "_SECRET_ARN"


def secret_arns(env: Mapping[str, str], key_envs: list[str]) -> dict[str, str]:
    """{key variable: secret ARN} for every key variable whose `<NAME>_SECRET_ARN` is set."""
    return {name: env[name + ARN_SUFFIX] for name in key_envs if env.get(name + ARN_SUFFIX)}


def _region(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "secretsmanager":
        raise ValueError(f"not a Secrets Manager ARN: {arn}")
    return parts[3]


class SecretKeys:
    def __init__(self, arns: Mapping[str, str], client_factory: Callable[[str], Any] | None = None) -> None:
        for arn in arns.values():
            _region(arn)
        self.arns = dict(arns)
        self._client_factory = client_factory or (lambda region: boto3.client("secretsmanager", region_name=region))
        self._clients: dict[str, Any] = {}
        self.values: dict[str, str] = {}

    def fetch(self) -> dict[str, str]:
        """Read every secret (blocking: call it in a thread). A secret that cannot be read keeps its old value."""
        for name, arn in self.arns.items():
            region = _region(arn)
            client = self._clients.get(region) or self._clients.setdefault(region, self._client_factory(region))
            try:
                value = client.get_secret_value(SecretId=arn)["SecretString"].strip()
            except Exception as error:  # boto's errors, network: log the class, never a value
                log.warning("secret_unreadable", key=name, arn=arn, error=type(error).__name__)
                continue
            register_secret(value)
            self.values[name] = value
        return dict(self.values)

    async def refresh_forever(self, interval_s: float, apply: Callable[[dict[str, str]], None]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            apply(await asyncio.to_thread(self.fetch))
