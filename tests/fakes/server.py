"""A scriptable fake provider over real HTTP: one per wire protocol, each in its own thread and loop.

Tests queue `Reply`s; each incoming request takes the next one (or the default) and the fake records
what it received. Protocol subclasses only shape bodies and check requests; this module does the serving,
the faults, chaos mode and the protocol-neutral pieces (logprobs, embedding vectors).

- Chat and embeddings share one script: `push`, `default`, `received` (with each request's path) and the
  faults apply to both. Embedding vectors are `embedding_for(text, dim)`: unit vectors seeded by the text;
  usage counts `count_tokens(text)` per input (one per word).
- `Reply(tool_calls=[ToolCall(name, arguments, id=None)])` answers with tool calls in the protocol's shape,
  streamed too; `Reply(choices=[...])` gives the texts of `n` choices; logprobs come when asked for.
- Request checks (`strict`, on by default) answer a would-be 200 with the protocol's own 400 when the request
  breaks a rule the real API enforces (PROTOCOLS-TOOLS.md §2, §5, §11); each message is also kept in
  `fake.rejected`. Faults (a scripted non-200, hang, drop, malformed body, chaos) are served before any
  check, as a real API's front door would.
- `chaos(rate, seed, faults)` swaps a random share of replies for faults, counted in `injected`.
- `refuse()` takes the endpoint down at the connection level (the listening socket closed, open connections
  aborted: new connections are refused, as from a dead host); `accept()` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import re
import socket
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson
from aiohttp import web


@dataclass
class ToolCall:
    """One tool call in a reply; each fake renders it in its protocol's shape."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)  # a str is sent verbatim (even if not JSON)
    id: str | None = None  # None: the fake makes one up in its provider's style

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return orjson.dumps(self.arguments).decode()

    def arguments_object(self) -> Any:
        if not isinstance(self.arguments, str):
            return self.arguments
        try:
            return orjson.loads(self.arguments)
        except orjson.JSONDecodeError:
            return {}


@dataclass
class Reply:
    """What the fake does with one request."""

    status: int = 200
    text: str = "Hello from the fake."
    headers: dict[str, str] = field(default_factory=dict)
    finish: str | None = None  # the protocol's own finish/stop reason; None means a natural end
    input_tokens: int = 11
    output_tokens: int = 7
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # Anthropic's cache_creation_input_tokens
    no_usage: bool = False  # a reply without any usage (some OpenAI-compatible servers)
    delay_s: float = 0.0  # before answering
    hang: bool = False  # answer nothing for `hang_s`, then drop the connection
    hang_s: float = 3600.0
    drop: bool = False  # close the connection without an answer
    malformed: bool = False  # 200 with a body that is not JSON
    error_type: str | None = None  # protocol error type for non-200 replies
    error_code: str | None = None  # OpenAI's `code` beside the type
    error_param: str | None = None  # OpenAI's `param`
    error_message: str = "fake error"
    body: Any = None  # send exactly this JSON instead of the protocol's body
    # Tools and choices.
    tool_calls: list[ToolCall] | None = None  # rendered after `text` (set text="" for calls alone)
    tool_plan: str | None = None  # Cohere's tool_plan; None: `text`, or a made-up plan when that is empty
    choices: list[str] | None = None  # texts of choices 0..n-1 when the request asks for n (cycled)
    # Streaming (when the request asks for `stream: true`). "after N" counts content chunks sent: text
    # pieces, tool-call deltas and, with n > 1, each choice's chunk.
    chunks: list[str] | None = None  # default: `text` split into words
    chunk_delay_s: float = 0.0
    cut_after: int | None = None  # drop the connection
    stall_after: int | None = None  # go silent for `stall_s`, then carry on
    stall_s: float = 0.0
    malformed_after: int | None = None  # a data line that is not JSON
    error_after: int | None = None  # the protocol's in-band error

    def pieces(self) -> list[str]:
        return self.chunks if self.chunks is not None else split_words(self.text)

    def choice_pieces(self, n: int) -> list[list[str]]:
        """Streamed pieces for each of `n` choices."""
        if self.choices:
            return [split_words(self.choices[i % len(self.choices)]) for i in range(n)]
        return [self.pieces()] * n

    def choice_texts(self, n: int) -> list[str]:
        if self.choices:
            return [self.choices[i % len(self.choices)] for i in range(n)]
        return [self.text] * n


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    json: Any


_WORDS = re.compile(r"\S+\s*")


def split_words(text: str) -> list[str]:
    return _WORDS.findall(text)


def frame(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return (f"event: {event}\n".encode() if event else b"") + b"data: " + payload + b"\n\n"


def fragments(text: str, parts: int = 2) -> list[str]:
    """`text` in `parts` non-empty pieces (at least two whenever it has two characters)."""
    if len(text) < 2:
        return [text]
    step = -(-len(text) // parts)
    return [text[i : i + step] for i in range(0, len(text), step)]


def interleave(lists: list[list[bytes]]) -> list[bytes]:
    if len(lists) == 1:
        return lists[0]
    longest = max((len(items) for items in lists), default=0)
    return [items[i] for i in range(longest) for items in lists if i < len(items)]


def new_id(size: int = 24) -> str:
    return uuid.uuid4().hex[:size]


# -- logprobs: deterministic per token ----------------------------------------------------------
def token_logprob(token: str, rank: int = 0) -> float:
    """The fake's log probability of `token` (rank 0) or of its rank-th alternative."""
    return -round((zlib.crc32(token.encode()) % 1000) / 1000 + 0.6 * rank, 4)


def token_id(token: str) -> int:
    return zlib.crc32(token.encode()) % 200_000


def openai_logprob_entry(token: str, top: int) -> dict[str, Any]:
    alternatives = [token] + [f"{token.strip() or token}~{k}" for k in range(1, top)]
    return {
        "token": token,
        "logprob": token_logprob(token),
        "bytes": list(token.encode()),
        "top_logprobs": [
            {"token": alt, "logprob": token_logprob(token, rank), "bytes": list(alt.encode())}
            for rank, alt in enumerate(alternatives[:top])
        ],
    }


# -- embeddings: deterministic per text ---------------------------------------------------------
def count_tokens(text: str) -> int:
    """The fakes' token count for embedding inputs: one per word, at least one."""
    return max(1, len(text.split()))


def embedding_for(text: str, dim: int) -> list[float]:
    """The unit vector every fake returns for `text` at `dim` dimensions (float32 values).

    Seeded by the text alone, so any fake (and any test) gets the same vector; a shorter `dim` is the
    longer vector's prefix, renormalised, as with OpenAI's `dimensions`.
    """
    return _embedding(text, dim).tolist()


def _embedding(text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    vector = np.random.default_rng(seed).standard_normal(dim)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def float32_base64(vector: np.ndarray) -> str:
    return base64.b64encode(vector.astype("<f4").tobytes()).decode()


# -- chaos --------------------------------------------------------------------------------------
STATUS_FAULTS = ("429_retry_after", "429", "500", "503")
CONNECTION_FAULTS = ("hang", "reset")
BODY_FAULTS = ("malformed",)
STREAM_FAULTS = (
    "cut_before_first",
    "cut_after_some",
    "stall_before_first",
    "stall_after_first",
    "malformed_after_first",
)


@dataclass
class _Chaos:
    rate: float
    rng: random.Random
    faults: frozenset[str] | None
    hang_s: float
    stall_s: float
    retry_after: tuple[float, float]


RECEIVED_KEPT = 10_000


class FakeProvider:
    """Subclasses set `path` (and `embed_path`), `auth_ok`, the bodies, the stream frames and the checks."""

    path: str = "/"  # chat
    embed_path: str | None = None
    name: str = "fake"
    status_faults: tuple[str, ...] = STATUS_FAULTS  # Anthropic adds "529"
    settings: tuple[str, ...] = ("strict", "embedding_dim")  # constructor flags a test may flip; reset() restores
    default_embedding_dim: int = 1536

    def __init__(self, api_key: str = "test-key", *, strict: bool = True, embedding_dim: int | None = None) -> None:
        self.api_key = self._configured_key = api_key
        self.strict = strict  # check requests like the real API (400s); False accepts anything
        self.embedding_dim = embedding_dim
        self._settings = {name: getattr(self, name) for name in self.settings}
        self.default = Reply()
        self.script: deque[Reply] = deque()
        # The latest requests (bounded: a long soak must not grow the fake, nor its collector's pauses).
        self.received: deque[Received] = deque(maxlen=RECEIVED_KEPT)
        self._count = 0
        self.rejected: list[str] = []  # the message of every 400 the checks gave, in order
        self.injected: Counter[str] = Counter()  # chaos faults served, by kind
        self.connections_closed = 0
        self.disconnected_at: list[float] = []  # monotonic times at which a client went away mid-reply
        self._chaos: _Chaos | None = None
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.refusing = False
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        self._started.wait(10)

    # -- scripting ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def reset(self) -> None:
        if self.refusing:
            self.accept()
        self._chaos = None
        self.script.clear()
        self.received.clear()
        self._count = 0
        self.rejected.clear()
        self.injected.clear()
        self.default = Reply()
        self.api_key = self._configured_key
        for name, value in self._settings.items():
            setattr(self, name, value)

    @property
    def calls(self) -> int:
        return self._count

    def chaos(
        self,
        rate: float = 0.3,
        seed: int = 1,
        faults: Iterable[str] | None = None,
        *,
        hang_s: float = 2.0,
        stall_s: float = 1.0,
        retry_after: tuple[float, float] = (0.05, 0.2),
    ) -> None:
        """Give each request, with probability `rate`, a random fault instead of its reply.

        Kinds (`faults` narrows them): "429_retry_after", "429", "500", "503", "529" (Anthropic), "hang" (for
        `hang_s`, then a reset), "reset", "malformed" (unstreamed), and for streams "cut_before_first",
        "cut_after_some", "stall_before_first", "stall_after_first" (for `stall_s`), "malformed_after_first".
        A fault does not use up the script; stream faults carry the next reply's text. `rate=0` turns chaos off.
        """
        kinds = frozenset(faults) if faults is not None else None
        known = {*self.status_faults, *CONNECTION_FAULTS, *BODY_FAULTS, *STREAM_FAULTS}
        if kinds is not None and not kinds <= known:
            raise ValueError(f"unknown fault kinds {sorted(kinds - known)}; known: {sorted(known)}")
        self._chaos = (
            None if rate <= 0 else _Chaos(rate, random.Random(seed), kinds, hang_s, stall_s, retry_after)
        )

    def _chaos_reply(self, streaming: bool) -> Reply | None:
        chaos = self._chaos
        if chaos is None or chaos.rng.random() >= chaos.rate:
            return None
        kinds = [*self.status_faults, *CONNECTION_FAULTS, *(STREAM_FAULTS if streaming else BODY_FAULTS)]
        if chaos.faults is not None:
            kinds = [kind for kind in kinds if kind in chaos.faults]
        if not kinds:
            return None
        kind = chaos.rng.choice(kinds)
        self.injected[kind] += 1
        base = self.script[0] if self.script else self.default
        message = f"chaos: {kind}"
        if kind == "429_retry_after":
            wait = chaos.rng.uniform(*chaos.retry_after)
            return Reply(status=429, error_message=message,
                         headers={"retry-after": f"{wait:.3f}", "retry-after-ms": str(round(wait * 1000))})
        if kind in ("429", "500", "503", "529"):
            return Reply(status=int(kind), error_message=message)
        if kind == "hang":
            return replace(base, hang=True, hang_s=chaos.hang_s, delay_s=0.0)
        if kind == "reset":
            return Reply(drop=True)
        if kind == "malformed":
            return Reply(malformed=True)
        faulty = replace(base, status=200, delay_s=0.0, hang=False, drop=False, malformed=False, body=None,
                         cut_after=None, stall_after=None, malformed_after=None, error_after=None)
        if kind == "cut_before_first":
            return replace(faulty, cut_after=0)
        if kind == "cut_after_some":
            return replace(faulty, cut_after=chaos.rng.randint(1, max(1, min(3, len(base.pieces())))))
        if kind == "stall_before_first":
            return replace(faulty, stall_after=0, stall_s=chaos.stall_s)
        if kind == "stall_after_first":
            return replace(faulty, stall_after=1, stall_s=chaos.stall_s)
        return replace(faulty, malformed_after=1)  # malformed_after_first

    # -- protocol shapes, per subclass --------------------------------------------------------
    def auth_ok(self, request: web.Request) -> bool:
        raise NotImplementedError

    def success_body(self, reply: Reply, request_json: Any) -> Any:
        raise NotImplementedError

    def embed_body(self, reply: Reply, request_json: Any) -> Any:
        raise NotImplementedError

    def error_body(self, reply: Reply) -> Any:
        raise NotImplementedError

    def auth_error_reply(self) -> Reply:
        return Reply(status=401, error_message="invalid api key")

    def check_chat(self, body: Any) -> Reply | None:
        """The protocol's 400 for a chat request the real API would refuse, else None."""
        return None

    def check_embed(self, body: Any) -> Reply | None:
        return None

    def stream_frames(self, reply: Reply, request_json: Any) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """(prelude, content chunks, ending) of a streamed reply; faults count the content chunks."""
        raise NotImplementedError

    def stream_error(self, reply: Reply) -> list[bytes]:
        raise NotImplementedError

    def embedding_dim_for(self, model: Any) -> int:
        return self.embedding_dim or self.default_embedding_dim

    # -- serving ------------------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=32 << 20)
        app.router.add_post(self.path, self._handle)
        if self.embed_path:
            app.router.add_post(self.embed_path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True)
        self._loop.run_until_complete(self._runner.setup())
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        self._loop.run_until_complete(self._site.start())
        self._started.set()
        self._loop.run_forever()

    def refuse(self) -> None:
        """Connections refused from now on: stop listening and abort every open connection (a kept-alive
        connection of the gateway's pool breaks at its next use, before any response byte)."""

        async def down() -> None:
            assert self._runner is not None and self._site is not None
            await self._site.stop()
            for handler in list(self._runner.server.connections if self._runner.server else []):
                if handler.transport is not None:
                    handler.transport.abort()

        asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)
        self.refusing = True

    def accept(self) -> None:
        """Listen again, on the same port."""

        async def up() -> None:
            assert self._runner is not None
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
            await self._site.start()

        asyncio.run_coroutine_threadsafe(up(), self._loop).result(10)
        self.refusing = False

    def close(self) -> None:
        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _next_reply(self, request: web.Request, embed: bool, body: Any) -> Reply:
        if not self.auth_ok(request):
            if self.script:
                self.script.popleft()
            return self.auth_error_reply()
        streaming = not embed and isinstance(body, dict) and bool(body.get("stream"))
        reply = self._chaos_reply(streaming) if self._chaos is not None else None
        if reply is None:
            reply = self.script.popleft() if self.script else self.default
        if (
            self.strict
            and reply.status == 200
            and reply.body is None
            and not (reply.hang or reply.drop or reply.malformed)
        ):
            refusal = self.check_embed(body) if embed else self.check_chat(body)
            if refusal is not None:
                self.rejected.append(refusal.error_message)
                return refusal
        return reply

    def _abort(self, request: web.Request) -> None:
        assert request.transport is not None
        request.transport.abort()
        self.connections_closed += 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        self.received.append(Received(request.path, dict(request.headers), body))
        self._count += 1
        embed = request.path == self.embed_path
        reply = self._next_reply(request, embed, body)
        try:
            # The sleeps in this method are the scripted behaviour (latency, hangs, stalls), not waiting.
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            if reply.hang:
                await asyncio.sleep(reply.hang_s)
                self._abort(request)
                return web.Response()
            if (
                reply.status == 200
                and not embed
                and isinstance(body, dict)
                and body.get("stream")
                and reply.body is None
                and not (reply.drop or reply.malformed)
            ):
                return await self._stream(request, reply, body)
        except (asyncio.CancelledError, ConnectionResetError):
            self.connections_closed += 1
            self.disconnected_at.append(time.monotonic())
            raise
        if reply.drop:
            self._abort(request)
            return web.Response()
        headers = {"content-type": "application/json", **reply.headers}
        if reply.malformed:
            return web.Response(status=reply.status, body=b'{"this is": not json', headers=headers)
        if reply.body is not None:
            payload = reply.body
        elif reply.status == 200:
            payload = self.embed_body(reply, body) if embed else self.success_body(reply, body)
        else:
            payload = self.error_body(reply)
        return web.Response(status=reply.status, body=orjson.dumps(payload), headers=headers)

    async def _stream(self, request: web.Request, reply: Reply, body: Any) -> web.StreamResponse:
        prelude, content, ending = self.stream_frames(reply, body)
        response = web.StreamResponse(headers={"content-type": "text/event-stream", **reply.headers})
        await response.prepare(request)
        for data in prelude:
            await response.write(data)
        for index in range(len(content) + 1):
            if reply.cut_after == index:
                transport = request.transport
                assert transport is not None
                # Let what was written reach the socket first: abort() drops whatever is still buffered.
                for _ in range(200):
                    if not transport.get_write_buffer_size():
                        break
                    await asyncio.sleep(0.005)
                transport.abort()
                return response
            if reply.stall_after == index:
                await asyncio.sleep(reply.stall_s)  # scripted: a stream that stalls
            if reply.malformed_after == index:
                await response.write(b"data: {this is not json\n\n")
            if reply.error_after == index:
                for data in self.stream_error(reply):
                    await response.write(data)
                await response.write_eof()
                return response
            if index == len(content):
                break
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)  # scripted: a slow stream
            await response.write(content[index])
        for data in ending:
            await response.write(data)
        await response.write_eof()
        return response
