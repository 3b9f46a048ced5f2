"""A bad config file stops start-up with a message that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from switchboard.config import ConfigError, default_config_data, load_config
from tests.conftest import cli


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "switchboard.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_embedded_defaults_route_as_documented() -> None:
    config = load_config(env={})
    first = {name: route.targets[0].provider for name, route in config.routes.items()}
    assert first == {
        "creative_writing": "openai",
        "technical_explanation": "anthropic",
        "summarization": "cohere",
        "classification": "cohere",
        "coding": "anthropic",
        "math": "openai",
    }
    assert [t.provider for t in config.default_route.targets] == ["openai", "anthropic", "local"]
    assert all(chain[-1].provider == "local" for chain in config.chat_chains().values())
    assert config.timeouts.first_token_s and config.timeouts.stall_s and config.timeouts.pipeline_s
    assert set(config.tiers) == {"free", "paid"}


def test_a_partial_file_is_merged_over_the_defaults(tmp_path) -> None:
    path = _write(tmp_path, {
        "routes": {"creative_writing": ["anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"]},
        "providers": {"openai": {"base_url": "http://10.0.0.5:8000/v1"}},
        "tiers": {"free": None},
        "timeouts": {"request_s": 30},
    })
    config = load_config(path, env={})
    assert [t.key for t in config.routes["creative_writing"].targets] == [
        "anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"]  # a list replaces the default list
    assert config.providers["openai"].base_url == "http://10.0.0.5:8000/v1"
    assert config.providers["openai"].models  # the rest of the provider is the default's
    assert config.timeouts.request_s == 30 and config.timeouts.stall_s == 15
    assert set(config.tiers) == {"paid"}  # null removes
    assert config.routes["technical_explanation"].targets[0].provider == "anthropic"


def test_removing_a_provider_that_a_route_still_names_says_where(tmp_path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, {"providers": {"cohere": None}}), env={})
    assert "routes.summarization[0]: unknown provider 'cohere'" in str(raised.value)


def test_config_show_prints_the_effective_config(tmp_path) -> None:
    path = _write(tmp_path, {"timeouts": {"request_s": 42}})
    result = cli("config", "show", "--config", str(path))
    assert result.exit_code == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["timeouts"]["request_s"] == 42 and "openai" in shown["providers"] and shown["pipelines"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["routes"]["creative_writing"].__setitem__(0, "nobody:x"),
         "routes.creative_writing[0]: unknown provider 'nobody'"),
        (lambda d: d["routes"]["summarization"].__setitem__(0, "cohere:no-such-model"),
         "routes.summarization[0]: model 'no-such-model'"),
        (lambda d: d["routes"]["summarization"].__setitem__(0, "cohere"),
         "routes.summarization[0]: 'cohere' is not of the form provider:model"),
        (lambda d: d["providers"]["openai"].__setitem__("kind", "grpc"), "providers.openai.kind"),
        (lambda d: d["retry"].__setitem__("max_retries", -1), "retry.max_retries"),
        (lambda d: d["breaker"].__setitem__("cooldown_s", 0), "breaker.cooldown_s"),
        (lambda d: d["providers"]["openai"].__setitem__("base_url", "ftp://x"), "providers.openai.base_url"),
        (lambda d: d.__setitem__("default_route", []), "default_route: List should have at least 1 item"),
        (lambda d: d["routing"].__setitem__("rules", ["pinned", "no_such_rule", "default"]),
         "routing.rules[1]: no rule 'no_such_rule'"),
        (lambda d: d.__setitem__("retires", {}), "retires: Extra inputs are not permitted"),
    ],
)
def test_a_bad_file_names_the_field(tmp_path, mutate, expected) -> None:
    data = default_config_data()
    mutate(data)
    with pytest.raises(ConfigError, match="switchboard.yaml") as raised:
        load_config(_write(tmp_path, data), env={})
    assert expected in str(raised.value)


def test_unreadable_and_non_yaml_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "providers: [unclosed"))


def test_serve_refuses_to_start_on_a_bad_config(tmp_path) -> None:
    data = default_config_data()
    data["routes"]["creative_writing"][0] = "nobody:x"
    path = _write(tmp_path, data)
    for args, env in (([f"--config={path}"], {}), ([], {"SWITCHBOARD_CONFIG": str(path)})):
        result = cli("serve", "--port", "1", *args, env=env)
        assert result.exit_code == 2
        assert "routes.creative_writing[0]: unknown provider 'nobody'" in result.stderr
