"""`switchboard cache clear | stats`: the response cache in Redis."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from switchboard.cli.app import (
    cache_app,
    fail,
)


def _store() -> Any:
    from switchboard.cache.store import RedisStore
    from switchboard.settings import Settings
    from switchboard.wiring import redis_client

    url = Settings.from_env().redis_url
    if url is None:
        raise fail("cache: set REDIS_URL (without Redis the cache lives inside each server process)")
    return RedisStore(redis_client(url))


@cache_app.command("clear")
def cache_clear(tenant: Annotated[str | None, typer.Option(help="Only this tenant's entries.")] = None) -> None:
    """Remove cached answers (all, or one tenant's)."""
    store = _store()

    async def run() -> int:
        try:
            return int(await store.clear(tenant))
        finally:
            await store.redis.aclose()

    typer.echo(f"removed {asyncio.run(run())} cached entries" + (f" of tenant {tenant}" if tenant else ""))


@cache_app.command("stats")
def cache_stats() -> None:
    """Entries by kind (exact, semantic) and the bytes of the stored answers; the same lines when empty."""
    store = _store()

    async def run() -> Any:
        try:
            return await store.stats()
        finally:
            await store.redis.aclose()

    stats = asyncio.run(run())
    for kind, count in stats.entries.items():
        typer.echo(f"{kind + ' entries':<20} {count}")
    typer.echo(f"{'bytes':<20} {stats.bytes}")
