"""The incident (`operations.incident`) in words: the terminal report, and a post-mortem draft in Markdown with
the sections to fill in (summary, impact, timeline, detection, response, root cause, action items)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from switchboard.operations.incident import (
    ERRORS,
    Incident,
    TargetStory,
    clock,
    describe_operation,
    minute,
    own_first,
)


def _span(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "-"
    if end is None:
        return f"{clock(start)} → ongoing"
    seconds = round((end - start).total_seconds())
    return f"{clock(start)} → {clock(end)} ({seconds // 60}m {seconds % 60}s)"


def _money(value: float) -> str:
    return f"-${-value:.6f}" if value < 0 else f"${value:.6f}"


def _failed(incident: Incident) -> str:
    failed = sum(incident.failed.values())
    if not failed:
        return "none failed"
    return f"{failed} failed (" + ", ".join(f"{k} ×{v}" for k, v in incident.failed.most_common()) + ")"


def _minutes(story: TargetStory) -> list[str]:
    """The target's attempts by minute (rows) and outcome (columns), errors first."""
    outcomes: Counter[str] = Counter()
    for counts in story.by_minute.values():
        outcomes.update(counts)
    columns = sorted(outcomes, key=lambda o: (o not in ERRORS, o == "ok", -outcomes[o], o))
    header = ["minute", *columns]
    rows = [header] + [[minute(m), *(str(story.by_minute[m].get(c, 0) or "") for c in columns)]
                       for m in sorted(story.by_minute)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths,
                                                                                             strict=True)))
            for r in rows]


def _headline(incident: Incident) -> list[str]:
    began, ended = incident.began, incident.ended
    lines = [f"Incident: {_span(began, ended)}"
             + (f" · still out of rotation: {', '.join(incident.ongoing)}" if incident.ongoing else ""),
             f"  in minute buckets: {minute(began)} → {minute(ended) if ended else 'ongoing'} (UTC)"]
    providers = incident.providers()
    for name, entry in providers.items():
        kinds = ", ".join(f"{k} ×{v}" for k, v in own_first(entry["errors"]))
        lines.append(f"  {name}: errors {_span(entry['first_error'], entry['last_error'])}; "
                     f"trouble ended {clock(entry['end']) if entry['end'] else 'not yet'} · {kinds}")
    return lines


def _impact(incident: Incident) -> list[str]:
    tenants = ", ".join(f"{t} ({n})" for t, n in incident.tenants.most_common(10))
    failed_over = sum(incident.failovers.values())
    extra = sum(incident.extra_cost.values())
    lines = [(f"Requests affected: {incident.affected} (met an error or a failover) · failed over: {failed_over} · "
              f"{_failed(incident)} · deadline misses: {incident.deadline_misses}"),
             f"Tenants affected: {len(incident.tenants)}" + (f": {tenants}" if tenants else "")]
    if incident.tenants_failed:
        lines.append("  without an answer: " + ", ".join(f"{t} ({n})" for t, n in incident.tenants_failed.most_common(10)))
    lines.append(f"Extra cost of failing over: {_money(extra)} (the first targets would have cost "
                 f"{_money(incident.first_target_cost)}; the failed-over requests cost {_money(incident.failed_over_cost)})"
                 + (f" · no price for {', '.join(sorted(incident.unpriced))}" if incident.unpriced else ""))
    return lines


def _failovers(incident: Incident) -> list[str]:
    lines = []
    for (first, to), count in incident.failovers.most_common():
        why = ", ".join(f"{k} {v}" for k, v in incident.failover_reasons[(first, to)].most_common())
        lines.append(f"  {first} → {to}: {count} requests ({why}); extra cost "
                     f"{_money(incident.extra_cost.get((first, to), 0.0))}")
    return lines or ["  none"]


def render_text(incident: Incident) -> str:
    if incident.began is None:
        return (f"No errors in {incident.records} records"
                + (f" ({len(incident.operations)} operations)" if incident.operations else "") + ".\n"
                + "".join(f"  {clock(_at(op))}  {op.get('target') or 'config'}: {describe_operation(op)}\n"
                          for op in incident.operations))
    out = [*_headline(incident), "", *_impact(incident), "", "Timeline (UTC)"]
    out += [f"  {clock(at)}  {subject}: {words}" for at, subject, words in incident.timeline()]
    out += ["", "Failovers (where traffic went)", *_failovers(incident), "", "Per target"]
    for story in incident.troubled:
        out.append(f"  {story.target}: errors {_span(story.first_error, story.last_error)}"
                   + (f"; breaker open from {clock(story.first_breaker_open)}" if story.first_breaker_open else "")
                   + "".join(f"; {action.replace('_', ' ')} {_span(start, end)}" for start, end, action in story.held)
                   + (f"; answers again {clock(story.recovered)}" if story.recovered else ""))
        for host, count in story.hosts.most_common():
            out.append(f"    endpoint {host}: {count} connection-level failures (no HTTP status)")
        for detail, count in story.details.most_common(3):
            out.append(f"    ×{count} {detail}")
        out += [f"    {line}" for line in _minutes(story)]
    return "\n".join(out) + "\n"


def _at(op: dict[str, object]) -> datetime:
    from switchboard.operations.logfiles import record_time

    return record_time(op)  # type: ignore[arg-type]


def render_markdown(incident: Incident) -> str:
    """A post-mortem draft: the facts the logs give, and prompts (in _italics_) for what they cannot."""
    began, ended = incident.began, incident.ended
    troubled = incident.troubled
    targets = ", ".join(s.target for s in troubled) or "no target"
    hosts = sorted({host for s in troubled for host in s.hosts})
    drains = [op for op in incident.operations if op.get("action") in ("drain", "force_open")]
    title = f"# Post-mortem: {', '.join(incident.providers()) or 'incident'} {minute(began)}–{minute(ended)} UTC"
    errors = "; ".join(f"{k} ×{v}" for k, v in own_first(_total_errors(troubled))[:4])
    summary = (f"Between {clock(began)} and {clock(ended) if ended else '(ongoing)'} requests to {targets} failed "
               f"({errors}). {sum(incident.failovers.values())} requests failed over to other targets; "
               f"{_failed(incident)}. _One sentence on the cause and one on the fix._")
    md = [title, "", ("_Draft written by `switchboard incident --markdown` from the gateways' logs; fill in the "
                      "italic parts and delete this line._"), "", "## Summary", "", summary, "", "## Impact", ""]
    md += [f"- {line}" for line in _impact(incident)]
    md += [f"- Impact window (first to last affected request): {_span(incident.first_affected, incident.last_affected)}",
           "- _Customer-visible effects (latency, errors) and any SLO budget spent._", "", "## Timeline (UTC)", "",
           "| Time | Subject | Event |", "|---|---|---|"]
    md += [f"| {clock(at)} | {subject} | {words.replace('|', '/')} |" for at, subject, words in incident.timeline()]
    md += ["| _time_ | alert | _when each alert fired and resolved (Alertmanager)_ |", "", "## Detection", "",
           f"- First error in the logs: {clock(began)}.",
           "- _Which alert fired first, and when (time to detect = alert time − first error)._",
           "- _Did the alert fire within its `for` window? Was anything noticed earlier by other means?_",
           "", "## Response", ""]
    if drains:
        first = drains[0]
        md.append(f"- First mitigation: {describe_operation(first)} at {clock(_at(first))} "
                  f"(time to mitigate from the first error: {_since(began, first)}).")
    md += [f"- {clock(_at(op))}: {op.get('target') or 'config'}: {describe_operation(op)}" for op in incident.operations]
    md += ["- Failovers (where traffic went):", *[f"  - {line.strip()}" for line in _failovers(incident)],
           "- _What worked, what was slow, what was confusing._", "", "## Root cause", ""]
    if hosts:
        md.append(f"- Connection-level failures (no HTTP status) to {', '.join(hosts)}: the endpoint itself was "
                  "unreachable (refused, DNS, TLS or reset).")
    for story in troubled:
        for detail, count in story.details.most_common(2):
            md.append(f"- {story.target}: ×{count} `{detail}`")
    md += ["- _The cause, and why it caused this (the provider's incident report, a change on our side)._", "",
           "## Action items", "",
           "- [ ] _Prevent: what would stop this from happening again._",
           "- [ ] _Detect: should an alert have fired sooner? Change its rule and its promtool test together._",
           "- [ ] _Mitigate: could failover or a drain have come sooner or cheaper (chains, breaker settings)?_",
           "- [ ] Check nothing is left drained or forced: `switchboard targets list`.", ""]
    return "\n".join(md)


def _since(began: datetime | None, op: dict[str, object]) -> str:
    if began is None:
        return "-"
    seconds = int((_at(op) - began).total_seconds())
    return f"{seconds // 60}m {seconds % 60}s"


def _total_errors(stories: list[TargetStory]) -> Counter[str]:
    total: Counter[str] = Counter()
    for story in stories:
        for counts in story.by_minute.values():
            total.update({k: v for k, v in counts.items() if k in ERRORS})
    return total
