"""Chaos soak: the gateway as a real process, every fake provider injecting random faults, and the invariants
that must hold whatever the faults.

The gateway runs as `switchboard serve` (a subprocess, so its RSS and its stdout log are its own), the four
fake providers in another (`FakeFleet`), the load here. The load is a mix of `/complete` and
`/v1/chat/completions`, streamed and not, at a fixed number in flight, with a per-request deadline (the
default, `timeout_s` in the body, or the `x-switchboard-timeout` header); 3% of the clients hang up early.
The fault rate is phased: warm-up, storm, recovery, calm.

Checked for every request (the violations are listed by invariant, each with a few examples):

- `ends`: a 200 or a structured error (the path's documented shape), within its deadline plus 100 ms (a
  very few may be later by an event-loop pause: see PAUSE_SHARE);
- `records`: exactly one request log line, whose `path` matches the response's `route` attempt by attempt
  (a client that hung up: one line too, 499 `client_closed` when it left before its answer);
- `streams`: a stream whose upstream broke ends with an error (never `end` / `[DONE]`), and a stream that
  ends like a complete answer carries the whole answer; an unstreamed 200 carries the whole answer too;
- `breakers`: some breaker opened during the storm, and all are closed again at the end of the calm phase;
- `memory`: the gateway's RSS grows by at most 20 MB from the end of warm-up to the end;
- `logs`: no traceback and no `internal_error` line in the gateway's output.

    .venv/bin/python bench/soak.py [--requests 100000] [--concurrency 64] [--seed 7]

Figures go to stdout and to bench/results/soak.json. The test suite runs the same soak, bounded
(tests/test_soak.py: 8,000 requests, about 50 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Every fake answers this (ten streamed pieces), so a truncated answer is never mistaken for a whole one.
ANSWER = "Alpha bravo charlie delta echo foxtrot golf hotel india juliet."
DEFAULT_DEADLINE_S = 2.0
DEADLINE_SLACK_S = 0.1
# The gateway's event loop pauses now and then: a full garbage collection under this load takes up to ~190 ms
# (measured with gc.callbacks; gc.freeze() after start-up cuts it to ~45 ms), and this machine has two cores
# for the gateway, the fakes and the client (and whatever else runs on it). So a few requests may end later
# than the deadline plus 100 ms, by a pause: never by a timer's worth more (0.3 s), which is what a deadline
# bug costs. A pause holds up every request in flight at once, so late requests are counted as pauses (those
# ending within PAUSE_CEILING_S of each other are one): at most this share of the requests.
PAUSE_SHARE = 0.0005
PAUSE_CEILING_S = 0.3


def pauses(late: list[Result]) -> int:
    """How many separate pauses the late requests met: endings closer than PAUSE_CEILING_S are one."""
    ends = sorted(result.started + result.elapsed_s for result in late)
    return sum(1 for i, end in enumerate(ends) if i == 0 or end - ends[i - 1] > PAUSE_CEILING_S)
RSS_GROWTH_LIMIT_MB = 20.0

# One route per provider, each target the first of some route, so the calm phase reaches every breaker.
ROUTES = {
    "creative_writing": ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"],
    "technical_explanation": ["anthropic:claude-sonnet-4-6", "cohere:command-a-03-2025",
                              "local:smollm2-135m-instruct"],
    "summarization": ["cohere:command-a-03-2025", "openai:gpt-5.4", "local:smollm2-135m-instruct"],
    "classification": ["local:smollm2-135m-instruct", "anthropic:claude-sonnet-4-6", "openai:gpt-5.4"],
}
TARGETS = sorted({target for chain in ROUTES.values() for target in chain})
CONFIG: dict[str, Any] = {
    "retry": {"max_retries": 2, "initial_backoff_s": 0.01, "max_backoff_s": 0.05, "jitter": 0.25},
    "breaker": {"failure_threshold": 3, "cooldown_s": 0.5},
    "timeouts": {"request_s": DEFAULT_DEADLINE_S, "max_request_s": 10, "attempt_s": 1, "connect_s": 0.5,
                 "first_token_s": 0.3, "stall_s": 0.3},
    "routing": {"classifier": {"enabled": False}},
    "cache": {"exact": {"enabled": False}},  # every request must reach a (faulty) provider
    "routes": ROUTES,
    "default_route": ROUTES["creative_writing"],
    "log_level": "info",
}
# After the faults stop: the longest deadline (requests still in flight) plus a breaker cooldown and a margin.
SETTLE_S = 3.0
# A share of clients that go away before their answer ends: the gateway must still record each once.
HANG_UP_SHARE = 0.03
# Fake-side faults: a hang or a stall lasts well past the gateway's timers (0.3 s), so they trip them.
HANG_S = 1.0
STALL_S = 1.0
# A healthy upstream takes a while too: time to its first byte, then between chunks (ten of them).
UPSTREAM_DELAY_S = 0.1
CHUNK_DELAY_S = 0.025


Step = tuple[str, str, Any, Any, Any, Any]  # target, outcome, status, wait_ms, latency_ms, detail


@dataclass(frozen=True)
class Phase:
    name: str
    share: float  # of all requests
    fault_rate: float


PHASES = (
    Phase("warm-up", 0.15, 0.2),
    Phase("storm", 0.40, 0.6),
    Phase("recovery", 0.25, 0.05),
    Phase("calm", 0.20, 0.0),
)


@dataclass
class Spec:
    id: str
    index: int
    phase: str
    path: str  # /complete or /v1/chat/completions
    stream: bool
    task_type: str
    deadline_s: float
    deadline_via: str  # default | body | header
    hang_up: bool = False  # the client goes away: after the first event (streamed) or after 150 ms


@dataclass
class Result:
    spec: Spec
    started: float = 0.0  # monotonic
    status: int | None = None
    elapsed_s: float = 0.0
    kind: str = ""  # the outcome, for the figures: "200", "200 stream", "200 stream error", "502 ...", ...
    ended: str | None = None  # streams: "complete" | "error" | None (no terminal event)
    text: str | None = None
    route: list[Step] | None = None
    problems: list[str] = field(default_factory=list)  # (invariant, message) joined as "invariant: message"


# -- the fake providers, in a process of their own ---------------------------------------------------------
class FakeFleet:
    """The four fake providers (tests/fakes) served by a child process (`bench/soak.py --fakes`), driven by
    JSON lines over its stdin and stdout.

    A process of their own, so that the load's client (here) and the fakes do not share one GIL: on a
    two-core machine that sharing alone adds tens of milliseconds to what the client measures."""

    def __init__(self) -> None:
        self._process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--fakes"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
        ready = self._call("ready")
        self.urls: dict[str, str] = ready["urls"]
        self.keys: dict[str, str] = ready["keys"]

    def _call(self, command: str, *args: Any) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps([command, *args]).encode() + b"\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake providers exited (answering {command!r})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the fake providers: {answer['error']}")
        return answer["ok"]

    def default(self, **reply: Any) -> None:
        self._call("default", reply)

    def chaos(self, rate: float, seed: int, **options: Any) -> None:
        self._call("chaos", rate, seed, options)

    def injected(self) -> dict[str, Counter[str]]:
        return {name: Counter(counts) for name, counts in self._call("injected").items()}

    def env(self) -> dict[str, str]:
        return {
            "OPENAI_BASE_URL": f"{self.urls['openai']}/v1",
            "ANTHROPIC_BASE_URL": self.urls["anthropic"],
            "CO_API_URL": self.urls["cohere"],
            "VLLM_BASE_URL": f"{self.urls['vllm']}/v1",
            "OPENAI_API_KEY": self.keys["openai"],
            "ANTHROPIC_API_KEY": self.keys["anthropic"],
            "CO_API_KEY": self.keys["cohere"],
        }

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._call("close")
                self._process.wait(10)
            except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_fakes() -> None:
    """The child side of `FakeFleet`: one JSON command a line in, one JSON answer a line out."""
    import logging

    from tests.fakes import AnthropicFake, CohereFake, OpenAIFake, Reply, VLLMFake

    # A fake writing to a gateway that has hung up on it (what the gateway should do) is no news.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    fakes = {"openai": OpenAIFake("sk-soak-openai-0001"), "anthropic": AnthropicFake("sk-ant-soak-0002"),
             "cohere": CohereFake("co-soak-0003"), "vllm": VLLMFake()}

    def forget() -> None:
        # A fake keeps every request it received; over 100,000 of them its process's garbage collections
        # grow long enough (hundreds of ms) to stall every stream at once, which is not the gateway's doing.
        while True:
            time.sleep(1.0)
            for fake in fakes.values():
                fake.received.clear()
                fake.disconnected_at.clear()

    threading.Thread(target=forget, daemon=True).start()
    gc.freeze()  # what start-up allocated is not scanned by every full collection
    for raw in sys.stdin:
        command, *args = json.loads(raw)
        answer: Any = None
        try:
            if command == "ready":
                answer = {"urls": {n: f.url for n, f in fakes.items()},
                          "keys": {n: f.api_key for n, f in fakes.items()}}
            elif command == "default":
                for fake in fakes.values():
                    fake.default = Reply(**args[0])
            elif command == "chaos":
                rate, seed, options = args
                for offset, fake in enumerate(fakes.values()):
                    fake.chaos(rate, seed=seed * 10 + offset, **options)
            elif command == "injected":
                answer = {n: dict(f.injected) for n, f in fakes.items()}
            elif command == "close":
                break
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception as error:  # noqa: BLE001  (any failure goes back to the parent, which raises it)
            sys.stdout.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        else:
            sys.stdout.write(json.dumps({"ok": answer}) + "\n")
        sys.stdout.flush()
    for fake in fakes.values():
        fake.close()
    sys.stdout.write(json.dumps({"ok": None}) + "\n")
    sys.stdout.flush()


# -- the gateway process ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GatewayProcess:
    """`switchboard serve` in a subprocess, its stdout (the log lines) and stderr in files."""

    def __init__(self, workdir: Path, env: dict[str, str], config: dict[str, Any] = CONFIG) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "soak-config.yaml"
        self.config_path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        self.log_path = workdir / "gateway.stdout"
        self.err_path = workdir / "gateway.stderr"
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("OPENAI_", "ANTHROPIC_", "CO_", "VLLM_", "SWITCHBOARD_", "REDIS_URL", "OTEL_"))}
        self._env = {**base, **env, "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> None:
        with open(self.log_path, "wb") as out, open(self.err_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "switchboard", "serve", "--port", str(self.port), "--config",
                 str(self.config_path)],
                stdout=out, stderr=err, env=self._env, cwd=ROOT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited at start-up:\n{self.err_path.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if "listening on" in self.err_path.read_text():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the gateway did not come up:\n{self.err_path.read_text()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                record = json.loads(raw)
                if record.get("record") == "request":
                    lines.append(record)
        return lines

    def bad_output(self) -> list[str]:
        """Lines that say the gateway hit a bug: tracebacks and internal_error records, stdout and stderr."""
        bad = []
        for path in (self.log_path, self.err_path):
            for raw in path.read_text(errors="replace").splitlines():
                if "Traceback" in raw or "internal_error" in raw or raw.startswith(("ERROR:", "Exception")):
                    bad.append(f"{path.name}: {raw[:300]}")
        return bad


# -- the load -----------------------------------------------------------------------------------------------
def plan_requests(total: int, seed: int, phases: Iterable[Phase] = PHASES) -> list[Spec]:
    rng = random.Random(seed)
    phases = list(phases)
    specs: list[Spec] = []
    bounds, acc = [], 0.0
    for phase in phases:
        acc += phase.share
        bounds.append((round(acc * total), phase))
    for index in range(total):
        phase = next(p for bound, p in bounds if index < bound) if index < bounds[-1][0] else phases[-1]
        via = rng.choice(("default", "default", "body", "header"))
        deadline = DEFAULT_DEADLINE_S if via == "default" else rng.choice((0.6, 1.0, 1.5))
        specs.append(Spec(
            id=f"soak-{seed}-{index:06d}", index=index, phase=phase.name,
            path=rng.choice(("/complete", "/v1/chat/completions")), stream=rng.random() < 0.5,
            task_type=rng.choice(list(ROUTES)), deadline_s=deadline, deadline_via=via,
            hang_up=rng.random() < HANG_UP_SHARE,
        ))
    return specs


def request_body(spec: Spec) -> tuple[dict[str, Any], dict[str, str]]:
    headers = {"x-request-id": spec.id}
    prompt = f"soak request {spec.index}: say the alphabet"
    if spec.path == "/complete":
        body: dict[str, Any] = {"text": prompt, "task_type": spec.task_type, "stream": spec.stream}
    else:
        body = {"model": spec.task_type, "messages": [{"role": "user", "content": prompt}], "stream": spec.stream}
    if spec.deadline_via == "body":
        body["timeout_s"] = spec.deadline_s
    elif spec.deadline_via == "header":
        headers["x-switchboard-timeout"] = str(spec.deadline_s)
    return body, headers


async def read_sse(response: aiohttp.ClientResponse) -> list[tuple[str | None, Any]]:
    events: list[tuple[str | None, Any]] = []
    name: str | None = None
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                text = "\n".join(data)
                events.append((name, text if text == "[DONE]" else json.loads(text)))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:  # a last event without its blank line: the stream was cut
        events.append((name, "\n".join(data)))
        events.append(("<cut>", None))
    return events


def attempts_of(route: Any) -> list[Step]:
    """A response's `route.attempts`, in the log line's terms."""
    return [(f"{a['provider']}:{a['model']}", a["outcome"], a.get("status"), a.get("wait_ms"), a.get("latency_ms"),
             a.get("detail") or None) for a in route["attempts"]]


def path_of(line: dict[str, Any]) -> list[Step]:
    return [(s["target"], s["outcome"], s.get("status"), s.get("wait_ms"), s.get("latency_ms"), s.get("detail"))
            for s in line["path"]]


DOCUMENTED_ERRORS = {502, 503, 504}  # provider failures: every target failed, none callable, the deadline


def structured_error(spec: Spec, status: int, body: Any, result: Result) -> None:
    """The error body in the path's documented shape, with the route that led to it."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str) or not error.get("code"):
        result.problems.append(f"ends: {status} without a structured error body: {str(body)[:200]}")
        return
    if spec.path == "/complete":
        route = body.get("route")
        if error.get("request_id") != spec.id:
            result.problems.append(f"ends: error.request_id {error.get('request_id')!r} is not {spec.id!r}")
    else:
        if set(error) != {"message", "type", "param", "code"}:
            result.problems.append(f"ends: an OpenAI error body with keys {sorted(error)}")
        route = (body.get("switchboard") or {}).get("route")
    result.kind = f"{status} {error['code']}"
    if route is None:
        result.problems.append(f"ends: a {status} without its route")
    else:
        result.route = attempts_of(route)


async def hang_up(session: aiohttp.ClientSession, base_url: str, spec: Spec) -> Result:
    """A client that leaves early: a stream after its first event, an unstreamed request after 150 ms."""
    result = Result(spec, started=time.monotonic(), kind="client hung up")
    body, headers = request_body(spec)
    started = time.perf_counter()
    try:
        async with session.post(base_url + spec.path, json=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=None if spec.stream else 0.15)) as response:
            result.status = response.status
            if response.status == 200 and spec.stream:
                await response.content.readline()
                response.close()  # hang up mid-stream
            else:
                await response.read()
                result.kind = f"{response.status} before the hang-up"
    except (TimeoutError, aiohttp.ClientError):
        pass
    result.elapsed_s = time.perf_counter() - started
    return result


async def one(session: aiohttp.ClientSession, base_url: str, spec: Spec) -> Result:
    if spec.hang_up:
        return await hang_up(session, base_url, spec)
    result = Result(spec, started=time.monotonic())
    body, headers = request_body(spec)
    started = time.perf_counter()
    try:
        async with session.post(base_url + spec.path, json=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=spec.deadline_s + 5)) as response:
            result.status = response.status
            if response.status == 200 and spec.stream:
                events = await read_sse(response)
                result.elapsed_s = time.perf_counter() - started
                streamed(spec, events, result)
            else:
                raw = await response.read()
                result.elapsed_s = time.perf_counter() - started
                try:
                    payload = json.loads(raw)
                except ValueError:
                    result.problems.append(f"ends: {response.status} with a body that is not JSON: {raw[:200]!r}")
                    result.kind = f"{response.status} not json"
                    return result
                if response.status == 200:
                    unstreamed(spec, payload, response.headers, result)
                elif response.status in DOCUMENTED_ERRORS:
                    structured_error(spec, response.status, payload, result)
                else:
                    result.kind = f"{response.status} unexpected"
                    result.problems.append(f"ends: status {response.status}: {str(payload)[:200]}")
    except TimeoutError:
        result.elapsed_s = time.perf_counter() - started
        result.kind = "no answer"
        result.problems.append(f"ends: no answer within {spec.deadline_s + 5:.1f}s")
    except (aiohttp.ClientError, ValueError) as error:
        result.elapsed_s = time.perf_counter() - started
        result.kind = "transport error"
        result.problems.append(f"ends: transport error {type(error).__name__}: {error}")
    return result


def overrun(result: Result) -> float:
    """Seconds past the deadline plus 100 ms (negative: in time)."""
    if result.spec.hang_up:
        return -1.0  # it did not wait for the end
    return result.elapsed_s - result.spec.deadline_s - DEADLINE_SLACK_S


def unstreamed(spec: Spec, payload: Any, headers: Any, result: Result) -> None:
    result.kind = "200"
    try:
        if spec.path == "/complete":
            result.text = payload["text"]
            result.route = attempts_of(payload["route"])
        else:
            result.text = payload["choices"][0]["message"]["content"]
            result.route = attempts_of(json.loads(headers["x-switchboard-route"]))
    except (KeyError, IndexError, TypeError, ValueError) as error:
        result.problems.append(f"ends: a 200 without its answer or route ({error!r}): {str(payload)[:200]}")
        return
    if result.text != ANSWER:
        result.problems.append(f"streams: an unstreamed 200 with a partial answer {result.text!r}")


def streamed(spec: Spec, events: list[tuple[str | None, Any]], result: Result) -> None:
    names = [name for name, _ in events]
    if spec.path == "/complete":
        text = "".join(data["text"] for name, data in events if name == "delta")
        terminal = [(name, data) for name, data in events if name in ("end", "error")]
        if names and names[-1] == "end":
            result.ended = "complete"
        elif names and names[-1] == "error":
            result.ended = "error"
            if events[-1][1].get("finish_reason") != "error":
                result.problems.append("streams: an error event without finish_reason 'error'")
        route = terminal[-1][1].get("route") if terminal else None
        if len(terminal) > 1:
            result.problems.append(f"streams: several terminal events {names}")
        if "end" in names and "error" in names:
            result.problems.append("streams: both an end and an error event")
    else:
        chunks = [data for _, data in events if isinstance(data, dict)]
        text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks
                       if c.get("choices") and "delta" in c["choices"][0])
        finishes = [c["choices"][0]["finish_reason"] for c in chunks
                    if c.get("choices") and c["choices"][0].get("finish_reason")]
        errors = [c for c in chunks if "error" in c]
        done = bool(events) and events[-1][1] == "[DONE]"
        if done and not errors and finishes == ["stop"]:
            result.ended = "complete"
        elif errors and not done and finishes == ["error"] and chunks[-1] is errors[-1]:
            result.ended = "error"
        elif errors or done or finishes:
            result.problems.append(f"streams: a /v1 stream that ends ambiguously: finishes {finishes}, "
                                   f"{len(errors)} errors, [DONE] {done}")
        routes = [c["switchboard"]["route"] for c in chunks if "route" in (c.get("switchboard") or {})]
        route = routes[-1] if routes else None
    result.text = text
    result.kind = {"complete": "200 stream", "error": "200 stream error"}.get(result.ended or "", "200 stream cut")
    if result.ended is None:
        result.problems.append(f"ends: a stream without a terminal event: {names[-3:]}")
    if result.ended == "complete" and text != ANSWER:
        result.problems.append(f"streams: a stream that ends like a complete answer carries {text!r}")
    if route is None:
        if result.ended is not None:
            result.problems.append("records: a finished stream without its route")
    else:
        result.route = attempts_of(route)


async def drive(base_url: str, specs: list[Spec], concurrency: int,
                on_phase: Callable[[str], None], sample: Callable[[], Any] | None = None,
                sample_every_s: float = 1.0) -> list[Result]:
    """Send every spec, `concurrency` in flight, calling `on_phase` as each phase's first request goes out."""
    results: list[Result] = []
    queue = iter(specs)
    current = {"phase": None}

    async def worker(session: aiohttp.ClientSession) -> None:
        for spec in queue:
            if spec.phase != current["phase"]:
                current["phase"] = spec.phase
                on_phase(spec.phase)
            results.append(await one(session, base_url, spec))

    async def sampler() -> None:
        while True:
            await sample()  # type: ignore[misc]
            await asyncio.sleep(sample_every_s)

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        sampling = asyncio.ensure_future(sampler()) if sample is not None else None
        try:
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        finally:
            if sampling is not None:
                sampling.cancel()
                await asyncio.gather(sampling, return_exceptions=True)
    return results


BREAKER_LINE = re.compile(r'^switchboard_breaker_state\{target="([^"]+)"\}\s+([\d.]+)', re.MULTILINE)


async def breaker_states(session: aiohttp.ClientSession, base_url: str) -> dict[str, int]:
    async with session.get(base_url + "/metrics", timeout=aiohttp.ClientTimeout(total=5)) as response:
        text = await response.text()
    return {target: int(float(value)) for target, value in BREAKER_LINE.findall(text)}


# -- the whole soak -----------------------------------------------------------------------------------------
@dataclass
class Soak:
    results: list[Result]
    lines: list[dict[str, Any]]
    bad_output: list[str]
    rss: dict[str, float]  # start, warm (end of warm-up), end, max
    breaker_samples: list[tuple[float, str, dict[str, int]]]  # (time, phase, states)
    final_breakers: dict[str, int]
    injected: dict[str, Counter[str]]
    wall_s: float
    phase_started: dict[str, float]  # monotonic time of each phase's first request
    late: list[str] = field(default_factory=list)  # ended past the deadline plus 100 ms (see PAUSE_SHARE)
    hung_up: tuple[int, int] = (0, 0)  # clients that left early; of them, recorded as 499 client_closed
    client_gc_max_ms: float = 0.0  # the load client's longest collector pause
    violations: dict[str, list[str]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def frozen_collector() -> Iterator[list[float]]:
    """The load's client measures every request's time, so its own collector must not pause it: in a test
    process that has built up hundreds of thousands of objects, one full collection takes over half a second
    (every request in flight then looks late). As the gateway does after start-up, move what exists now out of
    the collector's reach (gc.freeze) for the run, and record the pauses that remain (ms)."""
    pauses_ms: list[float] = []
    began = [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses_ms.append((time.perf_counter() - began[0]) * 1000)

    gc.collect()
    gc.freeze()
    gc.callbacks.append(watch)
    try:
        yield pauses_ms
    finally:
        gc.callbacks.remove(watch)
        gc.unfreeze()


def run_soak(fleet: FakeFleet, workdir: Path, requests: int, concurrency: int = 64, seed: int = 7,
             phases: tuple[Phase, ...] = PHASES) -> Soak:
    """Start the gateway against `fleet`, drive the load through every phase, stop it, check every invariant."""
    fleet.default(text=ANSWER, delay_s=UPSTREAM_DELAY_S, chunk_delay_s=CHUNK_DELAY_S)
    specs = plan_requests(requests, seed, phases)
    rates = {phase.name: phase.fault_rate for phase in phases}
    names = [phase.name for phase in phases]
    rss: dict[str, float] = {}
    samples: list[tuple[float, str, dict[str, int]]] = []
    phase_started: dict[str, float] = {}

    with GatewayProcess(workdir, fleet.env()) as gateway:
        rss["start"] = gateway.rss_mb()
        rss["max"] = rss["start"]

        def on_phase(name: str) -> None:
            if names.index(name) == 1:  # warm-up is over
                rss["warm"] = gateway.rss_mb()
            phase_started[name] = time.monotonic()
            fleet.chaos(rates[name], seed * 100 + names.index(name), hang_s=HANG_S, stall_s=STALL_S)

        async def main() -> tuple[list[Result], dict[str, int]]:
            async with aiohttp.ClientSession() as probe:
                async def sample() -> None:
                    rss["max"] = max(rss["max"], gateway.rss_mb())
                    phase = max(phase_started, key=phase_started.__getitem__) if phase_started else names[0]
                    try:
                        samples.append((time.monotonic(), phase, await breaker_states(probe, gateway.url)))
                    except (aiohttp.ClientError, TimeoutError):
                        pass

                results = await drive(gateway.url, specs, concurrency, on_phase, sample)
                fleet.chaos(0, seed)
                await asyncio.sleep(0.2)  # the last log lines
                return results, await breaker_states(probe, gateway.url)

        started = time.monotonic()
        with frozen_collector() as client_gc:
            results, final = asyncio.run(main())
        wall = time.monotonic() - started
        rss["end"] = gateway.rss_mb()
        rss.setdefault("warm", rss["start"])
        gateway.stop()
        soak = Soak(results, gateway.request_lines(), gateway.bad_output(), rss, samples, final,
                    fleet.injected(), wall, phase_started, client_gc_max_ms=round(max(client_gc, default=0.0), 1))
    check(soak, phases)
    soak.figures = figures(soak, phases)
    return soak


def check(soak: Soak, phases: tuple[Phase, ...]) -> None:
    violations: dict[str, list[str]] = {name: [] for name in ("ends", "records", "streams", "breakers",
                                                               "memory", "logs")}

    def add(invariant: str, message: str) -> None:
        violations[invariant].append(message)

    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in soak.lines:
        by_id.setdefault(line.get("client_request_id") or line["request_id"], []).append(line)
    sent = {result.spec.id for result in soak.results}
    for request_id in set(by_id) - sent:
        add("records", f"{request_id}: a log line for a request never sent")
    hung_up = recorded_499 = 0
    late = [result for result in soak.results if overrun(result) > 0]
    paused = pauses(late) <= len(soak.results) * PAUSE_SHARE and all(overrun(r) <= PAUSE_CEILING_S for r in late)
    soak.late = [late_message(result, by_id.get(result.spec.id, [])) for result in late]
    if not paused:
        for message in soak.late:
            add("ends", message)
    for result in soak.results:
        spec = result.spec
        lines = by_id.get(spec.id, [])
        for problem in result.problems:
            invariant, _, message = problem.partition(": ")
            add(invariant, f"{spec.id} {spec.path} stream={spec.stream}: {message}")
        if len(lines) != 1:
            add("records", f"{spec.id}: {len(lines)} log lines")
            continue
        (line,) = lines
        if spec.hang_up:
            hung_up += 1
            if line["status"] == 499:
                recorded_499 += 1
                if line.get("error") != "client_closed":
                    add("records", f"{spec.id}: a 499 whose error is {line.get('error')!r}")
            elif result.status is not None and line["status"] not in (result.status, 200):
                add("records", f"{spec.id}: hung up on a {result.status}, the log says {line['status']}")
            continue
        if result.status is not None and line["status"] != result.status:
            add("records", f"{spec.id}: log status {line['status']}, response status {result.status}")
        if result.route is not None and path_of(line) != result.route:
            add("records", f"{spec.id}: log path {path_of(line)} != response route {result.route}")
        if spec.stream and result.status == 200:
            broke = line.get("error") == "stream_interrupted"
            if broke and result.ended != "error":
                add("streams", f"{spec.id} {spec.path}: upstream broke ({line['path'][-1].get('detail')}) "
                               f"but the stream ended {result.ended!r}")
            if result.ended == "error" and not broke:
                add("streams", f"{spec.id}: an error event, but the log says error={line.get('error')!r}")
    if hung_up and not recorded_499:
        add("records", f"{hung_up} clients hung up and no request was recorded as 499 client_closed")
    soak.hung_up = (hung_up, recorded_499)
    storm = [name for name, _ in [(p.name, p) for p in phases] if name not in ("warm-up", "calm")]
    opened = [s for s in soak.breaker_samples if s[1] in storm and 2 in s[2].values()]
    circuit_open = sum(1 for line in soak.lines for step in line["path"] if step["outcome"] == "circuit_open")
    if not opened or not circuit_open:
        add("breakers", f"no breaker opened under faults ({len(opened)} samples open, {circuit_open} circuit_open)")
    if any(value != 0 for value in soak.final_breakers.values()) or not soak.final_breakers:
        add("breakers", f"breakers not all closed after the calm phase: {soak.final_breakers}")
    # Calm: once every request from the faulty phases has ended (their deadline) and a cooldown has passed,
    # every breaker has had its probe, and no request may find one open.
    settled = soak.phase_started.get(phases[-1].name, float("inf")) + SETTLE_S
    late_calm = {r.spec.id for r in soak.results if r.spec.phase == phases[-1].name and r.started > settled}
    if len(late_calm) < 50:
        add("breakers", f"the calm phase is too short to show the breakers closing ({len(late_calm)} requests "
                        f"after {SETTLE_S}s)")
    for line in soak.lines:
        if (line.get("client_request_id") or line["request_id"]) in late_calm and any(s["outcome"] == "circuit_open" for s in line["path"]):
            add("breakers", f"{line['request_id']}: circuit_open late in the calm phase")
    growth = soak.rss["end"] - soak.rss["warm"]
    if growth > RSS_GROWTH_LIMIT_MB:
        add("memory", f"RSS grew {growth:.1f} MB after warm-up ({soak.rss})")
    for raw in soak.bad_output:
        add("logs", raw)
    soak.violations = violations


def late_message(result: Result, lines: list[dict[str, Any]]) -> str:
    spec = result.spec
    message = (f"{spec.id} {spec.path} stream={spec.stream}: took {result.elapsed_s:.3f}s, deadline "
               f"{spec.deadline_s}s ({spec.deadline_via}) + {DEADLINE_SLACK_S}s")
    if len(lines) == 1:  # what the gateway's own record says
        message += (f"; the gateway's record: {lines[0]['latency_ms']:.0f} ms, "
                    f"{[(s['target'], s['outcome'], s['latency_ms']) for s in lines[0]['path']]}")
    return message


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 1), "p90_ms": round(cuts[89] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def figures(soak: Soak, phases: tuple[Phase, ...]) -> dict[str, Any]:
    outcomes = Counter(r.kind for r in soak.results)
    results = [r for r in soak.results if not r.spec.hang_up]  # latencies: of those that waited for the end
    steps = Counter(step["outcome"] for line in soak.lines for step in line["path"])
    per_phase = {}
    for phase in phases:
        mine = [r for r in soak.results if r.spec.phase == phase.name]
        ids = {r.spec.id for r in mine}
        per_phase[phase.name] = {
            "fault_rate": phase.fault_rate,
            "requests": len(mine),
            "hung_up": sum(1 for r in mine if r.spec.hang_up),
            "ok": sum(1 for r in mine if r.kind in ("200", "200 stream")),
            "circuit_open_steps": sum(1 for line in soak.lines if (line.get("client_request_id") or line["request_id"]) in ids
                                      for s in line["path"] if s["outcome"] == "circuit_open"),
            "breaker_samples_with_open": sum(1 for s in soak.breaker_samples if s[1] == phase.name
                                             and 2 in s[2].values()),
        }
    injected: Counter[str] = Counter()
    for counter in soak.injected.values():
        injected.update(counter)
    return {
        "requests": len(soak.results),
        "wall_s": round(soak.wall_s, 1),
        "requests_per_s": round(len(soak.results) / soak.wall_s, 1),
        "outcomes": dict(outcomes.most_common()),
        "latency": {"all": percentiles([r.elapsed_s for r in results]),
                    "200": percentiles([r.elapsed_s for r in results if r.status == 200]),
                    "errors": percentiles([r.elapsed_s for r in results if r.status != 200])},
        "rss_mb": {k: round(v, 1) for k, v in soak.rss.items()},
        "rss_growth_after_warmup_mb": round(soak.rss["end"] - soak.rss["warm"], 1),
        "phases": per_phase,
        "attempt_outcomes": dict(steps.most_common()),
        "faults_injected": dict(injected.most_common()),
        "final_breakers": soak.final_breakers,
        "late_over_100ms": len(soak.late),
        "pauses": pauses([r for r in soak.results if overrun(r) > 0]),
        "client_gc_max_ms": soak.client_gc_max_ms,
        "hung_up": {"clients": soak.hung_up[0], "recorded_499": soak.hung_up[1]},
        "violations": {k: len(v) for k, v in soak.violations.items()},
    }


def report(soak: Soak) -> str:
    f = soak.figures
    lines = [
        f"soak: {f['requests']} requests in {f['wall_s']} s ({f['requests_per_s']} req/s)",
        "outcomes: " + ", ".join(f"{k}: {v}" for k, v in f["outcomes"].items()),
        "latency (ms): " + "; ".join(f"{k} " + " ".join(f"{q[:-3]}={v}" for q, v in p.items())
                                     for k, p in f["latency"].items() if p),
        "RSS (MB): " + ", ".join(f"{k} {v}" for k, v in f["rss_mb"].items())
        + f" · growth after warm-up {f['rss_growth_after_warmup_mb']} MB",
        "phases: " + "; ".join(f"{name} (fault rate {p['fault_rate']}): {p['requests']} requests "
                               f"({p['hung_up']} hung up), {p['ok']} ok, "
                               f"{p['circuit_open_steps']} circuit_open, {p['breaker_samples_with_open']} "
                               "samples with a breaker open" for name, p in f["phases"].items()),
        "attempt outcomes: " + ", ".join(f"{k}: {v}" for k, v in f["attempt_outcomes"].items()),
        "faults injected: " + ", ".join(f"{k}: {v}" for k, v in f["faults_injected"].items()),
        f"breakers at the end: {f['final_breakers']}",
        (f"clients that hung up: {f['hung_up']['clients']}, recorded as 499 client_closed: "
        f"{f['hung_up']['recorded_499']} (the others had their answer first), each with one log line"),
        f"past the deadline + 100 ms (by a pause; pauses at most {PAUSE_SHARE:.2%} of the requests, each "
        f"under {PAUSE_CEILING_S}s more): {f['late_over_100ms']} in {f['pauses']} pause(s)" + "".join(f"\n  {m}" for m in soak.late[:5]),
        "violations: " + ", ".join(f"{k}: {v}" for k, v in f["violations"].items()),
    ]
    for invariant, found in soak.violations.items():
        for message in found[:5]:
            lines.append(f"  {invariant}: {message}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fakes", action="store_true", help=argparse.SUPPRESS)  # the FakeFleet child
    args = parser.parse_args()
    if args.fakes:
        serve_fakes()
        return
    with FakeFleet() as fleet, tempfile.TemporaryDirectory() as tmp:
        soak = run_soak(fleet, Path(tmp), args.requests, args.concurrency, args.seed)
    print(report(soak))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "soak.json"
    out.write_text(json.dumps({**soak.figures, "concurrency": args.concurrency, "seed": args.seed,
                               "examples": {k: v[:20] for k, v in soak.violations.items()}}, indent=1))
    print(f"figures: {out.relative_to(ROOT)}")
    sys.exit(1 if any(soak.violations.values()) else 0)


if __name__ == "__main__":
    main()
