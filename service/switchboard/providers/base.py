"""What every wire protocol shares: the call, the events of an answer, HTTP, SSE and failure classes.

Every chat call upstream streams, whether or not the client asked for a stream: the engine's first-token and
stall timers then protect every call (a target that accepts the connection and sends nothing cannot eat the
deadline), and an unstreamed answer is the collected stream. A protocol module only maps: a `ProviderCall` to
its request body, and its events to the neutral `StreamEvent`s below. An adapter never retries and never fails
over; it reports what happened as a `ProviderError`.

A failure before any byte of a response (refused, DNS, TLS, a reset or a closed connection) is a
connection-level failure: it says the endpoint (the base URL's host) is unreachable, for every model behind
it, so its `ProviderError` names the `host` and has no `status` (no HTTP status came).
"""

from __future__ import annotations

import email.utils
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import aiohttp
import orjson

from switchboard.core.errors import SwitchboardError
from switchboard.core.events import StreamEnd, StreamEvent
from switchboard.core.outcome import RETRYABLE, Outcome
from switchboard.core.request import EmbeddingRequest, Request
from switchboard.core.response import Usage
from switchboard.redact import redact

DETAIL_LIMIT = 300


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One request for one target: the model to ask, and the request as the engine prepared it."""

    model: str
    request: Request
    max_tokens: int


@dataclass(frozen=True, slots=True)
class EmbeddingCall:
    model: str
    request: EmbeddingRequest


@dataclass(slots=True)
class Embeddings:
    vectors: list[list[float]]
    usage: Usage | None
    model: str = ""


class StreamParser:
    """One upstream stream's state: turns SSE events into `StreamEvent`s; raises `ProviderError`."""

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        raise NotImplementedError


@dataclass(slots=True)
class ToolIndexes:
    """Dense 0-based tool-call indexes per choice, from whatever the protocol numbers its calls by."""

    seen: dict[tuple[int, Any], int] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)

    def index(self, upstream: Any, choice: int = 0) -> tuple[int, bool]:
        """(dense index, first time seen)."""
        key = (choice, upstream)
        if key in self.seen:
            return self.seen[key], False
        dense = self.counts.get(choice, 0)
        self.counts[choice] = dense + 1
        self.seen[key] = dense
        return dense, True


class ProviderError(SwitchboardError):
    """One failed attempt, classified. `retry_after_s` is the wait the provider asked for, if any."""

    def __init__(
        self,
        outcome: Outcome,
        detail: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        retryable: bool | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = redact(detail)[:DETAIL_LIMIT]
        self.status = status
        self.host = host  # set for connection-level failures only: the endpoint that could not be reached
        self.retry_after_s = retry_after_s
        self.retryable = outcome in RETRYABLE if retryable is None else retryable


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, else `retry-after` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000
            return value if value > 0 else None
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        value = email.utils.mktime_tz(parsed) - (time.time() if now is None else now)
    return value if value > 0 else None


def outcome_for_status(status: int) -> Outcome:
    if status == 429:
        return Outcome.RATE_LIMITED
    if status in (503, 529):
        return Outcome.OVERLOADED
    if status in (408, 504):
        return Outcome.TIMEOUT
    if status >= 500 or status == 409:  # 409: a conflict the official SDKs retry
        return Outcome.SERVER_ERROR
    if status in (401, 403, 498):  # 498: Cohere's blocked token
        return Outcome.AUTH_ERROR
    return Outcome.BAD_REQUEST


class Adapter:
    """One provider reached over one wire protocol. Subclasses map bodies; this class does HTTP."""

    kind: ClassVar[str]
    honours_should_retry: ClassVar[bool] = False  # `x-should-retry`: OpenAI and Anthropic only

    def __init__(self, name: str, base_url: str | None, api_key: str | None, key_required: bool) -> None:
        self.name = name
        self.base_url = base_url
        self.api_key = api_key
        self.key_required = key_required

    @property
    def usable(self) -> bool:
        return self.base_url is not None and (self.api_key is not None or not self.key_required)

    @property
    def host(self) -> str | None:
        """The endpoint: the base URL's host, with its port when one is given (`api.openai.com`,
        `127.0.0.1:8000`). Targets that share it share its connection-level health."""
        return endpoint_of(self.base_url)

    # -- protocol mapping, per subclass -------------------------------------------------------
    def url(self, call: ProviderCall) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def body(self, call: ProviderCall) -> dict[str, Any]:
        """The streaming request body."""
        raise NotImplementedError

    def stream_parser(self, call: ProviderCall) -> StreamParser:
        raise NotImplementedError

    def unsent(self, call: ProviderCall) -> list[str]:
        """The parameters of `call` this protocol (or this model) cannot express, so `body` leaves out: each is
        listed in the response's `dropped`, never dropped silently. `body` and this share their helpers."""
        return []

    def prepared(self, call: ProviderCall) -> ProviderCall:
        """`call` with what `unsent` leaves out added to its request's `dropped` (a copy: the next target of
        the chain starts again from the request the client sent)."""
        unsent = [name for name in self.unsent(call) if name not in call.request.dropped]
        if not unsent:
            return call
        return replace(call, request=replace(call.request, dropped=[*call.request.dropped, *unsent]))

    def cannot_serve(self, request: Request) -> list[str]:
        """Combinations this protocol refuses although each part is a capability it has (skipped as
        `unsupported`, never sent)."""
        return []

    def error_detail(self, data: Any) -> str:
        """The provider's own words for an error body."""
        return str(data)

    def embeddings_url(self, call: EmbeddingCall) -> str:
        raise ProviderError(Outcome.BAD_REQUEST, f"{self.kind} has no embeddings endpoint", retryable=False)

    def embeddings_body(self, call: EmbeddingCall) -> dict[str, Any]:
        raise NotImplementedError

    def parse_embeddings(self, data: Any, call: EmbeddingCall) -> Embeddings:
        raise NotImplementedError

    # -- HTTP ---------------------------------------------------------------------------------
    def _headers(self, stream: bool) -> dict[str, str]:
        headers = self.headers()
        headers["content-type"] = "application/json"
        if stream:
            headers["accept"] = "text/event-stream"
        return headers

    async def stream(self, session: aiohttp.ClientSession, call: ProviderCall) -> AsyncIterator[StreamEvent]:
        """The answer as it arrives. Ends with one `StreamEnd`, or raises `ProviderError`.

        Closing this generator early closes the upstream connection, so nothing keeps running (or billing).
        """
        parser = self.stream_parser(call)
        responded = False
        try:
            async with session.post(self.url(call), data=orjson.dumps(self.body(call)),
                                    headers=self._headers(True)) as response:
                responded = True
                if response.status != 200:
                    raise self.status_error(response.status, response.headers, await response.read())
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    raw = await response.read()
                    raise ProviderError(Outcome.INVALID_RESPONSE, "asked for an event stream, got "
                                        f"{response.headers.get('content-type') or 'no content type'}: "
                                        f"{raw[:80]!r}", status=200)
                events = SSEReader()
                async for chunk in response.content.iter_any():
                    for event, data in events.feed(chunk):
                        for item in parser.feed(event, data):
                            yield item
                            if isinstance(item, StreamEnd):
                                return
                for event, data in events.close():
                    for item in parser.feed(event, data):
                        yield item
                        if isinstance(item, StreamEnd):
                            return
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            if not responded:
                raise self.connection_error(error) from None
            raise ProviderError(Outcome.CONNECT_ERROR, f"stream broken: {type(error).__name__}", status=200) from None
        raise ProviderError(Outcome.CONNECT_ERROR, "stream cut before its end marker", status=200)

    async def embed(self, session: aiohttp.ClientSession, call: EmbeddingCall) -> Embeddings:
        status: int | None = None
        try:
            async with session.post(self.embeddings_url(call), data=orjson.dumps(self.embeddings_body(call)),
                                    headers=self._headers(False)) as response:
                status = response.status
                raw = await response.read()
                if response.status != 200:
                    raise self.status_error(response.status, response.headers, raw)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            if status is None:
                raise self.connection_error(error) from None
            raise ProviderError(Outcome.CONNECT_ERROR, f"body broken: {type(error).__name__}",
                                status=status) from None
        try:
            return self.parse_embeddings(orjson.loads(raw), call)
        except ProviderError:
            raise
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            raise ProviderError(
                Outcome.INVALID_RESPONSE, f"unreadable response body ({type(error).__name__})", status=200
            ) from None

    def connection_error(self, error: Exception) -> ProviderError:
        """A failure before any byte of a response, in words that name the endpoint (and no HTTP status)."""
        host = self.host
        return ProviderError(Outcome.CONNECT_ERROR, f"{connection_failure(error)} ({host}): {type(error).__name__}",
                             host=host)

    def status_error(self, status: int, headers: Mapping[str, str], raw: bytes) -> ProviderError:
        outcome = outcome_for_status(status)
        try:
            words = self.error_detail(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            words = raw[:DETAIL_LIMIT].decode("utf-8", "replace")
        if outcome is Outcome.RATE_LIMITED and "insufficient_quota" in words:
            outcome = Outcome.QUOTA_EXCEEDED  # OpenAI's billing 429: waiting does not help
        retryable = None
        if self.honours_should_retry:
            should_retry = headers.get("x-should-retry")
            if should_retry in ("true", "false"):
                retryable = should_retry == "true"
        return ProviderError(
            outcome,
            f"HTTP {status}: {words}",
            status=status,
            retry_after_s=parse_retry_after(headers),
            retryable=retryable,
        )


def endpoint_of(base_url: str | None) -> str | None:
    """`https://api.openai.com/v1` -> `api.openai.com`; `http://127.0.0.1:8000/v1` -> `127.0.0.1:8000`."""
    if base_url is None:
        return None
    return urllib.parse.urlsplit(base_url).netloc.rpartition("@")[2] or None  # never a user:password@


def connection_failure(error: Exception) -> str:
    """What went wrong before any response, in the words an operator looks for."""
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "DNS lookup failed"
    if isinstance(error, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(error, aiohttp.ServerTimeoutError):
        return "connect timeout"
    if isinstance(error, aiohttp.ClientConnectorError):
        if isinstance(error.os_error, ConnectionRefusedError):
            return "connection refused"
        return "cannot connect"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "connection closed before any response"
    return "connection reset before any response"


class SSEReader:
    """Server-sent events from the bytes as they arrive: `feed(chunk)` gives the (event name, data) pairs the
    chunk completes; comment lines are skipped. Lines are split per network chunk, not awaited one by one (a
    provider often sends a whole answer's events in one or two writes: one await then, not two per event)."""

    __slots__ = ("_partial", "_event", "_data")

    def __init__(self) -> None:
        self._partial = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        lines = (self._partial + chunk).split(b"\n") if self._partial else chunk.split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for the next chunk
        out: list[tuple[str | None, str]] = []
        for raw in lines:
            self._line(raw.decode("utf-8", "replace").rstrip("\r"), out)
        return out

    def close(self) -> list[tuple[str | None, str]]:
        """The end of the body: a last line without its newline, and an event without its blank line."""
        out: list[tuple[str | None, str]] = []
        if self._partial:
            self._line(self._partial.decode("utf-8", "replace").rstrip("\r"), out)
            self._partial = b""
        if self._data:
            out.append((self._event, "\n".join(self._data)))
            self._event, self._data = None, []
        return out

    def _line(self, line: str, out: list[tuple[str | None, str]]) -> None:
        if not line:
            if self._data:
                out.append((self._event, "\n".join(self._data)))
            self._event, self._data = None, []
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)


def load_event(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProviderError(Outcome.INVALID_RESPONSE, f"malformed stream data: {data[:80]!r}", status=200) from None


def token_count(value: object) -> int:
    """Usage numbers may be floats (Cohere) or absent."""
    return int(value) if isinstance(value, int | float) else 0
