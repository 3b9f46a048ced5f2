"""The response cache: identical and similar prompts answered without a provider call, safely."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest
import redis as redis_sync

from switchboard.cache.store import MemoryStore
from tests.conftest import cli, free_port, make_config, redis_answers, request_logs, sse_events
from tests.fakes import Reply
from tests.waiting import wait_until

ADMIN = "sb-admin-cache-SECRET-7777yyyy-0123456789"
DETERMINISTIC = {"task_type": "creative_writing", "temperature": 0}
SEMANTIC = {"cache": {"semantic": {"enabled": True}}}


def ask(client: httpx.Client, text: str, headers: dict[str, str] | None = None, **body) -> httpx.Response:
    return client.post("/complete", json={"text": text, **DETERMINISTIC, **body}, headers=headers or {})


def test_an_identical_request_is_answered_once_upstream(gateway: httpx.Client, fakes, capsys) -> None:
    fakes.openai.default = Reply(text="Paris.", input_tokens=100, output_tokens=10)
    first = ask(gateway, "What is the capital of France?")
    second = ask(gateway, "What is the capital of France?")
    assert fakes.openai.calls == 1
    assert first.headers["x-switchboard-cache"] == "miss" and second.headers["x-switchboard-cache"] == "hit"
    hit = second.json()
    assert hit["text"] == "Paris." and hit["cached"] is True and hit["cost_usd"] == 0
    assert hit["cache"]["kind"] == "exact" and hit["cache"]["saved_usd"] == first.json()["cost_usd"] > 0
    assert hit["cache"]["age_s"] >= 0 and hit["route"]["attempts"] == []
    lines = request_logs(capsys.readouterr().out)
    assert [line["cache"] for line in lines] == ["miss", "hit"] and lines[1]["saved_usd"] > 0


def test_what_changes_the_answer_changes_the_key(gateway: httpx.Client, fakes) -> None:
    ask(gateway, "Name a colour.")
    for change in ({"max_tokens": 7}, {"stop": ["."]}, {"text": "Name a colour!"},
                   {"task_type": "technical_explanation"}):
        body = {"text": "Name a colour.", **DETERMINISTIC, **change}
        assert gateway.post("/complete", json=body).headers["x-switchboard-cache"] == "miss", change


def test_sampled_requests_are_not_cached_unless_opted_in(serve, fakes) -> None:
    with httpx.Client(base_url=serve()) as client:
        for _ in range(2):
            response = client.post("/complete", json={"text": "Tell a joke.", "temperature": 0.9})
            assert response.headers["x-switchboard-cache"] == "bypass"
        opted = [client.post("/complete", json={"text": "Tell a joke.", "temperature": 0.9, "cache": True})
                 for _ in range(2)]
        assert [r.headers["x-switchboard-cache"] for r in opted] == ["miss", "hit"]
    with httpx.Client(base_url=serve(make_config(routes={"creative_writing": {
            "targets": ["openai:gpt-5.4"], "cache": {"sampled": True}}}))) as client:
        statuses = [client.post("/complete", json={"text": "A poem.", "task_type": "creative_writing",
                                                   "temperature": 1.0}).headers["x-switchboard-cache"]
                    for _ in range(2)]
        assert statuses == ["miss", "hit"]  # the route opted in


def test_clients_control_the_cache(gateway: httpx.Client, fakes) -> None:
    assert ask(gateway, "Q1", cache=False).headers["x-switchboard-cache"] == "bypass"
    assert ask(gateway, "Q1").headers["x-switchboard-cache"] == "miss"  # cache: false wrote nothing
    assert ask(gateway, "Q1", {"cache-control": "no-cache"}).headers["x-switchboard-cache"] == "bypass"
    assert ask(gateway, "Q2", {"cache-control": "no-store"}).headers["x-switchboard-cache"] == "miss"
    assert ask(gateway, "Q2").headers["x-switchboard-cache"] == "miss"  # no-store wrote nothing
    v1 = {"model": "creative_writing", "temperature": 0, "messages": [{"role": "user", "content": "Q3"}]}
    gateway.post("/v1/chat/completions", json=v1)
    hit = gateway.post("/v1/chat/completions", json=v1)
    assert hit.headers["x-switchboard-cache"] == "hit" and hit.json()["switchboard"]["cached"] is True
    fresh = gateway.post("/v1/chat/completions", json=v1, headers={"cache-control": "no-cache"})
    assert fresh.headers["x-switchboard-cache"] == "bypass"


def test_a_streamed_hit_replays_as_a_stream(gateway: httpx.Client, fakes) -> None:
    fakes.openai.default = Reply(text="The quick brown fox jumps over the lazy dog.")
    ask(gateway, "A sentence, please.")
    with gateway.stream("POST", "/complete", json={"text": "A sentence, please.", "stream": True,
                                                   **DETERMINISTIC}) as response:
        assert response.headers["x-switchboard-cache"] == "hit"
        events = sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "end" and "delta" in names
    assert "".join(d["text"] for n, d in events if n == "delta") == "The quick brown fox jumps over the lazy dog."
    assert events[-1][1]["cached"] is True and fakes.openai.calls == 1


def test_a_cut_stream_is_not_stored(gateway: httpx.Client, fakes) -> None:
    fakes.openai.push(Reply(text="one two three four", cut_after=2))
    with gateway.stream("POST", "/complete", json={"text": "Count.", "stream": True, **DETERMINISTIC}) as r:
        assert [name for name, _ in sse_events(r)][-1] == "error"
    assert ask(gateway, "Count.").headers["x-switchboard-cache"] == "miss"
    assert fakes.openai.calls == 2


def test_semantic_hit_and_near_miss(serve, fakes) -> None:
    fakes.openai.default = Reply(text="Paris.")
    with httpx.Client(base_url=serve(make_config(**SEMANTIC))) as client:
        ask(client, "What is the capital of France?")
        similar = ask(client, "what's the capital city of France?")
        assert similar.headers["x-switchboard-cache"] == "semantic-hit"
        body = similar.json()
        assert body["text"] == "Paris." and body["cache"]["kind"] == "semantic"
        assert 0 < body["cache"]["similarity"] <= 1
        near = ask(client, "What is the capital of Germany?")
        assert near.headers["x-switchboard-cache"] == "miss"
        assert fakes.openai.calls == 2
        # Never for tools: the same question with a tool goes upstream.
        tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
        assert ask(client, "what's the capital city of France?", tools=tools).headers["x-switchboard-cache"] == "miss"


@pytest.fixture
def tenants(env, redis_url) -> dict[str, str]:
    redis_sync.Redis.from_url(redis_url).flushdb()
    return {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "REDIS_URL": redis_url}


def key_for(base_url: str, tenant: str) -> dict[str, str]:
    created = httpx.post(f"{base_url}/admin/keys", json={"tenant": tenant, "tier": "paid"},
                         headers={"authorization": f"Bearer {ADMIN}"}).json()
    return {"authorization": f"Bearer {created['key']}"}


def test_two_tenants_never_share_and_two_replicas_share_both_caches(serve, tenants, fakes) -> None:
    config = make_config(**SEMANTIC)
    first, second = serve(config, environment=tenants), serve(config, environment=tenants)
    acme, globex = key_for(first, "acme"), key_for(first, "globex")
    with httpx.Client(base_url=first) as a, httpx.Client(base_url=second) as b:
        assert ask(a, "What is the capital of France?", acme).headers["x-switchboard-cache"] == "miss"
        assert ask(b, "What is the capital of France?", acme).headers["x-switchboard-cache"] == "hit"
        assert ask(b, "What is the capital of France?", globex).headers["x-switchboard-cache"] == "miss"
        # The other replica learns the semantic entry within a second.
        wait_until(lambda: ask(b, "what's the capital city of France?", acme).headers["x-switchboard-cache"]
                   == "semantic-hit", timeout=1.0, interval=0.1, message="a semantic hit on the other one")
    assert fakes.openai.calls == 2


def test_cache_clear_and_stats_from_the_cli(serve, tenants, fakes, redis_url) -> None:
    base = serve(environment=tenants)
    acme, globex = key_for(base, "acme"), key_for(base, "globex")
    env = {"REDIS_URL": redis_url}

    def stats() -> dict[str, int]:
        shown = cli("cache", "stats", env=env)
        assert shown.exit_code == 0, shown.stderr
        pairs = (line.rsplit(None, 1) for line in shown.stdout.splitlines())
        return {label: int(value) for label, value in pairs}

    empty = stats()
    assert empty == {"exact entries": 0, "semantic entries": 0, "bytes": 0}  # the same lines when empty
    with httpx.Client(base_url=base) as client:
        ask(client, "One", acme)
        ask(client, "One", globex)
        full = stats()
        assert list(full) == list(empty) and full["exact entries"] == 2 and full["bytes"] > 0
        cleared = cli("cache", "clear", "--tenant", "acme", env=env)
        assert cleared.exit_code == 0 and "removed 1" in cleared.stdout
        assert ask(client, "One", acme).headers["x-switchboard-cache"] == "miss"
        assert ask(client, "One", globex).headers["x-switchboard-cache"] == "hit"


def test_redis_down_mid_run_sends_requests_to_the_provider(serve, env, fakes) -> None:
    port = free_port()
    process = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: redis_answers(port), timeout=10, message=f"redis-server on port {port}")
        base = serve(make_config(**SEMANTIC), environment={**env, "REDIS_URL": f"redis://127.0.0.1:{port}/0"})
        with httpx.Client(base_url=base, timeout=10) as client:
            ask(client, "Before the outage")
            assert ask(client, "Before the outage").headers["x-switchboard-cache"] == "hit"
            process.kill()
            process.wait(5)
            during = ask(client, "Before the outage")
            assert during.status_code == 200 and during.headers["x-switchboard-cache"] == "miss"
            assert ask(client, "A new question").status_code == 200
    finally:
        process.kill()
        process.wait(5)


async def test_the_memory_store_stays_within_its_byte_bound() -> None:
    store = MemoryStore(max_bytes=64 * 1024)
    for index in range(5000):
        await store.put(f"key-{index}", b"x" * (index % 900), 60)
        assert store.bytes <= 64 * 1024
    assert len(store) < 5000 and await store.get("key-4999") is not None and await store.get("key-0") is None


async def test_a_corrupt_entry_is_a_miss_not_an_error(switchboard, fakes) -> None:
    await switchboard.complete("Corrupt me", temperature=0)
    cache = switchboard.runtime.cache
    for key in list(cache.entries._entries):
        await cache.entries.put(key, b"{not json", 60)
    response = await switchboard.complete("Corrupt me", temperature=0)
    assert response.cached is False and fakes.openai.calls == 2
