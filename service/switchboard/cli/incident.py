"""`switchboard incident LOG...`: an incident reconstructed from the gateways' logs, or a post-mortem draft."""

from __future__ import annotations

from typing import Annotated

import typer

from switchboard.cli.app import ConfigOption, app, fail, load
from switchboard.cli.logs import log_names, log_window, opened_logs


@app.command()
def incident(
    logs: Annotated[list[str] | None, typer.Argument(help="Log files of one or more gateways (JSON lines, plain or "
                                                     "gzip); - for stdin.")] = None,
    since: Annotated[str | None, typer.Option(help="Start: an ISO 8601 time, or a duration back from now "
                                              "(45s, 30m, 2h, 7d).")] = None,
    until: Annotated[str | None, typer.Option(help="End (exclusive), in the same forms as --since.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The analysis as JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="A post-mortem draft in Markdown (summary, impact, "
                                           "timeline, detection, response, root cause, action items).")] = False,
    config: ConfigOption = None,
) -> None:
    """An incident from the gateways' logs: its timeline, impact and extra cost; or a post-mortem draft.

    When errors began and ended per provider and target (minute buckets by outcome), breakers, failovers and
    where traffic went, deadline misses, tenants and requests affected, the extra cost of failing over (at the
    config's prices), and the drains, restores and reloads, on one timeline."""
    import orjson

    from switchboard.operations import incident as analysis
    from switchboard.operations.incident_render import render_markdown, render_text
    from switchboard.operations.logfiles import records

    if as_json and markdown:
        raise fail("incident: choose --json or --markdown, not both")
    window = log_window(since, until)
    logs = log_names(logs, "incident", "give the gateways' logs: `switchboard incident gw-1.log gw-2.log.gz`, or "
                     "pipe them: `kubectl logs ... | switchboard incident -`")
    loaded = load(config)

    def price(provider: str, model: str) -> object:
        if provider in loaded.providers and model in loaded.providers[provider].models:
            return loaded.price(provider, model)
        return None

    with opened_logs(logs, "incident") as stream:
        found = analysis.analyse(records(stream), price, window[0], window[1])  # type: ignore[arg-type]
    if not found.records:
        typer.echo("switchboard: incident: no request or operation records in the logs (lines with \"record\": "
                   "\"request\" or \"operation\" written by switchboard serve or worker)", err=True)
    if as_json:
        typer.echo(orjson.dumps(analysis.as_data(found), option=orjson.OPT_INDENT_2).decode())
    elif markdown:
        typer.echo(render_markdown(found), nl=False)
    else:
        typer.echo(render_text(found), nl=False)
