"""Pipelines: draft, critique and rewrite across providers, synchronously or as durable Celery jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import yaml

from switchboard.config import ConfigError, load_config, parse_config
from switchboard.pipelines.runner import render
from tests.conftest import cli, config_data, make_config, outcomes, request_logs
from tests.fakes import Reply
from tests.waiting import wait_until

TOPIC = "circuit breakers"


def script_blog_post(fakes) -> None:
    fakes.cohere.default = Reply(text="DRAFT: breakers stop cascades.", input_tokens=40, output_tokens=6)
    fakes.anthropic.default = Reply(text="GAPS: 1. no numbers.", input_tokens=60, output_tokens=5)
    fakes.openai.default = Reply(text="FINAL: breakers stop cascades, by the numbers.", input_tokens=80,
                                 output_tokens=9)


def prompt_of(fake, index: int = 0) -> str:
    return fake.received[index].json["messages"][-1]["content"]


def test_blog_post_drafts_with_cohere_critiques_with_anthropic_rewrites_with_openai(
    gateway: httpx.Client, fakes, capsys
) -> None:
    script_blog_post(fakes)
    response = gateway.post("/pipelines/blog_post", json={"inputs": {"topic": TOPIC, "audience": "SREs"}})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["output"] == "FINAL: breakers stop cascades, by the numbers."
    assert list(result["steps"]) == ["draft", "critique", "rewrite"]
    assert [result["steps"][s]["provider"] for s in ("draft", "critique", "rewrite")] == [
        "cohere", "anthropic", "openai"]

    # What each provider was sent.
    assert TOPIC in prompt_of(fakes.cohere) and "SREs" in prompt_of(fakes.cohere)
    assert "DRAFT: breakers stop cascades." in prompt_of(fakes.anthropic)
    assert fakes.anthropic.received[0].json["system"].startswith("You are a demanding editor")
    rewrite_prompt = prompt_of(fakes.openai)
    assert "DRAFT: breakers stop cascades." in rewrite_prompt and "GAPS: 1. no numbers." in rewrite_prompt
    assert fakes.openai.received[0].json["max_completion_tokens"] == 2000

    costs = {name: step["cost_usd"] for name, step in result["steps"].items()}
    assert costs["draft"] == pytest.approx((40 * 2.5 + 6 * 10.0) / 1e6)
    assert costs["critique"] == pytest.approx((60 * 3.0 + 5 * 15.0) / 1e6)
    assert costs["rewrite"] == pytest.approx((80 * 1.25 + 9 * 10.0) / 1e6)
    totals = result["totals"]
    assert totals["cost_usd"] == pytest.approx(sum(costs.values()))
    assert (totals["input_tokens"], totals["output_tokens"]) == (180, 20)
    lines = request_logs(capsys.readouterr().out)
    assert [line["metadata"]["step"] for line in lines] == ["draft", "critique", "rewrite"]


def test_a_failing_step_fails_over_like_a_single_request(gateway: httpx.Client, fakes) -> None:
    script_blog_post(fakes)
    fakes.cohere.default = Reply(status=429, headers={"retry-after-ms": "10"})
    fakes.anthropic.push(Reply(text="draft by claude haiku"), Reply(status=500), Reply(text="GAPS"))
    result = gateway.post("/pipelines/blog_post", json={"inputs": {"topic": TOPIC}}).json()
    draft = result["steps"]["draft"]
    assert draft["provider"] == "anthropic" and draft["model"] == "claude-haiku-4-5"
    assert outcomes(draft["route"]["attempts"]) == [("cohere", "rate_limited")] * 3 + [("anthropic", "ok")]
    assert draft["route"]["reason"].startswith("pipeline blog_post step draft")
    assert outcomes(result["steps"]["critique"]["route"]["attempts"]) == [
        ("anthropic", "server_error"), ("anthropic", "ok")]
    assert "draft by claude haiku" in prompt_of(fakes.openai)


def test_a_step_that_fails_everywhere_fails_the_run_naming_the_step(gateway: httpx.Client, fakes) -> None:
    script_blog_post(fakes)
    for fake in (fakes.anthropic, fakes.openai, fakes.vllm):
        fake.default = Reply(status=500)
    response = gateway.post("/pipelines/blog_post", json={"inputs": {"topic": TOPIC}})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["step"] == "critique" and error["message"].startswith("step critique:")
    assert fakes.openai.calls == 3  # the critique's second target; the rewrite never ran


async def test_independent_steps_run_concurrently(env, fakes) -> None:
    from switchboard import Switchboard

    data = config_data()
    data["pipelines"] = {"fan": {"inputs": {"q": {}}, "steps": [
        {"name": "a", "targets": ["openai:gpt-5.4"], "prompt": "A {inputs.q}"},
        {"name": "b", "targets": ["anthropic:claude-haiku-4-5"], "prompt": "B {inputs.q}"},
        {"name": "join", "targets": ["cohere:command-a-03-2025"], "prompt": "{steps.a} + {steps.b}"},
    ]}}
    fakes.openai.default = Reply(text="from-a", delay_s=0.5)
    fakes.anthropic.default = Reply(text="from-b", delay_s=0.5)
    async with Switchboard(parse_config(data, "test"), env) as sb:
        started = time.monotonic()
        result = await sb.run_pipeline("fan", q="?")
        elapsed = time.monotonic() - started
    assert elapsed < 0.9  # a and b overlapped
    assert prompt_of(fakes.cohere) == "from-a + from-b" and result.output == fakes.cohere.default.text


async def test_the_library_runs_pipelines(switchboard, fakes) -> None:
    script_blog_post(fakes)
    result = await switchboard.run_pipeline("blog_post", topic=TOPIC)
    assert result.output.startswith("FINAL") and result.totals.cost_usd > 0


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/pipelines/nope", {"inputs": {"topic": "x"}}, 404, "pipeline"),
        ("/pipelines/blog_post", {"inputs": {}}, 422, "inputs.topic"),
        ("/pipelines/blog_post", {"inputs": {"topic": "x", "mood": "y"}}, 422, "inputs.mood"),
        ("/pipelines/blog_post", {"inputs": {"topic": 5}}, 422, "inputs.topic"),
        ("/pipelines/blog_post", {"inputs": {"topic": "x"}, "extra": 1}, 422, "extra"),
        ("/pipelines/blog_post/jobs", {"inputs": {}}, 422, "inputs.topic"),
        ("/pipelines/nope/jobs", {"inputs": {}}, 404, "pipeline"),
    ],
)
def test_bad_pipeline_requests_name_the_field(gateway: httpx.Client, fakes, path, body, status, field) -> None:
    response = gateway.post(path, json=body)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    assert fakes.cohere.calls == 0


def test_jobs_without_redis_say_so(gateway: httpx.Client) -> None:
    response = gateway.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": "x"}})
    assert response.status_code == 503 and response.json()["error"]["code"] == "jobs_unavailable"


def test_render_does_not_reinterpret_substituted_text() -> None:
    assert render("{inputs.a} {steps.b}", {"a": "{steps.b}"}, {"b": "B"}) == "{steps.b} B"


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("{inputs.subject}", "pipelines.p: steps[0] (s).prompt: {inputs.subject} refers to unknown input 'subject'"),
        ("{steps.later}", "pipelines.p: steps[0] (s).prompt: {steps.later} refers to step 'later', which does not run before it"),
        ("{steps.ghost}", "{steps.ghost} refers to unknown step 'ghost'"),
        ("{topic}", "{topic} is not a placeholder: use {inputs.NAME} or {steps.NAME}"),
    ],
)
def test_an_invalid_pipeline_file_stops_start_up_naming_pipeline_step_and_field(tmp_path, prompt, message) -> None:
    data = config_data()
    data["pipelines"] = {"p": {"inputs": {"topic": {}}, "steps": [
        {"name": "s", "targets": ["openai:gpt-5.4"], "prompt": prompt},
        {"name": "later", "targets": ["openai:gpt-5.4"], "prompt": "x"},
    ]}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value)
    result = cli("serve", f"--config={path}")
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.slow
def test_serve_as_a_process_exits_2_on_an_invalid_pipeline_file(tmp_path) -> None:
    data = config_data()
    step = {"name": "s", "targets": ["openai:gpt-5.4"], "prompt": "{inputs.x}"}
    data["pipelines"] = {"p": {"steps": [step]}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run([sys.executable, "-m", "switchboard", "serve", f"--config={path}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "{inputs.x} refers to unknown input 'x'" in result.stderr


# -- durable jobs: a real Redis and real Celery worker processes -------------------------------------
VISIBILITY_S = 3


@pytest.fixture
def worker_env(env, redis_url, tmp_path) -> dict[str, str]:
    config = tmp_path / "switchboard.yaml"
    config.write_text(yaml.safe_dump(config_data()))
    return {**os.environ, **env, "REDIS_URL": redis_url, "SWITCHBOARD_CONFIG": str(config),
            "SWITCHBOARD_JOB_VISIBILITY_S": str(VISIBILITY_S)}


@pytest.fixture
def start_worker(worker_env) -> Iterator[Callable[[], subprocess.Popen]]:
    workers: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        worker = subprocess.Popen(
            [sys.executable, "-m", "switchboard", "worker", "--pool=solo", "--concurrency=1"],
            env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)


@pytest.fixture
def jobs_client(serve, redis_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=serve(make_config(), redis=redis_url), timeout=30) as client:
        yield client


def wait_for(client: httpx.Client, job_id: str, done: Callable[[dict], bool], timeout: float = 30) -> dict:
    def reached() -> dict | None:
        job = client.get(f"/jobs/{job_id}").json()
        return job if done(job) else None

    return wait_until(reached, timeout=timeout, interval=0.05, message=f"job {job_id} to get there")


@pytest.mark.slow
def test_a_job_runs_on_a_separate_worker_and_ends_succeeded(jobs_client, start_worker, fakes) -> None:
    script_blog_post(fakes)
    submitted = jobs_client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}})
    assert submitted.status_code == 202
    job = submitted.json()
    assert job["status"] == "queued" and submitted.headers["location"] == f"/jobs/{job['id']}"
    start_worker()
    done = wait_for(jobs_client, job["id"], lambda j: j["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded", done
    assert done["result"]["output"].startswith("FINAL")
    assert [s["provider"] for s in done["result"]["steps"].values()] == ["cohere", "anthropic", "openai"]
    assert done["result"]["totals"]["cost_usd"] > 0


@pytest.mark.slow
def test_a_killed_worker_does_not_lose_the_job_nor_pay_twice_for_finished_steps(
    jobs_client, start_worker, fakes
) -> None:
    script_blog_post(fakes)
    fakes.anthropic.default = Reply(text="GAPS: slow but sure.", delay_s=0.8)  # under first_token_s (1 s)
    job = jobs_client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}}).json()
    first = start_worker()
    wait_for(jobs_client, job["id"], lambda j: j.get("current_step") == "critique" and fakes.anthropic.calls == 1)
    os.killpg(first.pid, signal.SIGKILL)  # mid-critique: the draft is stored, the critique is not
    first.wait(10)
    assert jobs_client.get(f"/jobs/{job['id']}").json()["status"] == "running"

    # The behaviour under test: the broker hands an unacknowledged job out again once its visibility timeout
    # has passed (a worker started earlier would only find it at its next restore sweep, up to 10 s later).
    time.sleep(VISIBILITY_S + 0.5)
    start_worker()
    done = wait_for(jobs_client, job["id"], lambda j: j["status"] in ("succeeded", "failed"), timeout=60)
    assert done["status"] == "succeeded", done
    assert done["deliveries"] == 2
    assert fakes.cohere.calls == 1  # the finished draft was not paid for again
    assert fakes.anthropic.calls == 2 and fakes.openai.calls == 1
    assert "GAPS: slow but sure." in prompt_of(fakes.openai)


@pytest.mark.slow
def test_the_same_idempotency_key_gives_one_job(jobs_client, fakes, start_worker) -> None:
    script_blog_post(fakes)
    headers = {"Idempotency-Key": "order-42"}
    first = jobs_client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}}, headers=headers)
    second = jobs_client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    reused = jobs_client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": "other"}}, headers=headers)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"
    start_worker()
    wait_for(jobs_client, first.json()["id"], lambda j: j["status"] == "succeeded")
    # A job submitted after them runs after any duplicate would have (one worker, one job at a time, in
    # order): once it has finished, a second run of the first job would have shown.
    later = jobs_client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": "later"}}).json()
    wait_for(jobs_client, later["id"], lambda j: j["status"] == "succeeded")
    assert fakes.cohere.calls == 2  # the first job ran once, then the later one


@pytest.mark.slow
def test_a_job_whose_step_fails_everywhere_ends_failed_with_every_attempt(jobs_client, start_worker, fakes) -> None:
    script_blog_post(fakes)
    for fake in (fakes.cohere, fakes.anthropic, fakes.vllm):
        fake.default = Reply(status=503)
    job = jobs_client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}}).json()
    start_worker()
    done = wait_for(jobs_client, job["id"], lambda j: j["status"] in ("succeeded", "failed"))
    assert done["status"] == "failed"
    assert done["error"]["error"]["step"] == "draft"
    assert [a["provider"] for a in done["error"]["route"]["attempts"]][-1] == "local"


def test_unknown_jobs_are_404(jobs_client) -> None:
    response = jobs_client.get("/jobs/does-not-exist")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_job"


@pytest.mark.slow
def test_the_cli_runs_a_pipeline_with_progress_and_a_cost_summary(env, fakes, tmp_path) -> None:
    script_blog_post(fakes)
    # A long draft: the CLI shows the tokens streamed so far while the step runs.
    fakes.cohere.default = Reply(text="DRAFT: breakers stop cascades.", chunks=["DRAFT: "] + ["word "] * 12,
                                 chunk_delay_s=0.08)
    config = tmp_path / "switchboard.yaml"
    config.write_text(yaml.safe_dump(config_data()))
    result = subprocess.run(
        [sys.executable, "-m", "switchboard", "pipeline", "run", "blog_post", "--topic", TOPIC,
         f"--config={config}"],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "FINAL: breakers stop cascades, by the numbers."
    for step in ("draft", "critique", "rewrite"):
        assert f"... {step}" in result.stderr and f"ok  {step}" in result.stderr
    assert "total" in result.stderr and "$0.000" in result.stderr
    assert "draft: " in result.stderr and "tokens so far" in result.stderr
    assert TOPIC in prompt_of(fakes.cohere)
