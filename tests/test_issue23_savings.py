"""Issue 23: what routing and the cache saved, from the request log — `switchboard costs LOG --savings`.

A mixed run over real HTTP (cheap and strong routes, an exact-cache hit, a failover, a hedge, feedback), then
the report's figures against the same sums done by hand from the same log lines, and the page in a browser.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from switchboard.core.response import Usage
from switchboard.operations.feedback import is_feedback
from switchboard.operations.logfiles import is_record
from switchboard.pricing import cost_usd
from tests.conftest import make_config
from tests.fakes import Reply

pytestmark = pytest.mark.slow  # a browser (headless Chromium)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HEDGED = {"routes": {"summarization": {"targets": ["cohere:command-a-03-2025", "anthropic:claude-haiku-4-5"],
                                       "hedge_after_s": 0.1}}}


def mixed_run(base: str, fakes) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        cheap = client.post("/complete", json={"text": "Label this: great product", "task_type": "classification"})
        assert cheap.json()["model"] == "command-r7b-12-2024"
        strong = client.post("/complete", json={"text": "A poem about routers", "task_type": "creative_writing"})
        assert strong.json()["model"] == "gpt-5.4"
        for _ in range(2):  # the second is an exact-cache hit
            cached = client.post("/complete", json={"text": "Name a colour", "task_type": "creative_writing",
                                                    "temperature": 0})
        assert cached.json()["cached"] is True
        fakes.openai.push(Reply(status=500), Reply(status=500), Reply(status=500))  # and its retries
        failed_over = client.post("/complete", json={"text": "Another poem", "task_type": "creative_writing"})
        assert failed_over.json()["provider"] == "anthropic"
        fakes.cohere.push(Reply(text="slow", delay_s=1.0))
        hedged = client.post("/complete", json={"text": "Summarise this text", "task_type": "summarization"})
        assert hedged.json()["provider"] == "anthropic"
        assert any(a["outcome"] == "hedge_lost" for a in hedged.json()["route"]["attempts"])
        for response, thumbs in ((strong, "up"), (cheap, "down"), (failed_over, "up")):
            assert client.post("/feedback", json={"request_id": response.json()["id"], "thumbs": thumbs}
                               ).status_code == 202


def by_hand(lines: list[dict]) -> dict[str, float]:
    """The report's totals, recomputed from the log lines with the price table (sonnet is the baseline)."""
    config = make_config(**HEDGED)
    base = config.price("anthropic", "claude-sonnet-4-6")
    totals = dict(actual=0.0, baseline=0.0, routing=0.0, cache=0.0, failover=0.0, hedge=0.0, strong=0, cheap=0)
    for line in lines:
        if not line.get("provider"):
            continue
        usage = Usage(input_tokens=line["input_tokens"], output_tokens=line["output_tokens"],
                      cached_tokens=line["cached_tokens"], cache_write_tokens=line["cache_write_tokens"])
        totals["actual"] += line["cost_usd"] + (line["hedge_cost_usd"] or 0)
        totals["hedge"] += line["hedge_cost_usd"] or 0
        if line["cache"] in ("hit", "semantic-hit"):
            totals["cache"] += line["saved_usd"]
            continue
        totals["baseline"] += cost_usd(base, usage)
        totals["routing"] += cost_usd(base, usage) - line["cost_usd"]
        first = line["path"][0]["target"].split(":")
        if first != [line["provider"], line["model"]]:
            totals["failover"] += line["cost_usd"] - cost_usd(config.price(*first), usage)
        output_price = config.price(line["provider"], line["model"]).output
        totals["strong" if output_price >= 0.5 * base.output else "cheap"] += 1
    return totals


def test_savings_figures_equal_the_sums_by_hand_and_the_page_renders(serve, fakes, capsys, tmp_path) -> None:
    base = serve(make_config(**HEDGED))
    mixed_run(base, fakes)
    raw = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    records = [orjson.loads(line) for line in raw]
    requests = [r for r in records if is_record(r)]
    assert len(requests) == 6 and len([r for r in records if is_feedback(r)]) == 3
    log = tmp_path / "requests.log"
    log.write_text("\n".join(raw) + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(orjson.dumps(HEDGED).decode())  # JSON is YAML: the same routes as the run
    page = tmp_path / "savings.html"
    run = subprocess.run([sys.executable, "-m", "switchboard", "costs", str(log), "--savings", "--json",
                          "--by", "tenant,route", "--html", str(page), "--config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    report = orjson.loads(run.stdout)
    total, expected = report["total"], by_hand(requests)
    assert report["baseline"] == "anthropic/claude-sonnet-4-6"
    assert total["requests"] == total["answered"] == 6
    assert total["actual_usd"] == pytest.approx(expected["actual"], abs=1e-9)
    assert total["baseline_usd"] == pytest.approx(expected["baseline"], abs=1e-9)
    assert total["saved_by_routing_usd"] == pytest.approx(expected["routing"], abs=1e-9)
    assert total["saved_by_cache_usd"] == pytest.approx(expected["cache"], abs=1e-9) and expected["cache"] > 0
    assert total["failover_extra_usd"] == pytest.approx(expected["failover"], abs=1e-9) and expected["failover"] > 0
    assert total["hedge_extra_usd"] == pytest.approx(expected["hedge"], abs=1e-9) and expected["hedge"] > 0
    assert (total["strong"], total["cheap"]) == (expected["strong"], expected["cheap"])
    assert total["feedback"]["strong"] == {"count": 2, "mean": 1.0}
    assert total["feedback"]["cheap"] == {"count": 1, "mean": 0.0}
    # The identity the module states: baseline = actual + saved by routing - hedge extra, on calls (not hits).
    assert total["baseline_usd"] == pytest.approx(total["actual_usd"] + total["saved_by_routing_usd"]
                                                  - total["hedge_extra_usd"], abs=1e-9)
    assert {tuple(g[k] for k in ("tenant", "route")) for g in report["groups"]} >= {("-", "creative_writing"),
                                                                                    ("-", "classification")}
    assert len(report["timeline"]["spend"]) >= 3 and report["dial"] == []  # nothing classified in this run

    text = subprocess.run([sys.executable, "-m", "switchboard", "costs", str(log), "--savings", "--config",
                           str(config)], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "TOTAL" in text and "routing saved" in text

    html = page.read_text()
    for chart in ("spend-per-provider", "saved-vs-spent", "strong-share", "cost-quality"):
        assert f'id="{chart}"' in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    rendered = render_in_chromium(page)
    # A run within one minute is one point per series (a dot); longer runs draw lines.
    for chart in ("spend-per-provider", "strong-share"):
        assert rendered[chart]["lines"] + rendered[chart]["dots"] >= 1, (chart, rendered)
    assert rendered["spend-per-provider"]["lines"] + rendered["spend-per-provider"]["dots"] >= 3  # providers
    assert rendered["saved-vs-spent"]["bars"] == 6
    assert rendered["cost-quality"] == {"lines": 0, "bars": 0, "dots": 0}  # nothing classified: said as text


def render_in_chromium(page: Path) -> dict[str, dict[str, int]]:
    """Open the page in headless Chromium (Debian's, driven by Playwright): for each chart, the marks drawn
    with a non-empty box; a screenshot is kept under tests/artifacts/."""
    from playwright import sync_api as playwright
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1200})
            tab.goto(page.as_uri())
            found = tab.evaluate("""() => Object.fromEntries([...document.querySelectorAll('figure.chart')].map(f => {
                const drawn = sel => [...f.querySelectorAll(sel)].filter(e => {
                    const box = e.getBoundingClientRect(); return box.width > 0 || box.height > 0; }).length;
                return [f.id, {lines: drawn('polyline'), bars: drawn('rect.bar'), dots: drawn('circle')}];
            }))""")
            tab.screenshot(path=str(ARTIFACTS / "savings.png"), full_page=True)
        finally:
            browser.close()
    return found
