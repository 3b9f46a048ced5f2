"""`switchboard incident`: what happened, reconstructed from the request and operation records of one or more
gateways' logs.

Per provider and target: when errors began and ended (exact times, and minute buckets by outcome), when
breakers opened, when the target was out of rotation (drained or forced open) and when it answered again;
failovers and where the traffic went; deadline misses; the requests and tenants affected; the extra cost of
failing over (each failed-over request's cost against what its first target would have cost for the same
tokens, at the config's prices); and the drains, restores and reloads, in one timeline.

The incident runs from the first error to the last one, or, when a target was taken out of rotation during
its errors, to when it was put back (no traffic reached it meanwhile, so its errors say nothing of when it
recovered). Attempt times come from each record: its end (`timestamp`) less its latency is its start, and
each step of its path starts after the waits and latencies of the steps before it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard.core.outcome import RETRYABLE, Outcome
from switchboard.core.response import Usage
from switchboard.operations.logfiles import record_time
from switchboard.pricing import ModelPrice, cost_usd

# What counts as an error of the target: its own failures, and its breaker turning traffic away.
ERRORS = frozenset(o.value for o in RETRYABLE | {Outcome.AUTH_ERROR, Outcome.QUOTA_EXCEEDED, Outcome.CIRCUIT_OPEN})
OUT_OF_ROTATION = ("drain", "force_open")
Prices = Callable[[str, str], ModelPrice | None]


@dataclass
class TargetStory:
    target: str
    attempts: int = 0
    errors: int = 0
    first_error: datetime | None = None
    last_error: datetime | None = None
    first_breaker_open: datetime | None = None
    last_breaker_open: datetime | None = None
    breaker_skips: int = 0
    skipped_for_endpoint: str | None = None  # the host whose breaker turned it away, when it was the endpoint's
    drained: int = 0  # attempts skipped as drained
    held: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)  # (from, to, action)
    recovered: datetime | None = None  # first `ok` after the errors (and after it was put back)
    hosts: Counter[str] = field(default_factory=Counter)  # connection-level failures by endpoint
    details: Counter[str] = field(default_factory=Counter)  # the words of its errors
    by_minute: dict[datetime, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    ok_times: list[datetime] = field(default_factory=list)

    @property
    def end(self) -> datetime | None:
        """The end of its trouble: its last error, or when a hold placed during its errors was lifted (None
        while still held)."""
        if self.first_error is None or self.last_error is None:
            return None
        end = self.last_error
        for start, lifted, _ in self.held:
            if self.first_error - timedelta(seconds=60) <= start <= self.last_error + timedelta(seconds=60):
                if lifted is None:
                    return None
                end = max(end, lifted)
        return end


@dataclass
class Incident:
    since: datetime | None
    until: datetime | None
    records: int = 0
    operations: list[dict[str, Any]] = field(default_factory=list)
    targets: dict[str, TargetStory] = field(default_factory=dict)
    failovers: Counter[tuple[str, str]] = field(default_factory=Counter)
    failover_reasons: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    extra_cost: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    first_target_cost: float = 0.0  # what the failed-over requests would have cost on their first targets
    failed_over_cost: float = 0.0  # what they cost
    unpriced: set[str] = field(default_factory=set)
    affected: int = 0  # requests that met an error, a failover or no answer
    failed: Counter[str] = field(default_factory=Counter)  # requests without an answer, by status and code
    deadline_misses: int = 0
    tenants: Counter[str] = field(default_factory=Counter)  # affected requests per tenant
    tenants_failed: Counter[str] = field(default_factory=Counter)
    first_affected: datetime | None = None
    last_affected: datetime | None = None

    # -- the incident as a whole ----------------------------------------------------------------------
    @property
    def troubled(self) -> list[TargetStory]:
        return sorted((s for s in self.targets.values() if s.first_error is not None),
                      key=lambda s: (s.first_error, s.target))

    @property
    def began(self) -> datetime | None:
        return min((s.first_error for s in self.troubled if s.first_error), default=None)

    @property
    def ended(self) -> datetime | None:
        """The end (None while a target is still out of rotation, or when nothing went wrong)."""
        ends = [s.end for s in self.troubled]
        if not ends or any(end is None for end in ends):
            return None
        return max(end for end in ends if end is not None)

    @property
    def ongoing(self) -> list[str]:
        return [s.target for s in self.troubled if s.end is None]

    def providers(self) -> dict[str, dict[str, Any]]:
        """Per provider: its troubled targets' first and last error, and errors by outcome."""
        found: dict[str, dict[str, Any]] = {}
        for story in self.troubled:
            provider = story.target.split(":", 1)[0]
            entry = found.setdefault(provider, {"targets": [], "first_error": story.first_error,
                                                "last_error": story.last_error, "errors": Counter(), "ends": []})
            entry["targets"].append(story.target)
            entry["first_error"] = min(entry["first_error"], story.first_error)
            entry["last_error"] = max(entry["last_error"], story.last_error)
            entry["ends"].append(story.end)
            for counts in story.by_minute.values():
                entry["errors"].update({k: v for k, v in counts.items() if k in ERRORS})
        for entry in found.values():
            ends = entry.pop("ends")
            entry["end"] = None if any(end is None for end in ends) else max(ends)
        return found

    def timeline(self) -> list[tuple[datetime, str, str]]:
        """(time, what, words): errors beginning and ending, breakers opening, holds, reloads, recoveries."""
        events: list[tuple[datetime, str, str]] = []
        for story in self.troubled:
            assert story.first_error is not None and story.last_error is not None
            kinds = ", ".join(f"{k} ×{v}" for k, v in own_first(_errors(story))[:3])
            hosts = "; ".join(f"{host}: connection-level ×{n}" for host, n in story.hosts.most_common(2))
            events.append((story.first_error, story.target, f"errors begin ({kinds}" + (f"; {hosts}" if hosts
                                                                                          else "") + ")"))
            if story.first_breaker_open is not None:
                whose = f"its endpoint {story.skipped_for_endpoint}'s breaker" if story.skipped_for_endpoint else "breaker"
                events.append((story.first_breaker_open, story.target, f"{whose} open: requests skip it"))
            events.append((story.last_error, story.target, f"last error ({story.errors} in all)"))
            if story.recovered is not None:
                events.append((story.recovered, story.target, "answers again"))
        for op in self.operations:
            events.append((record_time(op), op.get("target") or "config", describe_operation(op)))
        return sorted(events, key=lambda event: event[0])


def analyse(records: Iterable[dict[str, Any]], prices: Prices, since: datetime | None = None,
            until: datetime | None = None) -> Incident:
    incident = Incident(since, until)
    requests = []
    for record in records:
        at = record_time(record)
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        incident.records += 1
        if record.get("record") == "operation":
            incident.operations.append(record)
        else:
            requests.append((at, record))
    incident.operations.sort(key=record_time)
    requests.sort(key=lambda pair: pair[0])
    for at, record in requests:
        _request(incident, at, record, prices)
    _holds(incident)
    for story in incident.targets.values():
        _recovery(story)
    return incident


def _request(incident: Incident, end: datetime, record: dict[str, Any], prices: Prices) -> None:
    path = record.get("path") or []
    clock = end - timedelta(milliseconds=float(record.get("latency_ms") or 0))
    met_error = False
    for step in path:
        clock += timedelta(milliseconds=float(step.get("wait_ms") or 0))
        at = clock
        clock += timedelta(milliseconds=float(step.get("latency_ms") or 0))
        story = incident.targets.get(step["target"])
        if story is None:
            story = incident.targets[step["target"]] = TargetStory(step["target"])
        outcome = step["outcome"]
        story.attempts += 1
        story.by_minute[at.replace(second=0, microsecond=0)][outcome] += 1
        if outcome == Outcome.OK.value:
            story.ok_times.append(at)
        elif outcome == Outcome.DRAINED.value:
            story.drained += 1
        if outcome == Outcome.CIRCUIT_OPEN.value:
            story.breaker_skips += 1
            detail = str(step.get("detail", ""))
            if not detail.startswith("breaker forced open"):
                story.first_breaker_open = story.first_breaker_open or at
                story.last_breaker_open = at
            if detail.startswith("endpoint "):
                story.skipped_for_endpoint = detail.split(" ", 2)[1]
        if outcome in ERRORS:
            met_error = True
            story.errors += 1
            story.first_error = story.first_error or at
            story.last_error = at
            if step.get("host"):
                story.hosts[step["host"]] += 1
            if step.get("detail") and outcome != Outcome.CIRCUIT_OPEN.value:
                story.details[str(step["detail"])[:120]] += 1
    status = int(record.get("status") or 0)
    answered = record.get("provider") is not None and status < 500
    first = path[0]["target"] if path else None
    to = f"{record['provider']}:{record['model']}" if record.get("provider") else None
    failed_over = answered and first is not None and to is not None and to != first
    if record.get("error") == "deadline_exceeded":
        incident.deadline_misses += 1
    if status >= 500 and path:
        incident.failed[f"{status} {record.get('error') or ''}".strip()] += 1
    if failed_over:
        assert first is not None and to is not None
        incident.failovers[(first, to)] += 1
        incident.failover_reasons[(first, to)][path[0]["outcome"]] += 1
        _price_failover(incident, record, first, to, prices)
    if met_error or failed_over or (status >= 500 and path):
        incident.affected += 1
        tenant = str(record.get("tenant") or "-")
        incident.tenants[tenant] += 1
        if status >= 500:
            incident.tenants_failed[tenant] += 1
        start = end - timedelta(milliseconds=float(record.get("latency_ms") or 0))
        incident.first_affected = min(incident.first_affected or start, start)
        incident.last_affected = max(incident.last_affected or end, end)


def _price_failover(incident: Incident, record: dict[str, Any], first: str, to: str, prices: Prices) -> None:
    provider, _, model = first.partition(":")
    price = prices(provider, model)
    if price is None:
        incident.unpriced.add(first)
        return
    usage = Usage(input_tokens=int(record.get("input_tokens") or 0), output_tokens=int(record.get("output_tokens") or 0),
                  cached_tokens=int(record.get("cached_tokens") or 0),
                  cache_write_tokens=int(record.get("cache_write_tokens") or 0))
    would = cost_usd(price, usage)
    cost = float(record.get("cost_usd") or 0.0)
    incident.first_target_cost += would
    incident.failed_over_cost += cost
    incident.extra_cost[(first, to)] += cost - would


def _holds(incident: Incident) -> None:
    """Each target's spans out of rotation, from the drain / force-open records and their restores or expiry."""
    opened: dict[str, tuple[datetime, str, datetime | None]] = {}  # scope -> (from, action, until)
    spans: list[tuple[str, datetime, datetime | None, str]] = []
    for op in incident.operations:
        at, action, scope = record_time(op), op.get("action"), op.get("target")
        if action in ("drain", "force_open", "force_closed") and scope:
            if scope in opened:
                spans.append((scope, opened[scope][0], at, opened[scope][1]))
            until = _parse(op.get("until"))
            opened[scope] = (at, str(action), until)
        elif action in ("restore", "expire"):
            for lifted in op.get("scopes") or [scope]:
                if lifted in opened:
                    spans.append((lifted, opened[lifted][0], at, opened[lifted][1]))
                    del opened[lifted]
    for scope, (start, action, until) in opened.items():
        spans.append((scope, start, until, action))  # still held at the end of the logs (or until its expiry)
    for scope, start, end, action in spans:
        if action not in OUT_OF_ROTATION:
            continue
        for story in incident.targets.values():
            if story.target == scope or story.target.split(":", 1)[0] == scope:
                story.held.append((start, end, action))


def _recovery(story: TargetStory) -> None:
    if story.last_error is None:
        return
    after = story.last_error
    for start, lifted, _ in story.held:
        if lifted is not None and start <= story.last_error + timedelta(seconds=60):
            after = max(after, lifted)
    story.recovered = next((t for t in sorted(story.ok_times) if t > after), None)


def _parse(value: object) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _errors(story: TargetStory) -> Counter[str]:
    counts: Counter[str] = Counter()
    for minute in story.by_minute.values():
        counts.update({k: v for k, v in minute.items() if k in ERRORS})
    return counts


def own_first(counts: Counter[str]) -> list[tuple[str, int]]:
    """The target's own failures before its breaker's refusals (the cause before the consequence)."""
    return sorted(counts.items(), key=lambda item: (item[0] == Outcome.CIRCUIT_OPEN.value, -item[1], item[0]))


def describe_operation(op: dict[str, Any]) -> str:
    action = op.get("action")
    who = f" by {op['by']}" if op.get("by") else ""
    why = f": {op['reason']}" if op.get("reason") else ""
    if action == "reload":
        if op.get("result") == "ok":
            changed = ", ".join(op.get("changed") or []) or "nothing"
            return f"config reloaded ({op.get('source')}{who}) on {op.get('replica')}: changed {changed}"
        return f"config reload refused ({op.get('source')}{who}) on {op.get('replica')}: {op.get('error')}"
    if action == "restore":
        return f"restored{who}{why}"
    if action == "expire":
        return f"{op.get('expired', 'hold')} expired (set by {op.get('by')}{why})"
    verb = {"drain": "drained", "force_open": "breaker forced open", "force_closed": "breaker forced closed"}
    until = f" until {op['until']}" if op.get("until") else ""
    return f"{verb.get(str(action), action)}{who}{until}{why}"


def minute(at: datetime | None) -> str:
    return at.strftime("%H:%M") if at is not None else "-"


def clock(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else "-"


def as_data(incident: Incident) -> dict[str, Any]:
    """The incident as plain data (`--json`)."""
    return {
        "window": {"since": clock(incident.since) if incident.since else None,
                   "until": clock(incident.until) if incident.until else None},
        "records": incident.records,
        "began": clock(incident.began) if incident.began else None,
        "ended": clock(incident.ended) if incident.ended else None,
        "ongoing": incident.ongoing,
        "began_minute": minute(incident.began) if incident.began else None,
        "ended_minute": minute(incident.ended) if incident.ended else None,
        "impact": {
            "requests_affected": incident.affected,
            "requests_failed": dict(incident.failed),
            "deadline_misses": incident.deadline_misses,
            "tenants": dict(incident.tenants.most_common()),
            "tenants_failed": dict(incident.tenants_failed.most_common()),
            "first_affected": clock(incident.first_affected) if incident.first_affected else None,
            "last_affected": clock(incident.last_affected) if incident.last_affected else None,
        },
        "providers": {
            name: {"targets": entry["targets"], "first_error": clock(entry["first_error"]),
                   "last_error": clock(entry["last_error"]), "end": clock(entry["end"]) if entry["end"] else None,
                   "errors": dict(entry["errors"])}
            for name, entry in incident.providers().items()},
        "targets": {
            story.target: {
                "first_error": clock(story.first_error), "last_error": clock(story.last_error),
                "end": clock(story.end) if story.end else None, "recovered": clock(story.recovered)
                if story.recovered else None, "errors": story.errors, "attempts": story.attempts,
                "breaker_opened": clock(story.first_breaker_open) if story.first_breaker_open else None,
                "breaker_skips": story.breaker_skips, "drained_skips": story.drained,
                "out_of_rotation": [{"from": clock(s), "to": clock(e) if e else None, "action": a}
                                    for s, e, a in story.held],
                "hosts": dict(story.hosts), "details": dict(story.details.most_common(5)),
                "by_minute": {minute(m): dict(c) for m, c in sorted(story.by_minute.items())},
            } for story in incident.troubled},
        "failovers": [
            {"from": first, "to": to, "requests": count, "why": dict(incident.failover_reasons[(first, to)]),
             "extra_cost_usd": round(incident.extra_cost.get((first, to), 0.0), 8)}
            for (first, to), count in incident.failovers.most_common()],
        "extra_cost_usd": round(sum(incident.extra_cost.values()), 8),
        "first_target_cost_usd": round(incident.first_target_cost, 8),
        "failed_over_cost_usd": round(incident.failed_over_cost, 8),
        "unpriced_targets": sorted(incident.unpriced),
        "operations": [{"at": op["timestamp"], "action": op.get("action"), "target": op.get("target"),
                        "by": op.get("by"), "reason": op.get("reason"), "until": op.get("until"),
                        "replica": op.get("replica"), "result": op.get("result"),
                        "summary": describe_operation(op)} for op in incident.operations],
        "timeline": [{"at": clock(at), "subject": subject, "event": words}
                     for at, subject, words in incident.timeline()],
    }
