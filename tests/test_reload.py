"""Config reload without a restart: SIGHUP to a real `switchboard serve` (and `POST /admin/config/reload`)
re-reads the file, validates it and swaps it in; a broken file changes nothing and says which field; a request
in flight keeps the config it started with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from tests.conftest import config_data, free_port, make_config
from tests.fakes import Reply
from tests.test_operations import ADMIN, ADMIN_HEADERS, until

CHAIN = ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"]
NEW_CHAIN = ["anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"]


def _write(path: Path, creative_writing: list[str], **extra: Any) -> None:
    path.write_text(yaml.safe_dump({**config_data(), "routes": {"creative_writing": creative_writing}, **extra}))


def _chain(base: str) -> list[str]:
    body = {"text": "hi", "task_type": "creative_writing"}
    return httpx.post(f"{base}/decide", json=body, headers=ADMIN_HEADERS, timeout=5).json()["chain"]


def _reloads(base: str, result: str) -> float:
    text = httpx.get(f"{base}/metrics", headers=ADMIN_HEADERS, timeout=5).text
    line = next(line for line in text.splitlines()
                if line.startswith(f'switchboard_config_reloads_total{{result="{result}"}}'))
    return float(line.rsplit(" ", 1)[1])


def test_sighup_with_a_changed_route_changes_decide_within_2s_and_a_broken_file_changes_nothing(
        tmp_path, env, fakes) -> None:
    config = tmp_path / "switchboard.yaml"
    _write(config, CHAIN)
    port = free_port()
    log = tmp_path / "gateway.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "switchboard", "serve", "--port", str(port), "--config", str(config)],
            env={"PATH": os.environ["PATH"], **env, "SWITCHBOARD_ADMIN_KEY": ADMIN}, stdout=out,
            stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        assert "listening on" in process.stderr.readline()
        base = f"http://127.0.0.1:{port}"
        assert _chain(base) == CHAIN
        assert _reloads(base, "ok") == 0 and _reloads(base, "error") == 0  # both series exist from the start

        _write(config, NEW_CHAIN)
        process.send_signal(signal.SIGHUP)
        _, took = until(lambda: _chain(base) == NEW_CHAIN, 2.0)
        assert took < 2.0 and _reloads(base, "ok") == 1

        config.write_text(config.read_text().replace("anthropic:claude-sonnet-4-6", "nope:model"))
        process.send_signal(signal.SIGHUP)
        until(lambda: _reloads(base, "error") == 1, 2.0)
        assert _chain(base) == NEW_CHAIN  # the running config is unchanged
        assert process.poll() is None

        answer = httpx.post(f"{base}/admin/config/reload", headers=ADMIN_HEADERS, timeout=5)
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["code"] == "config_invalid" and error["field"] == "routes.creative_writing[0]"
        assert "unknown provider 'nope'" in error["message"] and "unchanged" in error["message"]

        _write(config, CHAIN, retry={"max_retries": 1}, server={"max_in_flight": 64})
        answer = httpx.post(f"{base}/admin/config/reload", headers=ADMIN_HEADERS, timeout=5)
        assert answer.status_code == 200, answer.text
        assert answer.json()["changed"] == ["retry", "routes", "server"]
        assert answer.json()["restart_needed"] == ["server"]
        assert _chain(base) == CHAIN
    finally:
        process.terminate()
        process.wait(20)
    records = [orjson.loads(line) for line in log.read_text().splitlines() if '"record":"operation"' in line]
    reloads = [(r["action"], r["result"], r["source"]) for r in records]
    assert reloads == [("reload", "ok", "signal"), ("reload", "error", "signal"), ("reload", "error", "api"),
                       ("reload", "ok", "api")]
    assert records[1]["field"] == "routes.creative_writing[0]"


def test_a_request_in_flight_keeps_the_config_it_started_with(serve, tmp_path, env, fakes) -> None:
    config = tmp_path / "switchboard.yaml"
    slow_first_token = {"timeouts": {**config_data()["timeouts"], "first_token_s": 5}}
    _write(config, CHAIN, **slow_first_token)
    base = serve(make_config(**slow_first_token),
                 environment={**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "SWITCHBOARD_CONFIG": str(config)})
    fakes.openai.push(Reply(text="slow and old", delay_s=1.0))
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(httpx.post(
        f"{base}/complete", json={"text": "hi", "task_type": "creative_writing"}, headers=ADMIN_HEADERS,
        timeout=10)))
    slow.start()
    until(lambda: fakes.openai.calls == 1, 2.0)  # it is in flight at OpenAI
    _write(config, NEW_CHAIN, **slow_first_token)
    assert httpx.post(f"{base}/admin/config/reload", headers=ADMIN_HEADERS, timeout=5).status_code == 200
    assert _chain(base) == NEW_CHAIN
    slow.join(10)
    body = answers[0].json()
    assert (body["provider"], body["text"]) == ("openai", "slow and old")
    assert "openai:gpt-5.4 > anthropic" in body["route"]["reason"]
    started = time.monotonic()
    after = httpx.post(f"{base}/complete", json={"text": "hi", "task_type": "creative_writing"},
                       headers=ADMIN_HEADERS, timeout=10).json()
    assert after["provider"] == "anthropic" and time.monotonic() - started < 1.0
