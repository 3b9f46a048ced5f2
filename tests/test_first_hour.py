"""A new user's first hour: what the README's commands print, and every surprise on that path removed."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from switchboard import Switchboard
from tests.conftest import cli, config_data, free_port
from tests.waiting import wait_until

CLI = [sys.executable, "-m", "switchboard"]


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, input=stdin,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


@pytest.mark.slow
def test_serve_says_when_it_is_up_and_when_it_stops(env, fakes, tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(config_data()))
    port = free_port()
    process = subprocess.Popen([*CLI, "serve", "--port", str(port), "--config", str(config)],
                               env={"PATH": "/usr/bin:/bin", **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    up = process.stderr.readline()
    assert f"listening on http://127.0.0.1:{port}" in up and str(config) in up
    assert "usable targets:" in up and "embedded model: off" in up
    assert "auth: off (every endpoint open, /metrics too)" in up  # open metrics are said, not discovered
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    process.terminate()
    assert process.wait(20) is not None
    assert "stopped" in process.stderr.read()


@pytest.mark.slow
def test_a_port_in_use_is_one_line_naming_the_option(env) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--port" in result.stderr and "already in use" in result.stderr


def test_every_error_response_carries_a_request_id_even_a_500(serve, monkeypatch) -> None:
    base_url = serve()
    app = serve.apps[-1]

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.runtime.flow, "complete", broken)
    response = httpx.post(f"{base_url}/complete", json={"text": "hi"})
    assert response.status_code == 500 and response.headers["x-request-id"]
    assert response.json()["error"]["code"] == "internal_error"


def test_jobs_with_redis_unreachable_are_503_naming_redis(serve, env) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    base_url = serve(environment={**env, "REDIS_URL": dead})
    submitted = httpx.post(f"{base_url}/pipelines/blog_post/jobs", json={"inputs": {"topic": "x"}}, timeout=10)
    assert submitted.status_code == 503 and submitted.headers["x-request-id"]
    error = submitted.json()["error"]
    assert error["code"] == "jobs_unavailable" and "Redis" in error["message"]
    polled = httpx.get(f"{base_url}/jobs/{'ab' * 16}", timeout=10)  # a well-formed job id
    assert polled.status_code == 503 and polled.json()["error"]["code"] == "jobs_unavailable"
    ready = httpx.get(f"{base_url}/readyz", timeout=10).json()
    assert ready["dependencies"]["redis"].startswith("unreachable")


def test_version_and_help_start_without_importing_the_gateway() -> None:
    """`switchboard --version` and `--help` load the CLI and nothing of the gateway behind it (config,
    pydantic, aiohttp, celery, boto3, numpy) nor rich: they answer in a fraction of a second."""
    heavy = ["switchboard.config", "switchboard.wiring", "switchboard.client", "pydantic", "aiohttp",
             "celery", "boto3", "numpy", "rich", "yaml"]
    probe = ("import sys\nfrom switchboard.cli import app\nsys.argv = ['switchboard', sys.argv[1]]\n"
             "try:\n    app()\nexcept SystemExit as done:\n    code = done.code\n"
             f"print('LOADED', [m for m in {heavy!r} if m in sys.modules], code)")
    for flag, said in (("--version", "switchboard 0."), ("--help", "Usage: switchboard")):
        result = subprocess.run([sys.executable, "-c", probe, flag], capture_output=True, text=True,
                                timeout=60)
        assert said in result.stdout, result.stderr
        assert result.stdout.splitlines()[-1] == "LOADED [] 0", result.stdout.splitlines()[-1]


def test_the_cli_names_the_config_variable_the_loader_reads() -> None:
    from switchboard.cli.app import CONFIG_ENV as cli_reads
    from switchboard.config import CONFIG_ENV as loader_reads

    assert cli_reads == loader_reads


def test_version_and_pipeline_list_and_help() -> None:
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("switchboard ")
    listed = cli("pipeline", "list")
    assert "blog_post" in listed.stdout and "--topic" in listed.stdout and "--audience" in listed.stdout
    helped = cli("pipeline", "run", "blog_post", "--help")
    assert helped.exit_code == 0
    assert "--topic" in helped.stdout and "(required)" in helped.stdout and "--length" in helped.stdout


@pytest.mark.parametrize(("inputs", "message"), [
    ([], "pipeline run blog_post: --topic: required"),
    (["--topic", "x", "--mood", "calm"], "--mood: not an input of blog_post (its inputs: topic, audience,"),
    (["--topic", "  "], "--topic: must be a non-empty string"),
    (["--topic"], "--topic needs a value"),
])
def test_pipeline_input_errors_are_usage_errors(inputs, message, fakes) -> None:
    result = cli("pipeline", "run", "blog_post", *inputs)
    assert result.exit_code == 2 and message in result.stderr  # like every other usage error
    assert fakes.cohere.calls == 0 and "... draft" not in result.stderr  # refused before any step


@pytest.mark.parametrize(("args", "message"), [
    (["pipeline", "run", "blog_post", "--timeout-s", "0", "--topic", "x"], "--timeout-s"),
    (["pipeline", "run", "blog_post", "--timeout-s", "99999", "--topic", "x"], "--timeout-s"),
    (["pipeline", "run", "nope"], "unknown pipeline"),
    (["serve", "--port", "70000"], "--port"),
    (["worker", "--concurrency", "0"], "--concurrency"),
])
def test_cli_numbers_and_names_are_checked_like_the_api_checks_them(args, message) -> None:
    result = cli(*args)
    assert result.exit_code == 2 and message in result.stderr


def test_boolean_options_are_plain_flags() -> None:
    serve_help = cli("serve", "--help").stdout
    assert "--insecure-no-auth" in serve_help and "--no-insecure-no-auth" not in serve_help
    costs_help = cli("costs", "--help").stdout
    assert "--csv" in costs_help and "--no-csv" not in costs_help


def test_links_in_the_readme_and_docs_stay_inside_the_repository() -> None:
    """Every relative link resolves to a file of this repository (none to a DESIGN.md kept elsewhere)."""
    root = Path(__file__).resolve().parents[1]
    documents = [root / "README.md", root / "tests" / "README.md", *sorted((root / "docs").rglob("*.md"))]
    for document in documents:
        text = document.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text, document
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if not re.match(r"[a-z]+://|mailto:", target):
                resolved = (document.parent / target).resolve()
                assert resolved.is_relative_to(root) and resolved.exists(), f"{document}: {target}"


def test_costs_without_a_file_on_a_terminal_says_how_to_use_it() -> None:
    # A pseudo-terminal as stdin: no file given and nothing piped.
    import pty

    leader, follower = pty.openpty()
    result = subprocess.run([*CLI, "costs"], stdin=follower, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "switchboard costs requests.log" in result.stderr
    import os

    os.close(leader)
    os.close(follower)


@pytest.mark.slow
async def test_the_library_is_quiet_by_default(env, fakes) -> None:
    script = """
import asyncio
from switchboard import Switchboard
from switchboard.config import parse_config

async def main():
    async with Switchboard(parse_config({"routing": {"classifier": {"enabled": False}}})) as sb:
        response = await sb.complete("Say hi", task_type="creative_writing")
        print("ANSWER", response.text)

asyncio.run(main())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ANSWER Hello from the fake."]  # no log line in the user's output


async def test_the_library_takes_typed_keyword_arguments(switchboard, fakes) -> None:
    import inspect
    import typing

    from switchboard.client import RequestOptions

    # The options are one TypedDict (`**options: Unpack[RequestOptions]`): editors and type checkers see each name.
    assert "Unpack[RequestOptions]" in str(inspect.signature(Switchboard.complete).parameters["options"].annotation)
    hints = typing.get_type_hints(RequestOptions)
    assert {"task_type", "max_tokens", "temperature", "tools", "response_format", "timeout_s"} <= set(hints)
    response = await switchboard.complete("hi", task_type="creative_writing", max_tokens=5)
    assert fakes.openai.received[-1].json["max_completion_tokens"] == 5 and response.provider == "openai"


def test_the_shipped_defaults_name_every_timeout_the_readme_names() -> None:
    from importlib import resources

    shipped = yaml.safe_load(resources.files("switchboard").joinpath("defaults.yaml").read_text())
    assert {"pipeline_s", "first_token_s", "stall_s", "request_s"} <= set(shipped["timeouts"])


@pytest.mark.slow
def test_worker_log_lines_are_plain_json_records_that_costs_can_read(redis_url, env, fakes, tmp_path) -> None:
    import redis as redis_sync

    redis_sync.Redis.from_url(redis_url).flushdb()
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(config_data()))
    environment = {"PATH": "/usr/bin:/bin", **env, "REDIS_URL": redis_url}
    said = tmp_path / "worker.err"
    with said.open("w") as worker_stderr:
        worker = subprocess.Popen([*CLI, "worker", "--pool", "solo", "--concurrency", "1", "--config",
                                   str(config)], env=environment, stdout=subprocess.PIPE,
                                  stderr=worker_stderr, text=True)
    port = free_port()
    server = subprocess.Popen([*CLI, "serve", "--port", str(port), "--config", str(config)], env=environment,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Like serve's start line: one line on stderr once it takes jobs.
        ready = wait_until(lambda: [line for line in said.read_text().splitlines() if "worker ready" in line],
                           timeout=60, message="the worker's ready line")
        expected = (f"switchboard: worker ready · queue: switchboard.pipelines · pool: solo · concurrency: 1 "
                    f"· config: {config} over the embedded defaults")
        assert ready == [expected]
        assert server.stderr is not None and "listening" in server.stderr.readline()
        job = httpx.post(f"http://127.0.0.1:{port}/pipelines/blog_post/jobs", json={"inputs": {"topic": "logs"}})
        assert job.status_code == 202
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/jobs/{job.json()['id']}").json()["status"]
                   == "succeeded", timeout=60, interval=0.2, message="the job to succeed")
    finally:
        server.terminate()
        worker.terminate()
        server.wait(20)
        output, _ = worker.communicate(timeout=30)
    # Every log line is a plain JSON object (Celery's only other word on stdout: its shutdown notice).
    others = [line for line in output.splitlines() if line.strip() and not line.startswith("{")]
    assert others in ([], ["worker: Warm shutdown (MainProcess)"]), others
    lines = [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert events.count("request") == 3 and "job_started" in events and "job_finished" in events
    log = tmp_path / "worker.log"
    log.write_text(output)
    costs = run("costs", str(log))
    assert costs.returncode == 0 and "found no request records" not in costs.stderr
    assert costs.stdout.splitlines()[-1].split()[1] == "3"  # TOTAL: the three steps
