"""Every target's state in one view, for `/readyz`, `GET /admin/targets` and the start-up line: reachable at
all (a base URL, a key), an operator's hold, its endpoint's breaker and its own, and this replica's recent
attempts; and per endpoint (host), its breaker and the connection-level failures this replica saw.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from switchboard.config import GatewayConfig
from switchboard.core.hold import Holds
from switchboard.operations.recent import RecentAttempts
from switchboard.providers.base import Adapter
from switchboard.resilience.breaker import Breakers, BreakerState
from switchboard.resilience.endpoints import EndpointBreakers

USABLE = frozenset({"ready", "forced_closed"})  # states in which a target takes traffic


async def target_states(config: GatewayConfig, adapters: Mapping[str, Adapter], breakers: Breakers,
                        endpoints: EndpointBreakers, holds: Holds,
                        recent: RecentAttempts | None = None) -> list[dict[str, Any]]:
    breaker_states = await breakers.states()
    endpoint_states = await endpoints.states()
    rows = []
    for target in config.all_targets():
        adapter = adapters[target.provider]
        breaker = breaker_states.get(target.key, BreakerState.CLOSED)
        endpoint = endpoint_states.get(adapter.host or "", BreakerState.CLOSED)
        hold = holds.of(target)
        if adapter.base_url is None:
            state = "unavailable"
        elif not adapter.usable:
            state = "no_key"
        elif hold is not None and hold.action == "drain":
            state = "drained"
        elif hold is not None:
            state = "forced_open" if hold.action == "force_open" else "forced_closed"
        elif endpoint is not BreakerState.CLOSED:
            state = f"endpoint_{endpoint}"
        else:
            state = "ready" if breaker is BreakerState.CLOSED else f"breaker_{breaker}"
        row: dict[str, Any] = {"target": target.key, "provider": target.provider, "model": target.model,
                               "host": adapter.host, "state": state, "breaker": breaker.value,
                               "endpoint": endpoint.value, "hold": hold.public() if hold is not None else None}
        if recent is not None:
            row["recent"] = recent.summary(target.key)
        rows.append(row)
    return rows


def endpoints(rows: list[dict[str, Any]], recent: RecentAttempts | None = None) -> list[dict[str, Any]]:
    """Per host: its providers and targets, its breaker (`closed`, `open`, `half_open`), and the connection-level
    failures this replica saw in the recent window."""
    failures = recent.connection_failures() if recent is not None else {}
    hosts: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["host"] is None:
            continue
        entry = hosts.setdefault(row["host"], {"host": row["host"], "providers": [], "targets": 0,
                                               "breaker": row["endpoint"]})
        if row["provider"] not in entry["providers"]:
            entry["providers"].append(row["provider"])
        entry["targets"] += 1
    for entry in hosts.values():
        seen = failures.get(entry["host"])
        entry["connection_failures"] = seen["failures"] if seen else 0
        entry["last_connection_failure"] = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seen["last"]))
                                            if seen else None)
    return sorted(hosts.values(), key=lambda entry: entry["host"])
