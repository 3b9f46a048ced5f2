"""Work that must finish after the task that started it may no longer await (a cancelled request's
breaker release, its limit settlement)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

_pending: set[asyncio.Task[Any]] = set()


def background(work: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _pending.add(task)  # keep a reference until it is done
    task.add_done_callback(_pending.discard)
