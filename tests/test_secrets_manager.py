"""Provider keys read from AWS Secrets Manager (moto), refreshed, and never logged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import boto3
import pytest
from moto import mock_aws

from switchboard import Switchboard
from tests.conftest import KEYS, make_config, outcomes
from tests.waiting import wait_until_async


def _rotated_in(sb: Switchboard, key: str) -> Callable[[], Awaitable[bool]]:
    async def rotated() -> bool:  # the background refresh has handed the new key to the provider's adapter
        return sb.runtime.adapters["openai"].api_key == key
    return rotated


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


async def test_keys_come_from_secrets_manager_and_rotate(aws, fakes, env, capfd) -> None:
    arn = aws.create_secret(Name="switchboard/dev/openai-api-key", SecretString=KEYS["OPENAI_API_KEY"])["ARN"]
    environment = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"} | {
        "OPENAI_API_KEY_SECRET_ARN": arn, "SWITCHBOARD_SECRET_REFRESH_S": "0.1"}
    async with Switchboard(make_config(), environment) as sb:
        response = await sb.complete("hi", task_type="creative_writing")
        assert response.provider == "openai"
        assert fakes.openai.received[-1].headers["Authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"

        rotated = "sk-test-openai-ROTATED-0009zzzz"
        aws.put_secret_value(SecretId=arn, SecretString=rotated)
        fakes.openai.api_key = rotated
        await wait_until_async(_rotated_in(sb, rotated), timeout=5, message="the refresh to read the new key")
        response = await sb.complete("hi", task_type="creative_writing")
        assert outcomes([a.model_dump() for a in response.route.attempts]) == [("openai", "ok")]
        assert fakes.openai.received[-1].headers["Authorization"] == f"Bearer {rotated}"

        fakes.openai.api_key = "something-else"  # the provider now refuses: its echo must be masked
        await sb.complete("hi", task_type="creative_writing")
    captured = capfd.readouterr()
    for key in (KEYS["OPENAI_API_KEY"], rotated):
        assert key not in captured.out + captured.err and key[:12] not in captured.out + captured.err


async def test_an_unreadable_secret_is_logged_by_arn_and_the_provider_skipped(aws, env, fakes, capfd) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:switchboard/dev/missing-AbCdEf"
    environment = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"} | {"OPENAI_API_KEY_SECRET_ARN": arn}
    async with Switchboard(make_config(), environment) as sb:
        response = await sb.complete("hi", task_type="creative_writing")
    assert outcomes([a.model_dump() for a in response.route.attempts])[0] == ("openai", "skipped_no_key")
    out = capfd.readouterr().out
    assert "secret_unreadable" in out and "ResourceNotFoundException" in out and arn in out


def test_a_malformed_arn_stops_start_up() -> None:
    with pytest.raises(ValueError, match="not a Secrets Manager ARN"):
        Switchboard(make_config(), {"OPENAI_API_KEY_SECRET_ARN": "arn:aws:s3:::bucket"})
