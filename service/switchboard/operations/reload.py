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


def restart_needed(old: GatewayConfig, new: GatewayConfig, changed: list[str]) -> list[str]:
    """The changed settings this reload could not apply (the running process keeps the old values)."""
    needed = [name for name in changed if name in NEEDS_RESTART]
    if old.timeouts.connect_s != new.timeouts.connect_s:
        needed.append("timeouts.connect_s")
    return needed
