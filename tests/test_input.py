"""Bad input gets a 4xx with a machine-readable code and the field, never a 500."""

from __future__ import annotations

import httpx
import pytest

from switchboard import GatewayError


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": 5}, "text"),
        ({"text": "hi", "max_tokens": 0}, "max_tokens"),
        ({"text": "hi", "max_tokens": -3}, "max_tokens"),
        ({"text": "hi", "max_tokens": "10"}, "max_tokens"),
        ({"text": "hi", "max_tokens": 1.5}, "max_tokens"),
        ({"text": "hi", "temperature": 3}, "temperature"),
        ({"text": "hi", "temperature": "hot"}, "temperature"),
        ({"text": "hi", "timeout_s": 0}, "timeout_s"),
        ({"text": "hi", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"text": "hi", "metadata": ["x"]}, "metadata"),
        ({"text": "hi", "surprise": 1}, "surprise"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
         "messages[0].content[0].image_url.url"),
        ({"messages": []}, "messages"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(gateway: httpx.Client, fakes, body, field) -> None:
    response = gateway.post("/complete", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] is not None and error["field"].startswith(field)
    assert field in error["message"]
    assert fakes.openai.calls == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"text": "hi", "messages": [{"role": "user", "content": "hi"}]},
     {"messages": [{"role": "system", "content": "only a system prompt"}]}],
)
def test_text_or_messages_exactly_once(gateway: httpx.Client, body) -> None:
    response = gateway.post("/complete", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_unknown_task_type_lists_the_known_ones(gateway: httpx.Client) -> None:
    response = gateway.post("/complete", json={"text": "hi", "task_type": "poetry_slam"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("unknown_task_type", "task_type")
    for known in ("creative_writing", "technical_explanation", "summarization", "classification"):
        assert known in error["message"]


def test_timeout_over_the_configured_maximum_is_refused(gateway: httpx.Client) -> None:
    response = gateway.post("/complete", json={"text": "hi", "timeout_s": 3000})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "timeout_s"


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_bodies_that_are_not_a_json_object_are_400(gateway: httpx.Client, content: bytes) -> None:
    response = gateway.post("/complete", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_a_body_over_one_mebibyte_is_413(gateway: httpx.Client, fakes) -> None:
    big = b'{"text": "' + b"a" * (1 << 20) + b'"}'
    response = gateway.post("/complete", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"

    def chunks():  # no content-length: the limit still holds while streaming the body in
        yield b'{"text": "'
        for _ in range(17):
            yield b"a" * 65536
        yield b'"}'

    response = gateway.post("/complete", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert fakes.openai.calls == 0


def test_unknown_paths_and_methods_get_structured_errors(gateway: httpx.Client) -> None:
    missing = gateway.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert missing.headers["x-request-id"]
    wrong = gateway.get("/complete")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_a_sane_client_request_id_is_echoed_and_never_becomes_ours(gateway: httpx.Client) -> None:
    kept = gateway.post("/complete", json={"text": "hi"}, headers={"x-request-id": "client-123"})
    assert kept.headers["x-request-id"] == "client-123"
    assert kept.json()["id"].startswith("sb-") and "client-123" not in kept.json()["id"]  # our id, not theirs
    again = gateway.post("/complete", json={"text": "hi"}, headers={"x-request-id": "client-123"})
    assert again.json()["id"] != kept.json()["id"]  # a replayed id is a new request
    replaced = gateway.post("/complete", json={"text": "hi"}, headers={"x-request-id": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"


async def test_the_library_validates_the_same_way(switchboard) -> None:
    with pytest.raises(GatewayError) as raised:
        await switchboard.complete("hi", max_tokens=0)
    assert raised.value.status == 422 and raised.value.body.error.field == "max_tokens"
    with pytest.raises(GatewayError) as raised:
        await switchboard.complete("hi", task_type="nope")
    assert raised.value.body.error.code == "unknown_task_type"
