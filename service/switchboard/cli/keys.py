"""`switchboard keys create | list | show | revoke`: API keys, in Redis or a keys file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from switchboard.cli.app import (
    ConfigOption,
    fail,
    keys_app,
    load,
)

KeysFileOption = Annotated[Path | None, typer.Option("--keys-file", envvar="SWITCHBOARD_KEYS_FILE",
                                                     help="Keys without Redis: a file of key hashes.")]


def _keys(keys_file: Path | None) -> tuple[Any, Any]:
    """(key store, settings): Redis when REDIS_URL is set, else the keys file."""
    from switchboard.callers.store import FileKeyStore, RedisKeyStore
    from switchboard.settings import Settings
    from switchboard.wiring import redis_client

    settings = Settings.from_env()
    if keys_file is not None:
        return FileKeyStore(keys_file), settings
    if settings.redis_url:
        return RedisKeyStore(redis_client(settings.redis_url)), settings
    raise fail("keys: set REDIS_URL (keys shared by every replica), or pass --keys-file FILE (a single node)")


def _pepper(settings: Any) -> bytes:
    from switchboard.callers.keys import pepper

    admin_key = settings.admin_key
    if admin_key is None and settings.admin_key_arn:
        from switchboard.secrets_manager import SecretKeys

        admin_key = SecretKeys({"admin": settings.admin_key_arn}).fetch().get("admin")
    if not admin_key:
        raise fail("keys: set SWITCHBOARD_ADMIN_KEY (keys are stored as a hash keyed by it)")
    return pepper(admin_key)


def _times_in_iso(view: dict[str, Any]) -> dict[str, Any]:
    """A key's times as ISO 8601 UTC (`2026-11-20T10:00:00Z`), not epoch seconds, for people to read."""
    from datetime import UTC, datetime

    def readable(name: str, value: Any) -> Any:
        if name.endswith("_at") and isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return value

    return {name: readable(name, value) for name, value in view.items()}


async def _close(store: Any) -> None:
    client = getattr(store, "redis", None)
    if client is not None:
        await client.aclose()


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key's requests are billed to.")],
    tier: Annotated[str, typer.Option(help="Its tier (routes by tier: free, paid, ...).")],
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, help="Tokens per minute.")] = None,
    budget_usd_day: Annotated[float | None, typer.Option(min=0.000001, help="USD per day (UTC).")] = None,
    models: Annotated[str | None, typer.Option(help="provider/model it may pin, comma-separated.")] = None,
    expires: Annotated[str | None, typer.Option(help="Expiry from now: 30d, 12h, 2w.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (with \"key\" and \"id\").")] = False,
    keys_file: KeysFileOption = None,
    config: ConfigOption = None,
) -> None:
    """Mint a key. Its secret is shown once; only a keyed hash is stored."""
    import orjson
    from pydantic import ValidationError

    from switchboard.callers.admin import KeySpec, check_spec, create_key

    loaded = load(config)
    try:
        spec = KeySpec(tenant=tenant, tier=tier, rpm=rpm, tpm=tpm, budget_usd_day=budget_usd_day,
                       models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
                       expires=expires)
        check_spec(spec, loaded)
    except (ValidationError, ValueError) as error:
        message = error.errors()[0] if isinstance(error, ValidationError) else None
        text = f"--{message['loc'][0]}: {message['msg']}".replace("_", "-", 1) if message else str(error)
        raise fail(f"keys create: {text.removeprefix('Value error, ')}") from None
    store, settings = _keys(keys_file)
    secret = _pepper(settings)

    async def create() -> Any:
        try:
            return await create_key(store, secret, spec)
        finally:
            await _close(store)

    record, key = asyncio.run(create())
    if as_json:
        typer.echo(orjson.dumps({**_times_in_iso(record.public()), "key": key}).decode())
        return
    typer.echo(f"key {record.id} for tenant {record.tenant} (tier {record.tier}):\n\n  {key}\n\n"
               "Shown once: only its hash is stored.")


@keys_app.command("list")
def keys_list(keys_file: KeysFileOption = None) -> None:
    """Every key: id, tenant, tier, limits, status."""
    store, _ = _keys(keys_file)

    async def read() -> Any:
        try:
            return await store.all()
        finally:
            await _close(store)

    typer.echo(f"{'ID':<12}  {'TENANT':<16} {'TIER':<8} {'STATUS':<8} LIMITS")
    for record in asyncio.run(read()):
        view = record.public()
        limits = " ".join(f"{k}={view[k]}" for k in ("rpm", "tpm", "budget_usd_day") if view[k] is not None)
        typer.echo(f"{record.id}  {record.tenant:<16} {record.tier:<8} {view['status']:<8} {limits}")


@keys_app.command("show")
def keys_show(key_id: Annotated[str, typer.Argument(help="The key's id.")], keys_file: KeysFileOption = None) -> None:
    """One key: its limits and today's usage."""
    import orjson

    from switchboard.callers.admin import show_key

    store, _ = _keys(keys_file)

    async def read() -> Any:
        try:
            return await show_key(store, key_id)
        finally:
            await _close(store)

    shown = asyncio.run(read())
    if shown is None:
        raise fail(f"keys: no key '{key_id}'", 1)
    typer.echo(orjson.dumps(_times_in_iso(shown), option=orjson.OPT_INDENT_2).decode())


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")], keys_file: KeysFileOption = None) -> None:
    """Revoke a key: every replica refuses it within about a second."""
    store, _ = _keys(keys_file)

    async def revoke() -> Any:
        try:
            return await store.revoke(key_id)
        finally:
            await _close(store)

    if asyncio.run(revoke()) is None:
        raise fail(f"keys: no key '{key_id}'", 1)
    typer.echo(f"revoked {key_id}")
