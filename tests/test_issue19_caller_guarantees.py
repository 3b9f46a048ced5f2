"""Issue 19: the caller layer holds against a hostile caller, by every door and every job.

Real HTTP (the gateway under uvicorn), a real Redis, real Celery worker processes, the fake providers. Each test
is one attack from the issue, and what the gateway must do instead: count, charge, refuse or hide.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import redis as redis_sync
import yaml

from switchboard.config import ConfigError
from tests.conftest import config_data, free_port, make_config, request_logs
from tests.fakes import Reply
from tests.test_pipelines import TOPIC, script_blog_post

pytestmark = pytest.mark.slow  # real Redis, a real Celery worker, raw sockets, subprocesses

ADMIN = "sb-admin-issue19-SECRET-0123456789abcdef"
LONG = " ".join(f"word{i}" for i in range(200))  # a 200-word answer, streamed a word a chunk


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, message: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {message}")
        time.sleep(0.02)


@pytest.fixture
def shared(env, redis_url) -> dict[str, str]:
    redis_sync.Redis.from_url(redis_url).flushdb()
    return {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "REDIS_URL": redis_url}


@pytest.fixture
def redis(redis_url) -> redis_sync.Redis:
    return redis_sync.Redis.from_url(redis_url)


def mint(base: str, **spec) -> dict:
    response = httpx.post(f"{base}/admin/keys", json={"tenant": "acme", "tier": "paid", **spec},
                          headers=bearer(ADMIN))
    assert response.status_code == 201, response.text
    return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


def spent(redis: redis_sync.Redis, key_id: str) -> float:
    """The key's budget counter today: held reservations plus settled costs."""
    return float(redis.get(f"sb:rl:usd:key:{key_id}:{today()}") or 0)


def settled_cost(redis: redis_sync.Redis, key_id: str) -> float:
    return float(redis.hget(f"sb:usage:{key_id}:{today()}", "cost_usd") or 0)


# -- 1. the client's x-request-id is never the accounting id ------------------------------------------------
def test_a_constant_x_request_id_does_not_reset_the_rate_limit(serve, shared, fakes, capsys) -> None:
    base = serve(environment=shared)
    key = mint(base, rpm=5)["key"]
    with httpx.Client(base_url=base, headers={**bearer(key), "x-request-id": "same-id-every-time"}) as client:
        statuses = [client.post("/complete", json={"text": "hi"}).status_code for _ in range(50)]
    assert statuses.count(200) == 5 and statuses.count(429) == 45
    assert fakes.openai.calls + fakes.anthropic.calls + fakes.cohere.calls + fakes.vllm.calls == 5
    lines = [line for line in request_logs(capsys.readouterr().out) if line["status"] == 200]
    assert len({line["request_id"] for line in lines}) == 5  # five ids of ours ...
    assert {line["client_request_id"] for line in lines} == {"same-id-every-time"}  # ... the client's logged


# -- 2. a stream that ends early is charged for what it consumed ----------------------------------------------
STREAM_DOORS = {
    "/complete": lambda: {"text": "Tell me a long story.", "model": "openai/gpt-5.4", "max_tokens": 300,
                          "stream": True},
    "/v1/chat/completions": lambda: {"model": "openai/gpt-5.4", "max_tokens": 300, "stream": True,
                                     "messages": [{"role": "user", "content": "Tell me a long story."}]},
    "/v1/messages": lambda: {"model": "openai/gpt-5.4", "max_tokens": 300, "stream": True,
                             "messages": [{"role": "user", "content": "Tell me a long story."}]},
}


def read_most_then_hang_up(client: httpx.Client, path: str, body: dict, share: float = 0.9) -> int:
    """Read `share` of the 200 words, then close the connection; the status the stream began with."""
    with client.stream("POST", path, json=body) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code
        seen = 0
        for line in response.iter_lines():
            seen += line.count("word")
            if seen >= 200 * share:
                break
        return 200


@pytest.mark.parametrize("path", list(STREAM_DOORS))
def test_abandoned_streams_are_charged_until_the_budget_refuses(serve, shared, fakes, redis, capsys, tmp_path,
                                                                path) -> None:
    base = serve(environment=shared)
    created = mint(base, budget_usd_day=0.01, models=["openai/gpt-5.4"])
    fakes.openai.default = Reply(text=LONG, chunk_delay_s=0.003, no_usage=True)
    refused = None
    with httpx.Client(base_url=base, headers=bearer(created["key"]), timeout=30) as client:
        for attempt in range(20):
            status = read_most_then_hang_up(client, path, STREAM_DOORS[path]())
            if status == 429:
                refused = attempt
                break
            assert status == 200
            # the settlement runs in the background: wait for it before the next stream
            wait_until(lambda n=attempt: int(redis.hget(f"sb:usage:{created['id']}:{today()}", "requests") or 0)
                       > n, message="the abandoned stream was settled")
    # Each 90%-read stream costs about $0.0029 (1,000 characters at gpt-5.4's output price): the budget of
    # $0.01 refuses within a handful, not after 20 free streams.
    assert refused is not None and refused <= 4, refused
    assert settled_cost(redis, created["id"]) > 0.005
    lines = [line for line in request_logs(capsys.readouterr().out) if line["key_id"] == created["id"]]
    abandoned = [line for line in lines if line["status"] == 499]
    assert abandoned, [line["status"] for line in lines]
    for line in abandoned:
        assert line["cost_usd"] > 0 and line["cost_estimated"] is True and line["output_tokens"] > 0
        assert line["provider"] == "openai" and line["error"] == "client_closed"
    log = tmp_path / "requests.log"
    log.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    report = subprocess.run([sys.executable, "-m", "switchboard", "costs", str(log), "--by", "tenant", "--csv"],
                            capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    header, row = report[0].split(","), dict(zip(report[0].split(","), report[1].split(","), strict=True))
    assert "estimated" in header and int(row["estimated"]) >= len(abandoned)
    assert float(row["cost_usd"]) == pytest.approx(sum(line["cost_usd"] for line in lines), abs=1e-6)


def test_a_stream_broken_upstream_after_its_first_token_is_charged(serve, shared, fakes, redis, capsys) -> None:
    base = serve(environment=shared)
    created = mint(base, models=["openai/gpt-5.4"])
    fakes.openai.push(Reply(text=LONG, cut_after=100, no_usage=True))
    fakes.anthropic.default = Reply(text="never asked")  # pinned: no failover after the commit point
    body = STREAM_DOORS["/complete"]()
    with httpx.Client(base_url=base, headers=bearer(created["key"]), timeout=30) as client:
        events = [line for line in client.post("/complete", json=body).iter_lines() if line.startswith("event:")]
    assert events[-1] == "event: error"
    wait_until(lambda: settled_cost(redis, created["id"]) > 0, message="the broken stream was settled")
    line = next(line for line in request_logs(capsys.readouterr().out) if line["key_id"] == created["id"])
    assert line["error"] == "stream_interrupted" and line["cost_usd"] > 0 and line["cost_estimated"] is True
    assert settled_cost(redis, created["id"]) == pytest.approx(line["cost_usd"], rel=1e-6)


# -- 3. durable jobs belong to their tenant ------------------------------------------------------------------
@pytest.fixture
def worker_env(shared, tmp_path) -> dict[str, str]:
    config = tmp_path / "switchboard.yaml"
    config.write_text(yaml.safe_dump(config_data()))
    return {**os.environ, **shared, "SWITCHBOARD_CONFIG": str(config)}


@pytest.fixture
def worker(worker_env, tmp_path) -> Iterator[Path]:
    """A real `switchboard worker` (Celery, solo pool); its stdout, the request lines, goes to the file yielded."""
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "switchboard", "worker", "--pool=solo", "--concurrency=1"],
                                   env=worker_env, stdout=out, stderr=subprocess.DEVNULL, start_new_session=True)
        yield log
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    return wait_until(lambda: (job := client.get(f"/jobs/{job_id}").json()).get("status") in ("succeeded", "failed")
                      and job, timeout, f"job {job_id} to end")  # type: ignore[return-value]


def test_jobs_belong_to_their_tenant_and_run_as_the_key_that_submitted_them(serve, shared, fakes, worker) -> None:
    script_blog_post(fakes)
    base = serve(environment=shared)
    acme = mint(base, tenant="acme")
    globex = mint(base, tenant="globex")
    idempotent = {"Idempotency-Key": "post-42"}
    with httpx.Client(base_url=base, headers=bearer(acme["key"]), timeout=30) as a, \
            httpx.Client(base_url=base, headers=bearer(globex["key"]), timeout=30) as b:
        submitted = a.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}}, headers=idempotent)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        done = wait_for_job(a, job_id)
        assert done["status"] == "succeeded", done
        assert done["tenant"] == "acme"

        # Another tenant: the job, its steps and its result are not there for it.
        for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/steps"):
            hidden = b.get(path)
            assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "unknown_job"
        assert a.get(f"/jobs/{job_id}/steps").json()["steps"].keys() == {"draft", "critique", "rewrite"}
        assert httpx.get(f"{base}/jobs/{job_id}", headers=bearer(ADMIN)).status_code == 200
        assert a.get(f"/jobs/{job_id}:steps").status_code == 404  # not a 500

        # Its idempotency key is the tenant's own: the other tenant's post-42 makes a job of its own, and
        # a different body under it is no 409 that would confirm acme's key exists.
        same = b.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}}, headers=idempotent)
        other = b.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": "other"}}, headers=idempotent)
        assert same.status_code == 202 and same.json()["id"] != job_id and "idempotent-replayed" not in same.headers
        assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
        replayed = a.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}}, headers=idempotent)
        assert replayed.json()["id"] == job_id and replayed.headers["idempotent-replayed"] == "true"

    # The worker ran every step as acme's key: tenant and key in every record it wrote.
    steps = wait_until(lambda: [line for line in request_logs(worker.read_text())
                                if line.get("request_id", "").startswith(job_id)], message="the worker's records")
    assert len(steps) == 3
    assert {(line["tenant"], line["key_id"], line["tier"]) for line in steps} == {("acme", acme["id"], "paid")}


def test_job_submissions_count_against_rpm_and_hold_the_worst_case_against_the_budget(serve, shared, fakes,
                                                                                       redis) -> None:
    base = serve(environment=shared)
    limited = mint(base, tenant="acme", rpm=2)
    with httpx.Client(base_url=base, headers=bearer(limited["key"]), timeout=30) as client:
        statuses = [client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": f"t{n}"}}).status_code
                    for n in range(3)]
    assert statuses == [202, 202, 429]

    # blog_post at worst (every step on its dearest target with its whole max_tokens) costs about $0.08: a
    # $0.15 budget holds one queued job, and refuses the second while the first waits for a worker.
    budgeted = mint(base, tenant="initech", budget_usd_day=0.15)
    with httpx.Client(base_url=base, headers=bearer(budgeted["key"]), timeout=30) as client:
        first = client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": "one"}})
        second = client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": "two"}})
    assert first.status_code == 202
    assert spent(redis, budgeted["id"]) > 0.05  # held while it is queued
    assert second.status_code == 429 and second.json()["error"]["code"] == "budget_exceeded"
    assert fakes.cohere.calls == 0  # nothing ran: no worker here


# -- 4. a key's allow-list and tier reach every model ---------------------------------------------------------
def test_the_allow_list_applies_to_pipeline_steps_embeddings_and_routes(serve, shared, fakes) -> None:
    base = serve(environment=shared)
    key = mint(base, tenant="acme", tier="paid", models=["openai/gpt-5.4-mini"])["key"]
    with httpx.Client(base_url=base, headers=bearer(key), timeout=30) as client:
        run = client.post("/pipelines/blog_post", json={"inputs": {"topic": TOPIC}})
        assert run.status_code == 403, run.text
        error = run.json()["error"]
        assert error["code"] == "model_not_allowed" and error["step"] == "draft"
        assert "cohere/command-a-03-2025" in error["message"] and "draft" in error["message"]
        job = client.post("/pipelines/blog_post/jobs", json={"inputs": {"topic": TOPIC}})
        assert job.status_code == 403 and job.json()["error"]["step"] == "draft"
        for model in ("text-embedding-3-small", "openai/text-embedding-3-small"):
            refused = client.post("/v1/embeddings", json={"model": model, "input": "hello"})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed", model
        # A routed request keeps only the targets the key may use.
        answered = client.post("/complete", json={"text": "hi", "task_type": "classification"})
        assert answered.status_code == 200, answered.text
        assert [a["model"] for a in answered.json()["route"]["attempts"]] == ["gpt-5.4-mini"]
        pinned = client.post("/complete", json={"text": "hi", "model": "openai/gpt-5.4"})
        assert pinned.status_code == 403
    assert fakes.cohere.calls == fakes.anthropic.calls == 0
    assert [r.json["model"] for r in fakes.openai.received] == ["gpt-5.4-mini"]


def test_pipelines_may_name_the_tiers_that_run_them(serve, shared, fakes) -> None:
    script_blog_post(fakes)
    config = make_config(pipelines={"blog_post": {"tiers": ["paid"]}})
    base = serve(config, environment=shared)
    free = mint(base, tier="free")["key"]
    paid = mint(base, tier="paid")["key"]
    refused = httpx.post(f"{base}/pipelines/blog_post", json={"inputs": {"topic": TOPIC}}, headers=bearer(free))
    assert refused.status_code == 403 and "tier 'free'" in refused.json()["error"]["message"]
    assert httpx.post(f"{base}/pipelines/blog_post", json={"inputs": {"topic": TOPIC}}, headers=bearer(paid),
                      timeout=30).status_code == 200


# -- 5. one key cannot take the server away from everyone ----------------------------------------------------
def half_sent(port: int, key: str) -> socket.socket:
    """A request whose head promises 200 bytes of body and whose body stops at 100."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall((f"POST /complete HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n"
                  "content-type: application/json\r\ncontent-length: 200\r\n\r\n").encode() + b"{" + b" " * 99)
    return sock


def answer_of(sock: socket.socket) -> str:
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def test_half_sent_bodies_from_one_key_do_not_hold_capacity_from_another(serve, shared, fakes) -> None:
    config = make_config(server={"max_in_flight": 8, "body_timeout_s": 1.0})
    base = serve(config, environment=shared)
    port = int(base.rsplit(":", 1)[1])
    hostile = mint(base, tenant="mallory", rpm=1, max_in_flight=3)["key"]
    honest = mint(base, tenant="acme")["key"]
    sockets = [half_sent(port, hostile) for _ in range(12)]  # more than server.max_in_flight
    try:
        with httpx.Client(base_url=base, headers=bearer(honest), timeout=30) as client:
            served = [client.post("/complete", json={"text": f"hi {n}"}).status_code for n in range(5)]
        assert served == [200] * 5
        answers = [answer_of(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    # Three were let in and cut off at the body deadline; the rest refused at once, before their bodies.
    assert sum("408" in answer for answer in answers) == 3, answers
    assert sum("429" in answer for answer in answers) == 9, answers
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["saturated"] is False and ready["max_in_flight"] == 8


# -- 6. one request larger than a whole limit, and reservations that are bounds --------------------------------
def test_a_request_larger_than_the_whole_tpm_is_refused_at_once(serve, shared, fakes) -> None:
    base = serve(environment=shared)
    key = mint(base, tpm=1000)["key"]
    response = httpx.post(f"{base}/complete", json={"text": "hi", "max_tokens": 100_000}, headers=bearer(key))
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and "1000 tokens per minute" in error["message"]
    assert "retry-after" not in response.headers  # no wait would help
    assert response.headers["x-ratelimit-limit-tokens"] == "1000"
    assert fakes.openai.calls + fakes.anthropic.calls + fakes.cohere.calls == 0


def test_concurrent_requests_against_a_small_budget_stay_within_it(serve, shared, fakes, redis) -> None:
    """README, "Limits and budgets": reservations are upper bounds, so answers from a first attempt never spend
    past the budget together, whatever the concurrency; here half the requests carry an image."""
    base = serve(environment=shared)
    budget = 0.05
    created = mint(base, budget_usd_day=budget, models=["openai/gpt-5.4"])
    # Each answer: the prompt's real count (an image reads about 1,600 tokens) and 1,500 tokens out at $10/M.
    fakes.openai.default = Reply(text="ok", input_tokens=30, output_tokens=1500)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}

    async def one(client: httpx.AsyncClient, n: int) -> httpx.Response:
        content: list = [{"type": "text", "text": f"Describe this {n}."}]
        if n % 2:
            content.append(image)
        return await client.post("/v1/chat/completions", json={
            "model": "openai/gpt-5.4", "max_tokens": 1500, "messages": [{"role": "user", "content": content}]})

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, headers=bearer(created["key"]), timeout=30) as client:
            return list(await asyncio.gather(*(one(client, n) for n in range(40))))

    responses = asyncio.run(burst())
    ok = [r for r in responses if r.status_code == 200]
    assert ok and all(r.status_code in (200, 429) for r in responses)
    wait_until(lambda: int(redis.hget(f"sb:usage:{created['id']}:{today()}", "requests") or 0) == len(ok),
               message="every answered request settled")
    charged = sum(r.json()["switchboard"]["cost_usd"] for r in ok)
    assert charged <= budget + 1e-9  # the stated bound: no overspend
    assert spent(redis, created["id"]) == pytest.approx(charged, abs=1e-9)


# -- 7. the admin key, metadata and our own key shape ----------------------------------------------------------
def test_a_one_character_admin_key_refuses_to_start(env) -> None:
    from switchboard import Switchboard

    with pytest.raises(ConfigError, match="at least 32 characters"):
        Switchboard(make_config(), {**env, "SWITCHBOARD_ADMIN_KEY": "x"})
    served = subprocess.run([sys.executable, "-m", "switchboard", "serve", "--port", str(free_port())],
                            env={**os.environ, "SWITCHBOARD_ADMIN_KEY": "x"}, capture_output=True, text=True,
                            timeout=60)
    assert served.returncode == 2 and "at least 32 characters" in served.stderr


def test_the_admin_key_is_its_own_tenant_with_configurable_limits(serve, shared, fakes, capsys) -> None:
    base = serve(make_config(callers={"admin_limits": {"rpm": 2}}), environment=shared)
    refused = httpx.post(f"{base}/admin/keys", json={"tenant": "admin", "tier": "paid"}, headers=bearer(ADMIN))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "tenant"
    statuses = [httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(ADMIN)).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    lines = [line for line in request_logs(capsys.readouterr().out) if line["status"] == 200]
    assert {line["tenant"] for line in lines} == {"admin"}


@pytest.mark.parametrize("path,body", [
    ("/complete", {"text": "hi", "metadata": {"note": "x" * 1_000_000}}),
    ("/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": "hi"}],
                              "metadata": {"note": "x" * 1_000_000}}),
])
def test_a_megabyte_of_metadata_is_refused_naming_the_field(serve, shared, fakes, path, body) -> None:
    base = serve(environment=shared)
    key = mint(base)["key"]
    response = httpx.post(f"{base}{path}", json=body, headers=bearer(key), timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error.get("field") or error.get("param")) == "metadata.note"
    too_many = httpx.post(f"{base}/complete", json={"text": "hi", "metadata": {f"k{n}": n for n in range(17)}},
                          headers=bearer(key))
    assert too_many.status_code == 400 and too_many.json()["error"]["field"] == "metadata"
    assert fakes.openai.calls == 0


def test_switchboard_shaped_keys_are_masked_in_logs(serve, shared, fakes, capsys) -> None:
    base = serve(environment=shared)
    key = mint(base)["key"]
    pasted = mint(base, tenant="other")["key"]  # a client pastes a key into its metadata
    assert httpx.post(f"{base}/complete", json={"text": "hi", "metadata": {"oops": pasted}},
                      headers=bearer(key)).status_code == 200
    out = capsys.readouterr().out
    assert pasted not in out and "sbk_" not in out
    assert '"oops":"[REDACTED]"' in out
