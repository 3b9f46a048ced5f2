"""The console's server side over real HTTP (issue 24), without a browser: signing in turns the admin key into a
short-lived HttpOnly, SameSite=Strict session cookie; every console API is a 401 without a session or a key; a
state-changing call with the cookie needs the CSRF token and the console's own origin; the pages carry a strict
Content-Security-Policy; the admin JSON APIs the pages read (recent requests, overview, config, decide as a key
or tier, jobs, cache) answer what the requests did. The browser tests are in `test_console.py`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis as redis_sync

from switchboard.callers import session as sessions
from switchboard.callers.keys import pepper
from switchboard.core.request import ImagePart, Message, Request, TextPart
from switchboard.http.console import assets
from switchboard.http.endpoints import ENDPOINTS
from switchboard.operations.recent_records import RecentRecords, preview_of
from tests.conftest import make_config
from tests.fakes import Reply

ADMIN = "sb-admin-console-SECRET-0123456789abcdef"
XSS = '<img src=x onerror=alert(1)>'


@pytest.fixture
def console(serve: Callable[..., str], env: dict[str, str], redis_url: str) -> str:
    redis_sync.Redis.from_url(redis_url).flushdb()
    return serve(make_config(), {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN}, redis=redis_url)


def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


def sign_in(base: str) -> tuple[httpx.Client, str]:
    """A client holding the session cookie, and the CSRF token; as the page does it (same origin)."""
    client = httpx.Client(base_url=base, timeout=15)
    answer = client.post("/console/session", json={"key": ADMIN}, headers=same_origin(base))
    assert answer.status_code == 200, answer.text
    return client, answer.json()["csrf"]


def same_origin(base: str) -> dict[str, str]:
    return {"origin": base, "sec-fetch-site": "same-origin"}


def test_sign_in_sets_a_short_lived_httponly_strict_cookie_and_never_echoes_the_key(console: str) -> None:
    answer = httpx.post(f"{console}/console/session", json={"key": ADMIN}, headers=same_origin(console))
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("sb_console=v1.")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=1800" in cookie
    assert "Secure" not in cookie  # plain http on loopback (a port-forward); https adds it, see below
    assert ADMIN not in answer.text and ADMIN not in cookie
    body = answer.json()
    assert body["csrf"] and abs(body["expires_at"] - (time.time() + 1800)) < 5
    behind_tls = httpx.post(f"{console}/console/session", json={"key": ADMIN},
                            headers={**same_origin(console), "x-forwarded-proto": "https"})
    assert behind_tls.headers["set-cookie"].startswith("__Host-sb_console=") and "; Secure" in behind_tls.headers[
        "set-cookie"]
    form = httpx.post(f"{console}/console/session", content=f"key={ADMIN}",
                      headers={**same_origin(console), "content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 200  # the form's own POST, when scripts are off


def test_sign_in_refuses_wrong_keys_other_sites_and_api_keys(console: str) -> None:
    wrong = httpx.post(f"{console}/console/session", json={"key": "x" * 40}, headers=same_origin(console))
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    elsewhere = httpx.post(f"{console}/console/session", json={"key": ADMIN},
                           headers={"origin": "http://evil.example", "sec-fetch-site": "cross-site"})
    assert elsewhere.status_code == 403 and elsewhere.json()["error"]["code"] == "csrf_refused"
    assert "set-cookie" not in elsewhere.headers
    tenant_key = httpx.post(f"{console}/admin/keys", json={"tenant": "acme", "tier": "paid"},
                            headers=admin()).json()["key"]
    not_admin = httpx.post(f"{console}/console/session", json={"key": tenant_key}, headers=same_origin(console))
    assert not_admin.status_code == 401
    missing = httpx.post(f"{console}/console/session", json={}, headers=same_origin(console))
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "key"


CONSOLE_APIS = [(e.method, e.path) for e in ENDPOINTS
                if (e.path.startswith("/admin/") or e.path == "/console/session") and not e.public]


def concrete(path: str) -> str:
    return path.replace("{key_id}", "sbk_nope").replace("{request_id}", "nope")


@pytest.mark.parametrize(("method", "path"), CONSOLE_APIS)
def test_every_console_api_is_a_401_without_a_session(console: str, method: str, path: str) -> None:
    answer = httpx.request(method, f"{console}{concrete(path)}", json={} if method == "POST" else None)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"
    forged = httpx.request(method, f"{console}{concrete(path)}", json={} if method == "POST" else None,
                           headers={"cookie": "sb_console=v1.9999999999.abc.def"})
    assert forged.status_code == 401


def test_an_expired_or_tampered_session_is_refused() -> None:
    key = pepper(ADMIN)
    session = sessions.issue(key, now=1000.0)
    assert sessions.verify(key, session.token, now=1001.0) == session
    assert sessions.verify(key, session.token, now=1000.0 + sessions.LIFETIME_S) is None  # expired
    version, expires, nonce, mac = session.token.split(".")
    assert sessions.verify(key, f"{version}.{int(expires) + 600}.{nonce}.{mac}", now=1001.0) is None  # extended
    assert sessions.verify(pepper("another admin key, rotated, 0123456789"), session.token, now=1001.0) is None
    assert sessions.csrf_matches(session, session.csrf) and not sessions.csrf_matches(session, session.csrf[:-1] + "x")


def test_state_changes_with_the_cookie_need_the_csrf_token_and_the_same_origin(console: str) -> None:
    client, csrf = sign_in(console)
    try:
        assert client.get("/admin/keys").status_code == 200  # reading needs the cookie only
        spec = {"tenant": "acme", "tier": "paid"}
        no_token = client.post("/admin/keys", json=spec, headers=same_origin(console))
        assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_refused"
        cross_site = client.post("/admin/keys", json=spec, headers={
            "x-csrf-token": csrf, "origin": "http://127.0.0.1:1", "sec-fetch-site": "same-site"})
        assert cross_site.status_code == 403 and cross_site.json()["error"]["code"] == "csrf_refused"
        no_origin = client.post("/admin/keys", json=spec, headers={"x-csrf-token": csrf})
        assert no_origin.status_code == 403
        wrong_token = client.post("/admin/keys", json=spec, headers={**same_origin(console), "x-csrf-token": "x"})
        assert wrong_token.status_code == 403
        assert httpx.get(f"{console}/admin/keys", headers=admin()).json()["keys"] == []  # nothing was made
        made = client.post("/admin/keys", json=spec, headers={**same_origin(console), "x-csrf-token": csrf})
        assert made.status_code == 201 and made.json()["key"].startswith("sbk_")
        # The session stands for the admin key only on the admin APIs: it cannot spend on model calls.
        spend = client.post("/complete", json={"text": "hi"}, headers={**same_origin(console), "x-csrf-token": csrf})
        assert spend.status_code == 401
        info = client.get("/console/session").json()
        assert info["csrf"] == csrf
        out = client.request("DELETE", "/console/session", headers={**same_origin(console), "x-csrf-token": csrf})
        assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]
    finally:
        client.close()


def test_the_page_and_assets_carry_a_strict_content_security_policy(console: str) -> None:
    page = httpx.get(f"{console}/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                      "object-src 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "http" not in policy
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-request-id"]
    html = page.text
    assert "<script>" not in html and "style=" not in html and "<style" not in html  # nothing inline
    assert "http://" not in html and "https://" not in html  # no third-party origin
    for name in assets():
        answer = httpx.get(f"{console}/console/static/{name}")
        if name == "index.html":
            assert answer.status_code == 404  # the page is served at /console only
            continue
        assert answer.status_code == 200 and answer.headers["content-security-policy"] == policy, name
        if name.endswith(".js") and not name.startswith("vendor/"):
            assert "innerHTML" not in answer.text and "insertAdjacentHTML" not in answer.text, name
    assert httpx.get(f"{console}/console/static/../../wiring.py").status_code == 404
    assert httpx.get(f"{console}/console/static/js/nope.js").status_code == 404


def test_the_charting_library_ships_with_its_licence() -> None:
    shipped = assets()
    assert {"vendor/uPlot.iife.min.js", "vendor/uPlot.min.css", "vendor/uPlot.LICENSE.txt"} <= set(shipped)
    assert shipped["vendor/uPlot.iife.min.js"][0].startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert b"MIT License" in shipped["vendor/uPlot.LICENSE.txt"][0]


def test_recent_requests_overview_and_routes_follow_what_the_requests_did(console: str, fakes: Any) -> None:
    key = httpx.post(f"{console}/admin/keys", json={"tenant": "acme", "tier": "paid"}, headers=admin()).json()
    user = {"authorization": f"Bearer {key['key']}"}
    ok = httpx.post(f"{console}/complete", json={"text": XSS, "task_type": "creative_writing",
                                                  "metadata": {"team": "<b>ops</b>"}}, headers=user)
    assert ok.status_code == 200, ok.text
    fakes.openai.push(*[Reply(status=500)] * 3)  # the first target fails (with its retries): a failover
    failed_over = httpx.post(f"{console}/complete", json={"text": "second", "task_type": "creative_writing"},
                             headers=user)
    assert failed_over.status_code == 200 and failed_over.json()["provider"] != "openai"
    refused = httpx.post(f"{console}/complete", json={"text": "x", "task_type": "nope"}, headers=user)
    assert refused.status_code == 422

    listed = httpx.get(f"{console}/admin/requests", headers=admin()).json()
    records = listed["records"]
    assert [r["status"] for r in records[:3]] == [422, 200, 200]  # newest first
    first = records[2]
    assert first["preview"] == XSS and first["metadata"] == {"team": "<b>ops</b>"} and first["tenant"] == "acme"
    assert first["key_id"] == key["id"] and first["provider"] == "openai" and first["cost_usd"] > 0
    assert records[1]["attempts"][0]["target"].startswith("openai:") and records[1]["attempts"][0]["outcome"] != "ok"
    only_errors = httpx.get(f"{console}/admin/requests?status=error", headers=admin()).json()["records"]
    assert [r["status"] for r in only_errors] == [422]
    by_provider = httpx.get(f"{console}/admin/requests?provider=openai", headers=admin()).json()["records"]
    assert {r["id"] for r in by_provider} == {records[1]["id"], records[2]["id"]}  # answered or tried
    newer = httpx.get(f"{console}/admin/requests?after={records[1]['seq']}", headers=admin()).json()["records"]
    assert [r["id"] for r in newer] == [records[0]["id"]]
    assert httpx.get(f"{console}/admin/requests?tenant=other", headers=admin()).json()["records"] == []
    bad = httpx.get(f"{console}/admin/requests?status=maybe", headers=admin())
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"

    full = httpx.get(f"{console}/admin/requests/{records[1]['id']}", headers=admin()).json()
    assert full["decision"]["rule"] and full["reason"] and full["attempts"][0]["wait_ms"] == 0
    assert full["usage"]["output_tokens"] > 0
    assert httpx.get(f"{console}/admin/requests/nope", headers=admin()).status_code == 404

    overview = httpx.get(f"{console}/admin/overview", headers=admin()).json()
    totals = overview["last_5m"]
    assert totals["requests"] == 3 and totals["refused"] == 1 and totals["failed"] == 0
    assert totals["spend_usd"] == pytest.approx(records[1]["cost_usd"] + records[2]["cost_usd"])
    assert set(totals["spend_by_tenant"]) == {"acme"} and totals["p50_ms"] is not None
    assert totals["strong_share"] == 1.0  # gpt-5.4 and claude-sonnet-4-6: both strong against the baseline
    assert overview["strong"]["baseline"] == "anthropic/claude-sonnet-4-6"
    series = overview["series"]
    assert len(series["time"]) == 60 and sum(series["requests"]) == 3
    assert overview["live"]["rps"] > 0


def test_decide_as_a_tier_or_a_key_and_the_masked_config(console: str) -> None:
    free = httpx.post(f"{console}/admin/decide", json={"request": {"text": "hello there"}, "tier": "free"},
                      headers=admin())
    assert free.status_code == 200, free.text
    assert free.json()["chain"][0] == "cohere:command-r7b-12-2024" and free.json()["as"]["tier"] == "free"
    key = httpx.post(f"{console}/admin/keys", json={"tenant": "acme", "tier": "free"}, headers=admin()).json()
    as_key = httpx.post(f"{console}/admin/decide", json={"request": {"text": "hello there"}, "key_id": key["id"]},
                        headers=admin()).json()
    assert as_key["chain"] == free.json()["chain"] and as_key["as"]["tenant"] == "acme"
    unknown = httpx.post(f"{console}/admin/decide", json={"request": {"text": "x"}, "tier": "gold"}, headers=admin())
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "tier"
    gone = httpx.post(f"{console}/admin/decide", json={"request": {"text": "x"}, "key_id": "sbk_nope"},
                      headers=admin())
    assert gone.status_code == 404

    shown = httpx.get(f"{console}/admin/config", headers=admin()).json()
    assert shown["rules"] == make_config().routing.rules
    assert shown["chains"]["routes.coding"][0] == "anthropic:claude-sonnet-4-6"
    text = str(shown["config"])
    assert "sk-test" not in text and "SECRET" not in text


def test_jobs_and_cache_stats(console: str) -> None:
    jobs = httpx.get(f"{console}/admin/jobs", headers=admin()).json()
    assert jobs == {"available": True, "queued": 0, "running": 0, "jobs": []}
    first = httpx.post(f"{console}/complete", json={"text": "cache me", "temperature": 0,
                                                     "task_type": "summarization"}, headers=admin())
    second = httpx.post(f"{console}/complete", json={"text": "cache me", "temperature": 0,
                                                      "task_type": "summarization"}, headers=admin())
    assert first.status_code == second.status_code == 200 and second.json()["cached"]
    cache = httpx.get(f"{console}/admin/cache", headers=admin()).json()
    assert cache["enabled"] and cache["store"] == "redis" and cache["entries"]["exact"] == 1
    assert cache["last_5m"]["cache_hits"] == 1 and cache["last_5m"]["cache_lookups"] == 2


def test_the_console_is_served_on_the_metrics_port_too(env: dict[str, str]) -> None:
    """`--metrics-port`: the console and its APIs (authenticated as on the gateway) beside /metrics."""
    import asyncio

    from switchboard import Switchboard
    from switchboard.http.app import MetricsApp, create_app

    async def run() -> None:
        app = MetricsApp(create_app(Switchboard(make_config(), {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN})))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
            assert (await client.get("/metrics")).status_code == 200
            assert (await client.get("/console")).status_code == 200
            assert (await client.get("/admin/overview")).status_code == 401
            assert (await client.get("/admin/overview", headers=admin())).status_code == 200
            assert (await client.post("/complete", json={"text": "x"})).status_code == 404

    asyncio.run(run())


def test_a_record_keeps_only_a_preview_of_the_prompt() -> None:
    long = Request(messages=[Message("system", "be brief"), Message("user", "a" * 10_000),
                             Message("assistant", "ok"), Message("user", [TextPart("look: "), ImagePart("data:x"),
                                                                          TextPart("b" * 500)])])
    preview = preview_of(long)
    assert preview is not None and preview.startswith("look: [image] b") and len(preview) == 160
    assert preview_of(None) is None
    ring = RecentRecords(keep=3)
    assert len(ring) == 0 and ring.keep == 3
