"""What a config reload changes: the sections that differ, and those of them that only a restart applies.

A reload rebuilds what the config shapes request by request (adapters whose URL or key changed, routes, rules,
plans, retry, breakers, timeouts, pipelines, prices) and swaps it in at once; the parts built once per process
keep the config they started with: the server's limits, the cache, callers' limits and tiers, and the
upstream session's connect timeout.
"""

from __future__ import annotations

from switchboard.config import GatewayConfig

NEEDS_RESTART = ("server", "cache", "limits", "callers")


def changed_sections(old: GatewayConfig, new: GatewayConfig) -> list[str]:
    """The top-level sections whose values differ."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


def restart_needed(started: GatewayConfig, new: GatewayConfig) -> list[str]:
    """The settings in `new` that differ from what the process started with and that only a restart applies
    (the running process keeps the values it started with)."""
    needed = [name for name in changed_sections(started, new) if name in NEEDS_RESTART]
    if started.timeouts.connect_s != new.timeouts.connect_s:
        needed.append("timeouts.connect_s")
    return needed
