"""Waiting for background work in tests: poll a condition until it holds or a deadline passes.

A fixed sleep either waits too long (slow tests) or not long enough (flaky ones on a loaded machine); polling
with a deadline does neither, and a timeout says what was awaited and what was last seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, message: str = "the condition",
               interval: float = 0.02) -> T:
    """Call `predicate` until it returns something truthy and return it; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g}s for {message}; last seen: {value!r}")
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], Awaitable[T]], timeout: float = 10.0,
                           message: str = "the condition", interval: float = 0.02) -> T:
    """`wait_until` for a coroutine predicate, sleeping on the event loop between tries."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g}s for {message}; last seen: {value!r}")
        await asyncio.sleep(interval)
