"""Issue 22's incident drill, with the real tools, on a compressed clock.

Two `switchboard serve` processes share one Redis; a real Prometheus (Debian's `prometheus`) scrapes both on
their `--metrics-port` every second and evaluates deploy/prometheus/alerts.yaml rescaled to the drill's clock:
every `for:` and `[window]` is divided by SCALE (one drill second stands for SCALE real seconds: `for: 3m` is
9 s, `[2m]` is 6 s). Clients keep sending requests (two tenants, both gateways) while:

1. the OpenAI fake refuses connections (its listening socket closed, open connections aborted);
2. SwitchboardProviderErrorRate{provider="openai"} fires, within its scaled `for` plus its window;
3. `switchboard targets drain openai` reaches both gateways within 2 s; requests keep succeeding on the next
   targets throughout;
4. the fake listens again, `switchboard targets restore openai`, the alert resolves, traffic is back on OpenAI;
5. `switchboard incident` on the two gateways' logs gives a timeline whose start and end are within a minute
   bucket of the truth (and within seconds), names the failover target and the extra cost; `--markdown` writes
   the post-mortem draft.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.conftest import config_data, free_port
from tests.test_operations import ADMIN, ADMIN_HEADERS, until

pytestmark = pytest.mark.slow

SCALE = 20  # one drill second stands for 20 real seconds
RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "alerts.yaml"
ALERT = "SwitchboardProviderErrorRate"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rescaled(text: str, scale: int = SCALE) -> str:
    """The rule file on the drill's clock: `for: 3m` -> `for: 9s`, `[2m]` -> `[6s]` (milliseconds if need be)."""

    def shorter(number: str, unit: str) -> str:
        ms = int(number) * UNITS[unit] * 1000 // scale
        return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"

    text = re.sub(r"(\bfor:\s*)(\d+)([smhd])\b", lambda m: m.group(1) + shorter(m.group(2), m.group(3)), text)
    return re.sub(r"\[(\d+)([smhd])\]", lambda m: f"[{shorter(m.group(1), m.group(2))}]", text)


def test_rescaling_touches_every_window_and_for() -> None:
    text = rescaled(RULES.read_text())
    assert "for: 9s" in text and "[6s]" in text and "[180s]" in text  # 3m, 2m, 1h
    assert not re.search(r"for:\s*\d+[mh]\b", text) and not re.search(r"\[\d+[mhd]\]", text)


class Gateway:
    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "switchboard", "serve", "--port", str(self.port), "--metrics-port",
                 str(self.metrics_port), "--config", str(config)], env=env, stdout=out, stderr=subprocess.PIPE,
                text=True)

    def wait_listening(self) -> None:
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        assert "listening on" in line, line + self.process.stderr.read()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


class Traffic:
    """Clients: one request every 0.1 s, alternating gateways and tenants; every answer kept."""

    def __init__(self, gateways: list[Gateway], keys: list[str]) -> None:
        self.gateways, self.keys = gateways, keys
        self.answers: list[tuple[float, int, str | None, str]] = []  # (time, status, provider, first outcome)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            index = 0
            while not self._stop.is_set():
                gateway, key = self.gateways[index % 2], self.keys[(index // 2) % 2]
                index += 1
                response = client.post(f"{gateway.url}/complete", headers={"authorization": f"Bearer {key}"},
                                       json={"text": "Write one line about the sea.", "task_type": "creative_writing"})
                body = response.json()
                first = body["route"]["attempts"][0]["outcome"] if response.status_code == 200 else "-"
                self.answers.append((time.time(), response.status_code, body.get("provider"), first))
                self._stop.wait(0.1)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def since(self, at: float) -> list[tuple[float, int, str | None, str]]:
        return [answer for answer in self.answers if answer[0] >= at]


class Prometheus:
    """A real Prometheus scraping the gateways every second, with the rescaled rule file."""

    def __init__(self, directory: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, targets: list[str]) -> None:
        rules = self.directory / "alerts.rescaled.yaml"
        rules.write_text(rescaled(RULES.read_text()))
        config = self.directory / "prometheus.yaml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "switchboard", "static_configs": [{"targets": targets}]}],
        }))
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.directory / 'tsdb'}",
             f"--web.listen-address={self.url.removeprefix('http://')}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def scraping(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/api/v1/targets", timeout=2)
        except httpx.TransportError:
            return False
        if response.status_code != 200:  # 503 while it starts
            return False
        targets = response.json()["data"]["activeTargets"]
        return len(targets) == 2 and all(target["health"] == "up" for target in targets)

    def alerts(self) -> list[dict[str, Any]]:
        """The provider alert for OpenAI, pending or firing (a resolved alert is not listed)."""
        return [alert for alert in httpx.get(f"{self.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
                if alert["labels"]["alertname"] == ALERT and alert["labels"].get("provider") == "openai"]


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed: install Debian's prometheus package (make test does)")
    directory = tmp_path / "prometheus"
    directory.mkdir()
    started = Prometheus(directory)
    yield started
    if started.process is not None:
        started.process.terminate()
        started.process.wait(10)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "switchboard", *args], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _held(gateway: Gateway, state: str) -> bool:
    return httpx.get(f"{gateway.url}/readyz", timeout=5).json()["targets"]["openai:gpt-5.4"] == state


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_issue22_incident_drill(tmp_path, env, fakes, redis_url, prometheus) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    config = tmp_path / "switchboard.yaml"
    config.write_text(yaml.safe_dump({**config_data(), "breaker": {"failure_threshold": 3, "cooldown_s": 1}}))
    environment = {"PATH": os.environ["PATH"], **env, "REDIS_URL": redis_url, "SWITCHBOARD_ADMIN_KEY": ADMIN}
    gateways = [Gateway(config, environment, tmp_path / f"gateway-{n}.log") for n in (1, 2)]
    traffic: Traffic | None = None
    try:
        for gateway in gateways:
            gateway.wait_listening()
        prometheus.start([f"127.0.0.1:{g.metrics_port}" for g in gateways])
        keys = [httpx.post(f"{gateways[0].url}/admin/keys", headers=ADMIN_HEADERS, timeout=5,
                           json={"tenant": tenant, "tier": "paid"}).json()["key"] for tenant in ("acme", "globex")]
        until(prometheus.scraping, 15.0, 0.2)
        traffic = Traffic(gateways, keys)
        traffic.start()
        until(lambda: len(traffic.answers) >= 30, 15.0, 0.1)  # healthy traffic, scraped a few times

        # 1-2. OpenAI refuses connections; the provider alert fires within its scaled `for` (+ its window).
        down = time.time()
        fakes.openai.refuse()
        _, took = until(lambda: [a for a in prometheus.alerts() if a["state"] == "firing"], 30.0, 0.2)
        fired = time.time()
        for_s, window_s = 3 * 60 / SCALE, 2 * 60 / SCALE
        assert for_s <= took <= for_s + window_s + 6, f"fired {took:.1f}s after the outage"

        # 3. The drain reaches both gateways within 2 s; nothing fails meanwhile.
        cli_env = {**environment, "SWITCHBOARD_URL": gateways[0].url}
        drained = _cli("targets", "drain", "openai", "--reason", "drill: api.openai.com refuses connections",
                       "--for", "30m", env=cli_env)
        asked = time.time()
        assert "drained openai until" in drained.stdout and "every replica" in drained.stdout
        _, spread = until(lambda: all(_held(g, "drained") for g in gateways), 2.0, 0.05)
        until(lambda: len(traffic.since(asked + spread)) >= 20, 10.0, 0.1)
        during = traffic.since(asked + spread + 0.5)  # past requests already in flight at the drain
        assert during and all(a[1] == 200 and a[2] == "anthropic" and a[3] == "drained" for a in during)
        listed = _cli("targets", "list", env=cli_env).stdout
        assert re.search(r"openai:gpt-5\.4\s+drained .*drain by \S+ until .*drill: api.openai.com", listed), listed

        # 4. OpenAI is back; restore; the alert resolves; traffic returns to OpenAI on both gateways.
        fakes.openai.accept()
        up = time.time()
        restored = _cli("targets", "restore", "openai", "--reason", "drill: recovered", env=cli_env)
        restore = time.time()
        assert "restored openai (was drain" in restored.stdout
        until(lambda: all(_held(g, "ready") for g in gateways), 2.0, 0.05)
        until(lambda: not prometheus.alerts(), 30.0, 0.2)
        resolved = time.time()
        until(lambda: sum(a[2] == "openai" for a in traffic.since(restore)) >= 10, 10.0, 0.1)
        traffic.stop()
        assert all(status == 200 for _, status, _, _ in traffic.answers), "a request failed during the drill"
        assert any(a[3] == "connect_error" for a in traffic.answers)
    finally:
        if traffic is not None:
            traffic.stop()
        for gateway in gateways:
            gateway.stop()
        redis.Redis.from_url(redis_url).flushdb()  # no drain or breaker outlives the drill (Redis is shared)

    # 5. The incident from both gateways' logs (one of them gzipped, as rotated logs are).
    import gzip

    gzipped = tmp_path / "gateway-2.log.gz"
    gzipped.write_bytes(gzip.compress(gateways[1].log.read_bytes()))
    logs = [str(gateways[0].log), str(gzipped)]
    report = orjson.loads(_cli("incident", *logs, "--json", "--config", str(config), env=environment).stdout)
    began, ended = _at(report["began"].rstrip("Z")), _at(report["ended"].rstrip("Z"))
    assert abs(began // 60 - down // 60) <= 1 and abs(began - down) < 60  # within a minute bucket of the truth
    assert abs(ended // 60 - up // 60) <= 1 and abs(ended - up) < 60
    assert -1 <= began - down < 3, (report["began"], down)  # to the second: the first refused attempt
    assert up - 1 <= ended <= restore + 1, (report["ended"], up, restore)  # back in rotation at the restore
    flows = {(f["from"], f["to"]): f for f in report["failovers"]}
    failover = flows[("openai:gpt-5.4", "anthropic:claude-sonnet-4-6")]
    assert failover["why"]["connect_error"] and failover["why"]["drained"] and failover["extra_cost_usd"] > 0
    assert report["extra_cost_usd"] > 0 and report["impact"]["tenants"].keys() == {"acme", "globex"}
    openai = report["targets"]["openai:gpt-5.4"]
    assert openai["hosts"] == {fakes.openai.url.removeprefix("http://"): openai["hosts"][
        fakes.openai.url.removeprefix("http://")]} and openai["breaker_opened"]
    assert [op["action"] for op in report["operations"]] == ["drain", "restore"]

    text = _cli("incident", *logs, "--config", str(config), env=environment).stdout
    assert "anthropic:claude-sonnet-4-6" in text and "Extra cost of failing over: $" in text
    assert "drained by" in text and "restored by" in text
    draft = _cli("incident", *logs, "--markdown", "--config", str(config), env=environment).stdout
    for section in ("## Summary", "## Impact", "## Timeline (UTC)", "## Detection", "## Response",
                    "## Root cause", "## Action items"):
        assert f"\n{section}\n" in draft
    print(f"\ndrill (scale 1:{SCALE}): alert fired {fired - down:.1f}s after the outage; drain reached both "
          f"gateways {spread:.2f}s after the CLI returned; alert resolved {resolved - restore:+.1f}s from the "
          f"restore\n{text}")

