"""The operator console in a real headless Chromium (Debian's `/usr/bin/chromium`, driven by Playwright; no
browser download), against the real gateway over HTTP with fake providers and a real Redis (issue 24):

- signing in with the admin key gives an HttpOnly, SameSite=Strict cookie; the key is kept nowhere on the page;
- the overview shows live numbers and charts while a load runs;
- the Drain button takes OpenAI out of rotation and the next request skips it; Restore puts it back;
- a key is created (its secret shown once) and revoked from the Keys page, and the gateway obeys both;
- the decide box shows a chain, rule and reason;
- a prompt and metadata holding HTML appear as text in the tail and in the request's detail, and nothing runs;
- without a session the APIs are 401, and a same-site but cross-origin form POST (the cookie goes along) is
  refused: nothing changes.

Each page's screenshot is written to `tests/artifacts/console/` (kept out of git).
"""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_sync

from tests.conftest import free_port, make_config
from tests.fakes import Reply

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "console"
ADMIN = "sb-admin-browser-SECRET-0123456789abcdef"
XSS = "<img src=x onerror=alert(1)>"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium and chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every run a fresh, temporary profile (its own --user-data-dir).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


class Tab:
    """A page in a fresh browser context (no cookies), with what it said: dialogs, errors, CSP violations."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000})
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: self.errors.append(message.text)
                     if message.type == "error" and "401" not in message.text else None)

    def sign_in(self, key: str = ADMIN) -> None:
        self.page.goto(f"{self.base}/console")
        self.page.fill("#admin-key", key)
        self.page.click("#sign-in-button")
        self.page.wait_for_selector("#nav", state="visible", timeout=WAIT_MS)

    def open(self, name: str) -> None:
        self.page.click(f"#nav a[data-page={name}]")
        self.page.wait_for_selector(f"#page-{name}", state="visible", timeout=WAIT_MS)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def close(self) -> None:
        assert not self.errors, f"the page reported errors: {self.errors}"
        self.context.close()


@pytest.fixture
def gateway(serve: Callable[..., str], env: dict[str, str], redis_url: str) -> str:
    redis_sync.Redis.from_url(redis_url).flushdb()
    return serve(make_config(routing={"classifier": {"enabled": True}}), {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN},
                 redis=redis_url)


@pytest.fixture
def tab(browser: Any, gateway: str) -> Iterator[Tab]:
    opened = Tab(browser, gateway)
    yield opened
    opened.close()


def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


def mint(base: str, tenant: str, tier: str = "paid") -> str:
    made = httpx.post(f"{base}/admin/keys", json={"tenant": tenant, "tier": tier}, headers=admin())
    assert made.status_code == 201, made.text
    return made.json()["key"]


def test_sign_in_keeps_the_key_out_of_the_page_and_the_cookie_out_of_scripts(tab: Tab) -> None:
    tab.page.goto(f"{tab.base}/console")
    tab.page.wait_for_selector("#sign-in", state="visible", timeout=WAIT_MS)
    tab.shot("sign-in")
    tab.page.fill("#admin-key", "not-the-admin-key-0123456789-0123456789")
    tab.page.click("#sign-in-button")
    tab.page.wait_for_function("() => document.getElementById('sign-in-error').textContent.length > 0",
                               timeout=WAIT_MS)
    assert "not the admin key" in tab.text("#sign-in-error")
    assert tab.context.cookies() == []
    tab.sign_in()
    cookies = tab.context.cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [("sb_console", True, "Strict")]
    assert ADMIN not in cookies[0]["value"]
    assert ADMIN not in tab.page.url and tab.page.input_value("#admin-key") == ""
    stored = tab.page.evaluate("() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]")
    assert stored == ["", "{}", "{}"]  # HttpOnly: the page's scripts never see the session
    assert ADMIN not in tab.page.content()
    tab.page.click("#sign-out")
    tab.page.wait_for_selector("#sign-in", state="visible", timeout=WAIT_MS)
    assert tab.context.cookies() == []


class Load:
    """Requests from three tenants in a background thread until stopped (at most `limit_s`): a mix of task
    types, repeated prompts the cache answers, and a few refused ones."""

    def __init__(self, base: str, keys: list[str], limit_s: float = 60.0) -> None:
        self.base, self.keys, self.limit_s = base, keys, limit_s
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        task_types = ["creative_writing", "summarization", "classification", "coding", None]
        with httpx.Client(base_url=self.base, timeout=15) as client:
            while not self.stop.wait(0.02) and self.sent < self.limit_s / 0.02:
                n = self.sent
                key = self.keys[n % len(self.keys)]
                body: dict[str, Any] = {"text": f"question {n % 7}", "temperature": 0}
                if task_types[n % 5]:
                    body["task_type"] = task_types[n % 5]
                if n % 11 == 10:
                    body["task_type"] = "no_such_task"  # a 422
                if n % 4 == 3:
                    body.update(stream=True, text=f"stream {n}")  # streamed: time to first token
                client.post("/complete", json=body, headers={"authorization": f"Bearer {key}"})
                self.sent += 1

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join(20)


def test_the_overview_shows_live_numbers_while_a_load_runs(tab: Tab, fakes: Any) -> None:
    for fake, delay in ((fakes.openai, 0.03), (fakes.anthropic, 0.05), (fakes.cohere, 0.02)):
        fake.default = Reply(delay_s=delay, input_tokens=400, output_tokens=250)
    keys = [mint(tab.base, tenant) for tenant in ("acme", "globex", "initech")]
    tab.sign_in()
    with Load(tab.base, keys):
        tab.page.wait_for_function(
            "() => Number(document.querySelector('[data-metric=rps] .value')?.textContent) > 0", timeout=WAIT_MS)
        first = int(tab.text("[data-metric=requests] .value"))
        tab.page.wait_for_function(
            f"() => Number(document.querySelector('[data-metric=requests] .value').textContent) > {first + 5}",
            timeout=WAIT_MS)
        for chart in ("requests", "latency", "provider-spend", "tenant-spend"):
            tab.page.wait_for_selector(f"#chart-{chart}[data-rendered=true] canvas", timeout=WAIT_MS)
        tab.page.wait_for_function(
            "() => document.querySelector('#chart-tenant-spend').textContent.includes('initech')", timeout=WAIT_MS)
        for metric in ("cache_hit_rate", "ttft"):
            tab.page.wait_for_function(
                f"() => !document.querySelector('[data-metric={metric}] .value').textContent.includes('—')",
                timeout=WAIT_MS)
        tab.shot("overview")
    for metric in ("latency", "ttft"):
        shown = tab.text(f"[data-metric={metric}] .value")
        assert "ms" in shown and "—" not in shown, (metric, shown)
    assert tab.text("[data-metric=spend] .value").startswith("$")
    assert tab.text("[data-metric=error_rate] .value").endswith("%")
    assert "%" in tab.text("[data-metric=strong_share] .value")


def test_drain_openai_with_the_button_and_the_next_request_skips_it_then_restore(tab: Tab, fakes: Any) -> None:
    tab.sign_in()
    tab.open("targets")
    tab.page.wait_for_selector("#providers-table tr[data-provider=openai]", timeout=WAIT_MS)
    tab.page.fill("#hold-reason", "openai refusing connections (drill)")
    tab.page.fill("#hold-by", "oncall-ana")
    tab.page.click("#providers-table tr[data-provider=openai] button[data-action=drain]")
    tab.page.wait_for_selector("#targets-table tr[data-target='openai:gpt-5.4'][data-state=drained]",
                               timeout=WAIT_MS)
    assert "by oncall-ana" in tab.text("#targets-table tr[data-target='openai:gpt-5.4']")
    tab.shot("targets")
    before = fakes.openai.calls
    skipped = httpx.post(f"{tab.base}/complete", json={"text": "a poem", "task_type": "creative_writing"},
                         headers=admin())
    assert skipped.status_code == 200, skipped.text
    answer = skipped.json()
    first = answer["route"]["attempts"][0]
    assert (first["provider"], first["outcome"]) == ("openai", "drained")
    assert "openai refusing connections (drill)" in first["detail"]
    assert answer["provider"] == "anthropic" and fakes.openai.calls == before

    tab.page.click("#providers-table tr[data-provider=openai] button[data-action=restore]")
    tab.page.wait_for_selector("#targets-table tr[data-target='openai:gpt-5.4'][data-state=ready]",
                               timeout=WAIT_MS)
    back = httpx.post(f"{tab.base}/complete", json={"text": "a poem", "task_type": "creative_writing"},
                      headers=admin())
    assert back.status_code == 200 and back.json()["provider"] == "openai"


def test_create_a_key_shown_once_and_revoke_it(tab: Tab) -> None:
    tab.sign_in()
    tab.open("keys")
    tab.page.wait_for_selector("#key-tier option[value=paid]", state="attached", timeout=WAIT_MS)
    tab.page.fill("#key-tenant", "acme")
    tab.page.select_option("#key-tier", "paid")
    tab.page.fill("#key-rpm", "600")
    tab.page.fill("#key-budget", "25")
    tab.page.click("#key-create")
    tab.page.wait_for_selector("#new-key", state="visible", timeout=WAIT_MS)
    secret = tab.text("#new-key-secret").strip()
    assert secret.startswith("sbk_")
    key_id = secret.split("_")[1]  # sbk_<id>_<secret>
    used = httpx.post(f"{tab.base}/complete", json={"text": "hi", "task_type": "summarization"},
                      headers={"authorization": f"Bearer {secret}"})
    assert used.status_code == 200, used.text
    row = f"#keys-table tr[data-key='{key_id}']"
    tab.page.click("#new-key-dismiss")
    assert tab.text("#new-key-secret") == ""  # gone from the page
    tab.page.wait_for_function(
        f"() => document.querySelector(\"{row}\")?.children[4].textContent === '1'", timeout=WAIT_MS)
    assert "$25" in tab.text(row) or "25.0000" in tab.text(row)
    tab.page.click(f"{row} button[data-revoke]")
    tab.page.click(f"{row} button[data-revoke]")  # the second click confirms
    tab.page.wait_for_selector(f"{row}[data-status=revoked]", timeout=WAIT_MS)
    tab.shot("keys")
    refused = httpx.post(f"{tab.base}/complete", json={"text": "hi"}, headers={"authorization": f"Bearer {secret}"})
    assert refused.status_code == 401
    tab.open("jobs")
    tab.page.wait_for_function("() => document.querySelector('#cache-facts').textContent.includes('redis')",
                               timeout=WAIT_MS)
    tab.shot("jobs")


def test_the_decide_box_shows_a_chain(tab: Tab) -> None:
    tab.sign_in()
    tab.open("routing")
    tab.page.wait_for_selector("#decide-as option[value=free]", state="attached", timeout=WAIT_MS)
    tab.page.fill("#decide-prompt", "Prove that the square root of two is irrational, step by step.")
    tab.page.select_option("#decide-as", "paid")
    tab.page.click("#decide-run")
    tab.page.wait_for_selector("#decide-chain li", timeout=WAIT_MS)
    chain = tab.page.locator("#decide-chain li").all_inner_texts()
    decided = httpx.post(f"{tab.base}/admin/decide", json={"request": {"text": tab.page.input_value(
        "#decide-prompt")}, "tier": "paid"}, headers=admin()).json()
    assert chain == decided["chain"] and len(chain) >= 2
    facts = tab.text("#decide-facts")
    assert decided["rule"] in facts and decided["reason"] in facts and "ms" in facts  # the classifier ran
    assert tab.page.locator("#rules li").count() == 6 and "providers" in tab.text("#config-text")
    tab.shot("routing")
    tab.page.select_option("#decide-as", "free")
    tab.page.fill("#decide-prompt", "hi")
    tab.page.click("#decide-run")
    tab.page.wait_for_function("() => document.querySelector('#decide-chain li')?.textContent === "
                               "'cohere:command-r7b-12-2024'", timeout=WAIT_MS)


def test_a_prompt_holding_html_appears_as_text_in_the_tail_and_nothing_runs(tab: Tab) -> None:
    tab.sign_in()
    tab.open("requests")
    metadata = {"note": "<script>window.__pwned = 1</script>", "team": "<b onmouseover=alert(2)>ops</b>"}
    sent = httpx.post(f"{tab.base}/complete", json={"text": XSS, "task_type": "summarization",
                                                     "metadata": metadata}, headers=admin())
    assert sent.status_code == 200, sent.text
    cell = "#tail td.prompt"
    tab.page.wait_for_selector(cell, timeout=WAIT_MS)
    assert tab.page.locator(cell).first.inner_text() == XSS
    assert "local" in tab.page.locator("#filter-provider option").all_inner_texts()
    assert tab.page.locator("#tail img, #tail script, #tail b").count() == 0
    tab.page.locator("#tail tbody tr").first.click()
    tab.page.wait_for_selector("#detail-prompt", timeout=WAIT_MS)
    assert tab.text("#detail-prompt") == XSS
    assert "<script>window.__pwned = 1</script>" in tab.text("#detail-metadata")
    assert tab.page.locator("#request-detail img, #request-detail script, #request-detail b").count() == 0
    tab.page.hover("#detail-metadata")
    tab.shot("requests")
    assert tab.page.evaluate("() => window.__pwned") is None
    assert tab.dialogs == []
    httpx.post(f"{tab.base}/complete", json={"text": "x", "task_type": "nope"}, headers=admin())
    tab.page.select_option("#filter-status", "error")
    tab.page.wait_for_function("() => document.querySelectorAll('#tail tbody tr').length === 1 && "
                               "document.querySelector('#tail tbody tr').textContent.includes('422')",
                               timeout=WAIT_MS)


class AttackerPage(http.server.BaseHTTPRequestHandler):
    """Another origin on the same site (127.0.0.1, another port): a page that posts to the gateway's admin
    API on load, with the same-site session cookie going along, as a form (no preflight) and as a fetch."""

    target = ""

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = f"""<!doctype html><html><body>
<form id="f" method="post" action="{self.target}/admin/targets/drain" enctype="text/plain">
<input name='{{"provider":"openai","reason":"pwned","x":"' value='"}}'></form>
<script>
fetch("{self.target}/admin/keys", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"content-type": "text/plain"}}, body: JSON.stringify({{tenant: "evil", tier: "paid"}})}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>""".encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def test_without_a_session_the_apis_are_401_and_a_cross_site_post_is_refused(tab: Tab, browser: Any) -> None:
    stranger = Tab(browser, tab.base)
    try:
        stranger.page.goto(f"{tab.base}/console")
        stranger.page.wait_for_selector("#sign-in", state="visible", timeout=WAIT_MS)
        statuses = stranger.page.evaluate("""async () => {
            const calls = [["GET", "/admin/overview"], ["GET", "/admin/requests"], ["GET", "/admin/targets"],
                           ["GET", "/admin/keys"], ["GET", "/admin/config"], ["GET", "/console/session"],
                           ["POST", "/admin/targets/drain"], ["POST", "/admin/keys"]];
            const out = [];
            for (const [method, path] of calls) {
                const r = await fetch(path, {method, headers: {"content-type": "application/json"},
                                             body: method === "POST" ? "{}" : undefined});
                out.push(r.status);
            }
            return out;
        }""")
        assert statuses == [401] * 8
    finally:
        stranger.close()

    tab.sign_in()
    AttackerPage.target = tab.base
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), AttackerPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    refused: list[tuple[str, int]] = []
    tab.page.on("response", lambda response: refused.append((response.url, response.status))
                if response.url.startswith(f"{tab.base}/admin/") else None)
    try:
        with tab.page.expect_response(f"{tab.base}/admin/targets/drain", timeout=WAIT_MS) as drained:
            tab.page.goto(f"http://127.0.0.1:{port}/")
        assert drained.value.status == 403
        assert drained.value.json()["error"]["code"] == "csrf_refused"
    finally:
        server.shutdown()
    targets = httpx.get(f"{tab.base}/admin/targets", headers=admin()).json()
    assert targets["holds"] == [] and all(row["state"] != "drained" for row in targets["targets"])
    assert [key["tenant"] for key in httpx.get(f"{tab.base}/admin/keys", headers=admin()).json()["keys"]] == []
    tab.errors.clear()  # the attacker's page logged its own failures
