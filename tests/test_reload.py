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
import pytest
import yaml
from typer.testing import CliRunner

from switchboard.cli import app
from tests.conftest import config_data, free_port, make_config
from tests.fakes import Reply
from tests.test_operations import ADMIN, ADMIN_HEADERS, until

pytestmark = pytest.mark.slow  # gateway processes and signals

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


def test_a_request_in_flight_keeps_the_config_it_started_with(serve, tmp_path, env, fakes, monkeypatch) -> None:
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
    monkeypatch.setenv("SWITCHBOARD_ADMIN_KEY", ADMIN)
    reloaded = CliRunner().invoke(app, ["config", "reload", "--url", base])  # POST /admin/config/reload
    said = [line for line in reloaded.output.splitlines() if not line.startswith("{")]  # (the gateway's lines)
    assert reloaded.exit_code == 0 and said[0].startswith(f"reloaded {config} on ") and said[0].endswith(
        "(config generation 2): changed routes"), reloaded.output
    assert _chain(base) == NEW_CHAIN
    slow.join(10)
    body = answers[0].json()
    assert (body["provider"], body["text"]) == ("openai", "slow and old")
    assert "openai:gpt-5.4 > anthropic" in body["route"]["reason"]
    started = time.monotonic()
    after = httpx.post(f"{base}/complete", json={"text": "hi", "task_type": "creative_writing"},
                       headers=ADMIN_HEADERS, timeout=10).json()
    assert after["provider"] == "anthropic" and time.monotonic() - started < 1.0


def _echo(targets: list[str]) -> dict[str, Any]:
    return {"echo": {"inputs": {"topic": {}}, "steps": [
        {"name": "say", "targets": targets, "prompt": "Say {inputs.topic}."}]}}


@pytest.mark.slow
def test_sighup_reloads_the_worker_before_its_next_job(serve, env, redis_url, tmp_path, fakes) -> None:
    """A prefork worker: the main process passes SIGHUP on to its pool process, which reloads before its next
    job (Celery's own SIGHUP would restart the worker instead)."""
    config = tmp_path / "switchboard.yaml"
    config.write_text(yaml.safe_dump({**config_data(), "pipelines": _echo(["openai:gpt-5.4"])}))
    base = serve(make_config(pipelines=_echo(["openai:gpt-5.4"])), redis=redis_url)
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "switchboard", "worker", "--pool=prefork", "--concurrency=1"],
            env={**os.environ, **env, "REDIS_URL": redis_url, "SWITCHBOARD_CONFIG": str(config)}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def run_job() -> dict[str, Any]:
            job = httpx.post(f"{base}/pipelines/echo/jobs", json={"inputs": {"topic": "hi"}}, timeout=10).json()
            done, _ = until(lambda: (j := httpx.get(f"{base}/jobs/{job['id']}", timeout=5).json())["status"]
                            in ("succeeded", "failed") and j, 60.0, 0.1)
            assert done["status"] == "succeeded", done
            return done["result"]["steps"]["say"]

        assert run_job()["provider"] == "openai"
        config.write_text(yaml.safe_dump({**config_data(), "pipelines": _echo(["anthropic:claude-sonnet-4-6"])}))
        worker.send_signal(signal.SIGHUP)
        assert run_job()["provider"] == "anthropic"
        assert worker.poll() is None
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    records = [orjson.loads(line) for line in log.read_text().splitlines() if '"record":"operation"' in line]
    assert [(r["action"], r["result"], r["source"]) for r in records] == [("reload", "ok", "signal")]
    assert "Restarting celery worker" not in log.read_text()
