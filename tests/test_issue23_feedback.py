"""Issue 23: feedback on answers — a caller rates its own requests only; the rating is its own log record."""

from __future__ import annotations

import httpx
import pytest
import redis as redis_sync

from switchboard.core.errors import GatewayError
from switchboard.operations.feedback import is_feedback
from tests.conftest import request_logs

ADMIN = "sb-admin-issue23-SECRET-0123456789abcdef"


@pytest.fixture
def shared(env, redis_url) -> dict[str, str]:
    redis_sync.Redis.from_url(redis_url).flushdb()
    return {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "REDIS_URL": redis_url}


def mint(base: str, tenant: str) -> str:
    response = httpx.post(f"{base}/admin/keys", json={"tenant": tenant, "tier": "paid"},
                          headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 201, response.text
    return response.json()["key"]


def test_feedback_on_your_own_requests_only(serve, shared, fakes, capsys) -> None:
    base = serve(environment=shared)
    acme = {"authorization": f"Bearer {mint(base, 'acme')}"}
    globex = {"authorization": f"Bearer {mint(base, 'globex')}"}
    answer = httpx.post(f"{base}/complete", json={"text": "hi"}, headers=acme).json()
    chat = httpx.post(f"{base}/v1/chat/completions", headers=acme,
                      json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]}).json()

    rated = httpx.post(f"{base}/feedback", json={"request_id": answer["id"], "thumbs": "up", "comment": "good"},
                       headers=acme)
    assert rated.status_code == 202 and rated.json()["value"] == 1.0
    scored = httpx.post(f"{base}/feedback", json={"request_id": chat["id"], "score": 0.25}, headers=acme)
    assert scored.status_code == 202  # an OpenAI response id works as well

    for request_id in (answer["id"], chat["id"]):  # another tenant: as if it did not exist
        other = httpx.post(f"{base}/feedback", json={"request_id": request_id, "thumbs": "down"}, headers=globex)
        assert other.status_code == 404 and other.json()["error"]["code"] == "unknown_request"
    forged = answer["id"][:-8] + ("0" * 8 if not answer["id"].endswith("0" * 8) else "1" * 8)
    made_up = httpx.post(f"{base}/feedback", json={"request_id": forged, "thumbs": "up"}, headers=acme)
    assert made_up.status_code == 404
    unrated = httpx.post(f"{base}/feedback", json={"request_id": answer["id"]}, headers=acme)
    assert unrated.status_code == 422 and unrated.json()["error"]["field"] == "score"
    out_of_range = httpx.post(f"{base}/feedback", json={"request_id": answer["id"], "score": 2}, headers=acme)
    assert out_of_range.status_code == 422

    lines = [line for line in (__import__("orjson").loads(raw) for raw in capsys.readouterr().out.splitlines()
                               if raw.startswith("{")) if line.get("record") == "feedback"]
    assert len(lines) == 2 and all(is_feedback(line) for line in lines)
    assert {line["tenant"] for line in lines} == {"acme"}
    assert lines[0]["request_id"] == answer["id"].removeprefix("sb-") and lines[0]["comment"] == "good"


async def test_the_library_rates_its_own_answers(switchboard, fakes, capsys) -> None:
    response = await switchboard.complete("hi")
    assert (await switchboard.feedback(response.id, score=0.8))["value"] == 0.8
    with pytest.raises(GatewayError) as unknown:
        await switchboard.feedback("sb-" + "ab" * 12, thumbs="up")
    assert unknown.value.status == 404
    assert request_logs(capsys.readouterr().out)  # the request itself was recorded too
