"""A bad config file stops start-up with a message that names the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from switchboard.config import ConfigError, default_config_data, load_config


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "switchboard.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_embedded_defaults_route_as_documented() -> None:
    config = load_config()
    first = {name: route.targets[0].provider for name, route in config.routes.items()}
    assert first == {
        "creative_writing": "openai",
        "technical_explanation": "anthropic",
        "summarization": "cohere",
        "classification": "cohere",
    }
    assert [t.provider for t in config.default_route.targets] == ["openai", "anthropic", "local"]
    assert all(route.targets[-1].provider == "local" for route in config.all_routes())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["routes"]["creative_writing"].__setitem__(0, "nobody:x"),
         "routes.creative_writing[0]: unknown provider 'nobody'"),
        (lambda d: d["routes"]["summarization"].__setitem__(0, "cohere:no-such-model"),
         "routes.summarization[0]: model 'no-such-model'"),
        (lambda d: d["routes"]["summarization"].__setitem__(0, "cohere"),
         "routes.summarization.0: 'cohere' is not of the form provider:model"),
        (lambda d: d["providers"]["openai"].__setitem__("kind", "grpc"), "providers.openai.kind"),
        (lambda d: d["retry"].__setitem__("max_retries", -1), "retry.max_retries"),
        (lambda d: d["breaker"].__setitem__("cooldown_s", 0), "breaker.cooldown_s"),
        (lambda d: d["providers"]["openai"].__setitem__("base_url", "ftp://x"), "providers.openai.base_url"),
        (lambda d: d.pop("default_route"), "default_route: Field required"),
        (lambda d: d.__setitem__("retires", {}), "retires: Extra inputs are not permitted"),
    ],
)
def test_a_bad_file_names_the_field(tmp_path, mutate, expected) -> None:
    data = default_config_data()
    mutate(data)
    with pytest.raises(ConfigError, match="switchboard.yaml") as raised:
        load_config(_write(tmp_path, data))
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
        result = subprocess.run(
            [sys.executable, "-m", "switchboard", "serve", "--port", "1", *args],
            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env},
        )
        assert result.returncode == 2
        assert "routes.creative_writing[0]: unknown provider 'nobody'" in result.stderr
