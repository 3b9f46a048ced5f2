"""`switchboard targets list | drain | restore | force`: take providers and targets out of rotation and put them
back, on every replica of a running gateway, through its admin API."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from switchboard.cli.admin_api import DEFAULT_URL, UrlOption, call
from switchboard.cli.app import app, fail

targets_app = typer.Typer(no_args_is_help=True, help="Drain, restore and force targets on a running gateway "
                          "(every replica, through Redis); list every target's state.")
app.add_typer(targets_app, name="targets")

TargetArgument = Annotated[str, typer.Argument(help="A provider (openai: all its models) or one target "
                                               "(openai:gpt-5.4).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (it goes on the timeline).")]
ForOption = Annotated[str | None, typer.Option("--for", help="Lift it by itself after this long (30m, 2h, 1d); "
                                               "default: until restored.")]


def _scope(target: str) -> dict[str, Any]:
    provider, _, model = target.partition(":")
    if not provider:
        raise fail(f"TARGET: '{target}' is not a provider (openai) or provider:model (openai:gpt-5.4)")
    return {"provider": provider, "model": model or None, "by": _operator()}


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _seconds(duration: str | None) -> float | None:
    if duration is None:
        return None
    from switchboard.callers.keys import parse_duration

    try:
        return parse_duration(duration)
    except ValueError as error:
        raise fail(f"--for: {error}") from None


def _told(result: dict[str, Any], verb: str) -> None:
    hold = result["hold"]
    until = f" until {hold['until']}" if hold["until"] else " until restored"
    typer.echo(f"{verb} {hold['scope']}{until} ({', '.join(result['targets'])}): {hold['reason']}")
    if result.get("replaced"):
        typer.echo(f"  (replaces: {result['replaced']['action']} by {result['replaced']['by']})")
    typer.echo(f"  {result['sharing']}")


@targets_app.command("drain")
def drain(target: TargetArgument, reason: ReasonOption, for_: ForOption = None, url: UrlOption = DEFAULT_URL) -> None:
    """Take a provider or one target out of rotation: requests skip it (outcome `drained`)."""
    result = call(url, "POST", "/admin/targets/drain", {**_scope(target), "reason": reason, "for_s": _seconds(for_)})
    _told(result, "drained")


@targets_app.command("force")
def force(
    target: TargetArgument,
    state: Annotated[str, typer.Option("--state", help="open: skip it as if its breaker were open; closed: call "
                                       "it whatever its breaker says.")],
    reason: ReasonOption,
    for_: ForOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Force a provider's or target's breaker open or closed."""
    if state not in ("open", "closed"):
        raise fail(f"--state: '{state}' is not open or closed")
    result = call(url, "POST", "/admin/targets/force",
                  {**_scope(target), "state": state, "reason": reason, "for_s": _seconds(for_)})
    _told(result, f"forced {state}")


@targets_app.command("restore")
def restore(
    target: TargetArgument,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (it goes on the timeline).")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Put a provider (and each of its targets) or one target back into rotation: lifts drains and forces."""
    result = call(url, "POST", "/admin/targets/restore", {**_scope(target), "reason": reason})
    lifted = result["restored"]
    if not lifted:
        typer.echo(f"nothing was held on {target}; its targets: {', '.join(result['targets'])}")
    for hold in lifted:
        typer.echo(f"restored {hold['scope']} (was {hold['action']} by {hold['by']}: {hold['reason']})")
    typer.echo(f"  {result['sharing']}")


@targets_app.command("list")
def list_targets(
    as_json: Annotated[bool, typer.Option("--json", help="The admin API's JSON as is.")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Every target: state, breaker, hold (by whom, why, until), and the replica's recent error rate and p50."""
    data = call(url, "GET", "/admin/targets")
    if as_json:
        import orjson

        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    rows = [("TARGET", "STATE", "BREAKER", "ERRORS", "P50", "HOLD")]
    for row in data["targets"]:
        recent = row.get("recent") or {}
        rate = recent.get("error_rate")
        errors = f"{rate:.0%} of {recent['attempts']}" if rate is not None else "-"
        p50 = f"{recent['p50_ms']:.0f} ms" if recent.get("p50_ms") is not None else "-"
        hold = row.get("hold")
        held = (f"{hold['action']} by {hold['by']} until {hold['until'] or 'restored'}: {hold['reason']}"
                if hold else "")
        rows.append((row["target"], row["state"], row["breaker"], errors, p50, held))
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for r in rows:
        typer.echo("  ".join(str(c).ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5])
    down = [e for e in data["endpoints"] if e["breaker"] != "closed" or e["connection_failures"]]
    for endpoint in down:
        typer.echo(f"endpoint {endpoint['host']} ({', '.join(endpoint['providers'])}): breaker {endpoint['breaker']}, "
                   f"{endpoint['connection_failures']} connection failures recently "
                   f"(last {endpoint['last_connection_failure'] or '-'})")
    window = data["targets"][0]["recent"]["window_s"] if data["targets"] else 0
    typer.echo(f"replica {data['replica']} (errors and p50 over its last {window:.0f} s) · holds {data['sharing']}")
