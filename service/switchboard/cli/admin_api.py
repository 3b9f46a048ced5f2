"""What the commands that operate a running gateway share: its URL (`--url`, `$SWITCHBOARD_URL`), the admin key
(`$SWITCHBOARD_ADMIN_KEY`, or read from Secrets Manager with `$SWITCHBOARD_ADMIN_KEY_SECRET_ARN` as a router pod
has it; never a flag: flags show in `ps`), and one call to its admin JSON API."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from switchboard.cli.app import fail

URL_ENV = "SWITCHBOARD_URL"
DEFAULT_URL = "http://127.0.0.1:8080"
UrlOption = Annotated[str, typer.Option("--url", envvar=URL_ENV, help="The gateway's base URL (its admin API).")]


def call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One admin API call; the gateway's own error message (and field) on failure, exit status 1."""
    import httpx

    key = _admin_key()
    try:
        response = httpx.request(method, url.rstrip("/") + path, json=body, timeout=30,
                                 headers={"authorization": f"Bearer {key}"})
    except httpx.TransportError as error:
        raise fail(f"cannot reach the gateway at {url} ({type(error).__name__}): pass --url or set {URL_ENV}",
                   1) from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        words = error.get("message") or response.text[:200]
        field = f" (field: {error['field']})" if error.get("field") else ""
        raise fail(f"{response.status_code} {error.get('code', 'error')}: {words}{field}", 1)
    return data


def _admin_key() -> str:
    from switchboard.settings import ADMIN_KEY_ARN_ENV, ADMIN_KEY_ENV

    key = os.environ.get(ADMIN_KEY_ENV)
    if key:
        return key
    arn = os.environ.get(ADMIN_KEY_ARN_ENV)
    if not arn:
        raise fail(f"set {ADMIN_KEY_ENV} to the gateway's admin key (the admin API needs it), or "
                   f"{ADMIN_KEY_ARN_ENV} to its secret in Secrets Manager")
    from switchboard.secrets_manager import SecretKeys

    try:
        found = SecretKeys({ADMIN_KEY_ENV: arn}).fetch()
    except ValueError as error:
        raise fail(f"{ADMIN_KEY_ARN_ENV}: {error}") from None
    if ADMIN_KEY_ENV not in found:
        raise fail(f"cannot read the admin key from Secrets Manager ({ADMIN_KEY_ARN_ENV}): check AWS credentials", 1)
    return found[ADMIN_KEY_ENV]
