"""Property-based fuzzing of every endpoint, from the gateway's own OpenAPI document (schemathesis), and with
hypothesis where the document cannot say enough (headers it does not list, bodies that are not JSON objects).

Against the real HTTP service (uvicorn, in-process, fake providers behind it), bounded: a few dozen examples
per operation, positive and negative. For every response:

- no status >= 500 other than the documented 502 / 503 / 504 (what the providers' failures become);
- every error body in the shape its path documents: Switchboard's own (`ErrorResponse`, with the request id)
  on native paths, OpenAI's on `/v1/*`, Anthropic's on `/v1/messages*`; and `x-request-id` on every answer;
- no traceback and no `internal_error` line in the captured log.

Admin endpoints run with authentication off (no SWITCHBOARD_ADMIN_KEY) and again with it on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.schema import ErrorResponse
from tests.conftest import make_config

EXAMPLES = 25  # per operation and generation mode
ADMIN_KEY = "sb-admin-fuzz-0123456789abcdef"
PROVIDER_FAILURES = {502, 503, 504}  # documented on every model-calling operation
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
BAD_LINE = re.compile(r"Traceback|internal_error|Exception in ASGI|Unhandled exception")


def error_shape_problems(path: str, status: int, headers: httpx.Headers | Any, body: Any) -> list[str]:
    """What is wrong with an error answer, by the shape its path documents (http/doors.py)."""
    problems = []
    request_id = headers.get("x-request-id")
    if not request_id:
        problems.append("no x-request-id header")
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return [*problems, f"not an error object: {str(body)[:200]}"]
    error = body["error"]
    if path.startswith("/v1/messages"):
        if body.get("type") != "error" or set(error) != {"type", "message"} or body.get("request_id") != request_id:
            problems.append(f"not Anthropic's error shape: {str(body)[:300]}")
    elif path.startswith("/v1/"):
        if set(error) != {"message", "type", "param", "code"} or not isinstance(error["message"], str):
            problems.append(f"not OpenAI's error shape: {str(body)[:300]}")
        elif status >= 500 and error["type"] != "api_error" or status < 500 and error["type"] != "invalid_request_error":
            problems.append(f"OpenAI error type {error['type']!r} for a {status}")
    else:
        try:
            parsed = ErrorResponse.model_validate(body)
        except ValueError as invalid:
            problems.append(f"not Switchboard's ErrorResponse: {invalid}: {str(body)[:300]}")
        else:
            if parsed.error.request_id != request_id:
                problems.append(f"error.request_id {parsed.error.request_id!r} != x-request-id {request_id!r}")
    return problems


def answer_problems(path: str, status: int, headers: Any, content: bytes) -> list[str]:
    """Everything wrong with one answer (status, shape, request id)."""
    if status >= 500 and status not in PROVIDER_FAILURES:
        return [f"status {status}: {content[:300]!r}"]
    content_type = headers.get("content-type", "")
    if status < 400:
        if "text/event-stream" in content_type:
            return []  # streamed answers: tests/test_soak.py checks how they end
        if content_type.startswith("application/json") or path == "/openapi.json":
            try:
                orjson.loads(content)
            except orjson.JSONDecodeError:
                return [f"a {status} whose body is not JSON: {content[:200]!r}"]
        return [] if headers.get("x-request-id") else ["no x-request-id header"]
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return [f"a {status} whose body is not JSON: {content[:200]!r}"]
    return error_shape_problems(path, status, headers, body)


def log_problems(output: str) -> list[str]:
    return [line[:400] for line in output.splitlines() if BAD_LINE.search(line)]


def path_of(case: Any) -> str:
    return case.formatted_path if hasattr(case, "formatted_path") else case.path


def check_case(case: Any, base_url: str, capsys: pytest.CaptureFixture[str],
               headers: dict[str, str] | None = None) -> None:
    response = case.call(base_url=base_url, headers=headers, timeout=15)
    first = {name.lower(): values[0] if isinstance(values, list) else values
             for name, values in response.headers.items()}
    problems = answer_problems(path_of(case), response.status_code, first, response.content)
    problems += log_problems(capsys.readouterr().out)
    assert not problems, f"{case.method} {path_of(case)} body={str(case.body)[:300]}: {problems}"


# -- the schema, as the running gateway serves it ----------------------------------------------------------
@pytest.fixture
def gateway_url(serve: Callable[..., str]) -> str:
    return serve(make_config())


@pytest.fixture
def api_schema(gateway_url: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE,
                                           schemathesis.GenerationMode.NEGATIVE], max_examples=EXAMPLES)
    return schema


@pytest.fixture
def admin_url(serve: Callable[..., str], env: dict[str, str]) -> str:
    return serve(make_config(), {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN_KEY})


@pytest.fixture
def admin_schema(admin_url: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{admin_url}/openapi.json", headers={"authorization":
                                                                                 f"Bearer {ADMIN_KEY}"})
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE,
                                           schemathesis.GenerationMode.NEGATIVE], max_examples=EXAMPLES)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")
admin = schemathesis.pytest.from_fixture("admin_schema").include(path_regex="^/(admin|metrics|v1/models|complete$)")


def test_the_served_document_covers_every_endpoint(gateway: httpx.Client) -> None:
    from switchboard.http.app import routes

    document = gateway.get("/openapi.json").json()
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    templates = {(method, re.sub(r"\{(\w+):\w+\}", r"{\1}", path)) for method, path, _ in routes()}  # {x:path}
    assert templates <= served
    assert {("GET", "/healthz"), ("GET", "/readyz")} <= served


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_endpoint_from_its_schema_without_authentication(case: Any, gateway_url: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    check_case(case, gateway_url, capsys)


@admin.parametrize()
@FUZZ_SETTINGS
def test_admin_and_model_endpoints_with_authentication_on(case: Any, admin_url: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    check_case(case, admin_url, capsys, {"authorization": f"Bearer {ADMIN_KEY}"})


# -- what the schema cannot say: headers it does not list, bodies that are not what it describes -------------
POST_PATHS = ["/complete", "/decide", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages",
              "/v1/messages/count_tokens", "/pipelines/blog_post", "/admin/keys"]
VALID = {
    "/complete": {"text": "hello"},
    "/v1/chat/completions": {"model": "auto", "messages": [{"role": "user", "content": "hello"}]},
    "/v1/messages": {"model": "auto", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]},
}
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=300).map(lambda value: value.strip(" \t"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=30,
)


@pytest.fixture
def client(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=15) as http:
        yield http


def send(client: httpx.Client, capsys: pytest.CaptureFixture[str], path: str, content: bytes,
         headers: dict[str, str] | None = None) -> httpx.Response:
    raw = {name: value.encode("latin-1") for name, value in (headers or {}).items()}
    response = client.post(path, content=content, headers={"content-type": "application/json", **raw})
    problems = answer_problems(path, response.status_code, response.headers, response.content)
    problems += log_problems(capsys.readouterr().out)
    assert not problems, f"POST {path} {content[:300]!r} headers={headers}: {problems}"
    return response


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(POST_PATHS), content=st.binary(max_size=300))
def test_any_bytes_as_a_body(client: httpx.Client, capsys: pytest.CaptureFixture[str], path: str,
                             content: bytes) -> None:
    response = send(client, capsys, path, content)
    assert response.status_code in (400, 401, 403, 404, 413, 422), response.text


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(POST_PATHS), value=json_values)
def test_any_json_value_as_a_body(client: httpx.Client, capsys: pytest.CaptureFixture[str], path: str,
                                  value: Any) -> None:
    send(client, capsys, path, json.dumps(value).encode())  # stdlib json: integers of any size


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(list(VALID)),
    headers=st.dictionaries(
        st.sampled_from(["x-switchboard-timeout", "cache-control", "x-request-id", "traceparent", "tracestate",
                         "authorization", "x-api-key", "content-length-extra", "accept", "baggage"]),
        header_text, max_size=4),
)
def test_any_header_values_on_a_valid_request(client: httpx.Client, capsys: pytest.CaptureFixture[str],
                                              path: str, headers: dict[str, str]) -> None:
    response = send(client, capsys, path, orjson.dumps(VALID[path]), headers)
    request_id = headers.get("x-request-id")
    if request_id and re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", request_id):
        assert response.headers["x-request-id"] == request_id  # a sane id is kept ...
    else:
        assert re.fullmatch(r"[0-9a-f]{24}", response.headers["x-request-id"])  # ... anything else replaced


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(list(VALID)), stream=st.booleans(),
       text=st.text(st.characters() | st.characters(categories=["Cs"]), max_size=200))
def test_any_unicode_in_a_prompt(client: httpx.Client, capsys: pytest.CaptureFixture[str], path: str, text: str,
                                 stream: bool) -> None:
    """Any text the JSON can carry (lone surrogates included, escaped) is answered or refused, never a 500."""
    body = orjson.loads(orjson.dumps(VALID[path]))
    if path == "/complete":
        body["text"] = text
    else:
        body["messages"][0]["content"] = text
    body["stream"] = stream
    send(client, capsys, path, json.dumps(body).encode())  # escapes lone surrogates as \\udXXX


# -- the error bodies against the schema the document declares for them --------------------------------------
DOCUMENTED_SHAPE_BUG = pytest.mark.xfail(strict=True, reason=(
    "BUG: http/openapi.py declares ErrorResponse (error.code required) as the `default` error of every "
    "operation, but /v1/messages* answer Anthropic's shape ({type, error: {type, message}, request_id}, no "
    "error.code): the document must declare Anthropic's error schema for those paths"))


@pytest.mark.parametrize("path", [
    "/complete", "/decide", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/pipelines/blog_post",
    pytest.param("/v1/messages", marks=DOCUMENTED_SHAPE_BUG),
    pytest.param("/v1/messages/count_tokens", marks=DOCUMENTED_SHAPE_BUG),
])
def test_error_bodies_match_the_schema_the_document_declares(gateway: httpx.Client, path: str) -> None:
    from jsonschema import Draft202012Validator

    document = gateway.get("/openapi.json").json()
    template = next(p for p in document["paths"] if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", p), path))
    for body in (b"{}", b"not json", b'{"model": 5}'):
        response = gateway.post(path, content=body, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500
        responses = document["paths"][template]["post"]["responses"]
        declared = responses.get(str(response.status_code), responses["default"])
        schema = declared["content"]["application/json"]["schema"]
        errors = list(Draft202012Validator({**schema, "components": document["components"]}).iter_errors(
            response.json()))
        assert not errors, f"{path} {body!r}: {response.json()} does not match {schema}: {errors[0].message}"
