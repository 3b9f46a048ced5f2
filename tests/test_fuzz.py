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
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.core.errors import ErrorResponse
from tests.conftest import make_config

# The slow tier: hundreds of generated requests per endpoint (`pytest -m 'not slow'` leaves it out).
pytestmark = pytest.mark.slow

EXAMPLES = 25  # per operation and generation mode
ADMIN_KEY = "sb-admin-fuzz-0123456789abcdef-0123456789"
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
            return stream_problems(path, content)
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


def stream_problems(path: str, content: bytes) -> list[str]:
    """A stream ends with its protocol's end or with an explicit error, never just stops."""
    events = [block for block in content.decode("utf-8", "replace").split("\n\n") if block.strip()]
    last = events[-1] if events else ""
    if path.startswith("/v1/messages"):
        ended = last.startswith(("event: message_stop", "event: error"))
    elif path == "/v1/responses":
        ended = last.startswith(("event: response.completed", "event: response.incomplete", "event: response.failed"))
    elif path.startswith("/v1/"):
        ended = last == "data: [DONE]" or last.startswith('data: {"error"')
    else:
        ended = last.startswith(("event: end", "event: error"))
    return [] if ended else [f"a stream that just stops: ...{content[-300:]!r}"]


def log_problems(output: str) -> list[str]:
    return [line[:400] for line in output.splitlines() if BAD_LINE.search(line)]


def path_of(case: Any) -> str:
    return case.formatted_path if hasattr(case, "formatted_path") else case.path


SEEN: dict[str, Counter[tuple[str, str, int]]] = {"anonymous": Counter(), "admin": Counter()}


def check_case(case: Any, base_url: str, capsys: pytest.CaptureFixture[str],
               headers: dict[str, str] | None = None) -> None:
    response = case.call(base_url=base_url, headers=headers, timeout=15)
    SEEN["admin" if headers else "anonymous"][(case.method.upper(), case.path, response.status_code)] += 1
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
def admin_url(serve: Callable[..., str], env: dict[str, str], tmp_path: Any) -> str:
    keys = tmp_path / "keys.json"  # a single node's key store (no Redis here)
    return serve(make_config(), {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN_KEY, "SWITCHBOARD_KEYS_FILE": str(keys)})


@pytest.fixture
def admin_schema(admin_url: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{admin_url}/openapi.json", headers={"authorization":
                                                                                 f"Bearer {ADMIN_KEY}"})
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE,
                                           schemathesis.GenerationMode.NEGATIVE], max_examples=EXAMPLES)
    return schema


ADMIN_PATHS = "^/(admin|metrics|v1/models|complete$)"
schema = schemathesis.pytest.from_fixture("api_schema")
admin = schemathesis.pytest.from_fixture("admin_schema").include(path_regex=ADMIN_PATHS)


def test_the_served_document_covers_every_endpoint(gateway: httpx.Client) -> None:
    from switchboard.http.endpoints import ENDPOINTS

    document = gateway.get("/openapi.json").json()
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    templates = {(e.method, re.sub(r"\{(\w+):\w+\}", r"{\1}", e.path)) for e in ENDPOINTS}  # {x:path}
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


def explore(api: Any, base_url: str, capsys: pytest.CaptureFixture[str],
            headers: dict[str, str] | None) -> None:
    """The schemathesis cases of every operation, positive and negative (drawn as its pytest plugin draws
    them), checked like the parametrized tests above: for a session that did not run those (this test
    alone)."""
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for result in api.get_all_operations():
        operation = result.ok()  # an operation the schema cannot describe raises here
        # Its phases: the document's examples, then generated cases.
        for strategies in (api.get_strategies_from_examples(operation),
                           [operation.as_strategy(generation_mode=mode) for mode in modes]):
            if not strategies:
                continue

            @FUZZ_SETTINGS
            @given(case=st.one_of(strategies))
            def run(case: Any) -> None:
                check_case(case, base_url, capsys, headers)

            run()


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_the_fuzzing_reached_past_validation(who: str, request: pytest.FixtureRequest,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Schema-valid requests were answered (2xx), not all refused: the fuzzing reached the flow behind the
    parsers, and the admin key opened the admin endpoints. (Most of schemathesis' schema-valid bodies break a
    rule the schema cannot say, such as "exactly one of text or messages" or "a tool message needs
    tool_call_id", and are refused; the hypothesis strategies below build requests that satisfy them.)
    Run alone, it runs the schemathesis cases itself rather than find nothing to check."""
    seen = SEEN[who]
    if not seen:
        if who == "anonymous":
            explore(request.getfixturevalue("api_schema"), request.getfixturevalue("gateway_url"), capsys,
                    None)
        else:
            explore(request.getfixturevalue("admin_schema").include(path_regex=ADMIN_PATHS),
                    request.getfixturevalue("admin_url"), capsys, {"authorization": f"Bearer {ADMIN_KEY}"})
    assert seen, f"no schemathesis case ran for {who}"
    answered = {(method, path) for (method, path, status), _ in seen.items() if 200 <= status < 300}
    expected = {("POST", "/complete"), ("GET", "/v1/models")}
    if who == "anonymous":
        expected |= {("POST", "/decide"), ("POST", "/v1/messages/count_tokens"), ("GET", "/healthz"),
                     ("GET", "/pipelines"), ("GET", "/metrics")}
    else:
        expected |= {("GET", "/admin/keys"), ("GET", "/metrics")}
    assert expected <= answered, f"never answered 2xx: {sorted(expected - answered)}"
    refused = {(method, path) for (method, path, status), _ in seen.items() if 400 <= status < 500}
    assert ("POST", "/complete") in refused  # and the negative cases were refused


# -- what the schema cannot say: headers it does not list, bodies that are not what it describes -------------
POST_PATHS = ["/complete", "/decide", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages",
              "/v1/messages/count_tokens", "/v1/responses", "/pipelines/blog_post", "/admin/keys"]
VALID = {
    "/complete": {"text": "hello"},
    "/v1/chat/completions": {"model": "auto", "messages": [{"role": "user", "content": "hello"}]},
    "/v1/messages": {"model": "auto", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]},
    "/v1/responses": {"model": "auto", "input": [{"role": "user", "content": "hello"}]},
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
    elif path == "/v1/responses":
        body["input"][0]["content"] = text
    else:
        body["messages"][0]["content"] = text
    body["stream"] = stream
    send(client, capsys, path, json.dumps(body).encode())  # escapes lone surrogates as \\udXXX


# -- the error bodies against the schema the document declares for them --------------------------------------
@pytest.mark.parametrize("path", [
    "/complete", "/decide", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/pipelines/blog_post",
    "/v1/messages", "/v1/messages/count_tokens", "/v1/responses",
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


# -- requests that satisfy what the schema cannot say, so the fuzzing reaches the providers --------------------
TASK_TYPES = ["creative_writing", "technical_explanation", "summarization", "classification", "coding", "math"]
PINNED = ["openai/gpt-5.4", "openai/gpt-5.4-mini", "anthropic/claude-sonnet-4-6", "anthropic/claude-haiku-4-5",
          "cohere/command-a-03-2025", "cohere/command-r7b-12-2024", "local/smollm2-135m-instruct"]
text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60).filter(str.strip)
tool_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,20}", fullmatch=True)
stops = st.lists(text, min_size=1, max_size=4)
seeds = st.integers(-(2**63), 2**63 - 1)


@st.composite
def conversations(draw: st.DrawFn, roles: tuple[str, str] = ("user", "assistant"), system: bool = True) -> list:
    turns = draw(st.integers(0, 2))
    messages = [{"role": "system", "content": draw(text)}] if system and draw(st.booleans()) else []
    for _ in range(turns):
        messages += [{"role": roles[0], "content": draw(text)}, {"role": roles[1], "content": draw(text)}]
    last = draw(text | st.lists(text.map(lambda t: {"type": "text", "text": t}), min_size=1, max_size=3))
    return [*messages, {"role": roles[0], "content": last}]


@st.composite
def tools(draw: st.DrawFn) -> tuple[list, Any]:
    names = draw(st.lists(tool_names, min_size=1, max_size=3, unique=True))
    listed = [{"type": "function", "function": {"name": name, "description": draw(text), "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}} for name in names]
    choice = draw(st.sampled_from(["auto", "none", "required", None, {"type": "function",
                                                                       "function": {"name": names[0]}}]))
    return listed, choice


def optional(**strategies: st.SearchStrategy) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional=strategies)


SAMPLING = {"temperature": st.floats(0, 2), "top_p": st.floats(0, 1), "max_tokens": st.integers(1, 4096),
            "stop": stops, "seed": seeds, "stream": st.booleans(), "timeout_s": st.floats(0.5, 10)}


@st.composite
def complete_bodies(draw: st.DrawFn) -> tuple[str, dict]:
    body = draw(optional(**SAMPLING, task_type=st.sampled_from(TASK_TYPES), model=st.sampled_from(PINNED),
                         metadata=st.dictionaries(tool_names, text | st.integers(), max_size=3),
                         cache=st.booleans(), response_format=st.sampled_from([{"type": "text"}])))
    if draw(st.booleans()):
        body["text"] = draw(text)
    else:
        body["messages"] = draw(conversations())
    if draw(st.integers(0, 4)) == 0:
        body["tools"], choice = draw(tools())
        if choice is not None:
            body["tool_choice"] = choice
    return draw(st.sampled_from(["/complete", "/decide"])), body


@st.composite
def chat_bodies(draw: st.DrawFn) -> tuple[str, dict]:
    body = draw(optional(**SAMPLING, n=st.integers(1, 3), user=text, logprobs=st.booleans(),
                         presence_penalty=st.floats(-2, 2), frequency_penalty=st.floats(-2, 2),
                         max_completion_tokens=st.integers(1, 4096), stream_options=st.just({"include_usage": True}),
                         parallel_tool_calls=st.booleans(), store=st.booleans()))
    body.pop("stream_options", None) if not body.get("stream") else None
    body["model"] = draw(st.sampled_from(["auto", *TASK_TYPES, *PINNED]))
    body["messages"] = draw(conversations())
    if draw(st.integers(0, 4)) == 0:
        body["tools"], choice = draw(tools())
        if choice is not None:
            body["tool_choice"] = choice
    return "/v1/chat/completions", body


@st.composite
def legacy_bodies(draw: st.DrawFn) -> tuple[str, dict]:
    body = draw(optional(**SAMPLING))
    return "/v1/completions", {**body, "model": draw(st.sampled_from(["auto", *TASK_TYPES])), "prompt": draw(text)}


@st.composite
def messages_bodies(draw: st.DrawFn) -> tuple[str, dict]:
    body = draw(optional(system=text, temperature=st.floats(0, 1), top_p=st.floats(0, 1), top_k=st.integers(0, 500),
                         stop_sequences=st.lists(text, min_size=1, max_size=4), stream=st.booleans(),
                         timeout_s=st.floats(0.5, 10)))
    body.update(model=draw(st.sampled_from(["auto", *TASK_TYPES, *PINNED])), max_tokens=draw(st.integers(1, 4096)),
                messages=draw(conversations(system=False)))
    return draw(st.sampled_from(["/v1/messages", "/v1/messages/count_tokens"])), body


@st.composite
def embedding_bodies(draw: st.DrawFn) -> tuple[str, dict]:
    body = draw(optional(dimensions=st.integers(1, 1536), encoding_format=st.sampled_from(["float", "base64"]),
                         user=text))
    body["model"] = draw(st.sampled_from(["text-embedding-3-small", "embed-v4.0", "openai/text-embedding-3-small"]))
    body["input"] = draw(text | st.lists(text, min_size=1, max_size=4))
    return "/v1/embeddings", body


@st.composite
def responses_bodies(draw: st.DrawFn) -> tuple[str, dict]:
    body = draw(optional(instructions=text, temperature=st.floats(0, 2), top_p=st.floats(0, 1),
                         max_output_tokens=st.integers(1, 4096), stream=st.booleans(), timeout_s=st.floats(0.5, 10),
                         metadata=st.dictionaries(tool_names, text, max_size=3), parallel_tool_calls=st.booleans(),
                         reasoning=st.just({"effort": "low"}), text=st.just({"format": {"type": "text"}})))
    body["model"] = draw(st.sampled_from(["auto", *TASK_TYPES, *PINNED]))
    messages = draw(conversations(roles=("user", "assistant")))
    body["input"] = draw(text) if draw(st.booleans()) else [
        {"role": "developer" if m["role"] == "system" else m["role"], "content": m["content"] if isinstance(
            m["content"], str) else [{"type": "input_text", "text": p["text"]} for p in m["content"]]}
        for m in messages]
    if draw(st.integers(0, 4)) == 0:
        listed, choice = draw(tools())
        body["tools"] = [{"type": "function", **t["function"]} for t in listed]
        if choice is not None:
            body["tool_choice"] = choice if isinstance(choice, str) else {"type": "function",
                                                                          "name": choice["function"]["name"]}
    return "/v1/responses", body


VALID_REQUESTS = {"complete": complete_bodies(), "chat": chat_bodies(), "legacy": legacy_bodies(),
                  "messages": messages_bodies(), "embeddings": embedding_bodies(), "responses": responses_bodies()}


@pytest.mark.parametrize("kind", VALID_REQUESTS)
def test_requests_the_schema_cannot_fully_describe(client: httpx.Client, capsys: pytest.CaptureFixture[str],
                                                   kind: str) -> None:
    statuses: Counter[tuple[str, int]] = Counter()

    @settings(max_examples=80, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(request=VALID_REQUESTS[kind])
    def fuzz(request: tuple[str, dict]) -> None:
        path, body = request
        statuses[(path, send(client, capsys, path, json.dumps(body).encode()).status_code)] += 1

    fuzz()
    answered = {path for (path, status) in statuses if status == 200}
    assert answered == {path for path, _ in statuses}, f"some path never answered 200: {statuses}"


@settings(max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(spec=optional(rpm=st.integers(1, 10**6), tpm=st.integers(1, 10**9), budget_usd_day=st.floats(0.01, 1e6),
                     models=st.lists(st.sampled_from(PINNED), max_size=3, unique=True),
                     expires=st.sampled_from(["30d", "12h", "2w", "90m"])),
       tenant=st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True), tier=st.sampled_from(["free", "paid"]))
def test_admin_keys_minted_used_and_revoked(admin_url: str, capsys: pytest.CaptureFixture[str], spec: dict,
                                            tenant: str, tier: str) -> None:
    admin_headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=admin_url, timeout=15) as http:
        minted = http.post("/admin/keys", json={**spec, "tenant": tenant, "tier": tier}, headers=admin_headers)
        assert minted.status_code == 201, minted.text
        created = minted.json()
        key = next(value for name, value in created.items() if name in ("key", "api_key", "secret"))
        key_id = next(value for name, value in created.items() if name in ("id", "key_id"))
        used = http.post("/complete", json={"text": "hi"}, headers={"authorization": f"Bearer {key}"})
        assert used.status_code in (200, 403, 429, 502, 503, 504), used.text
        shown = http.get(f"/admin/keys/{key_id}", headers=admin_headers)
        assert shown.status_code == 200, shown.text
        assert http.delete(f"/admin/keys/{key_id}", headers=admin_headers).status_code == 200
        refused = http.post("/complete", json={"text": "hi"}, headers={"authorization": f"Bearer {key}"})
        assert refused.status_code == 401, refused.text
        for response in (minted, used, shown, refused):
            problems = answer_problems(response.request.url.path, response.status_code, response.headers,
                                       response.content)
            assert not problems, problems
    assert not log_problems(capsys.readouterr().out)
