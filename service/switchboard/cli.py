"""`switchboard serve`: the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from switchboard.config import CONFIG_ENV, ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Switchboard: an LLM routing gateway.")
pipeline_app = typer.Typer(no_args_is_help=True, help="Run declared pipelines.")
app.add_typer(pipeline_app, name="pipeline")
ConfigOption = Annotated[
    Path | None, typer.Option(envvar=CONFIG_ENV, help="Routing config YAML (default: the embedded one).")
]


@app.callback()
def main() -> None:
    """Switchboard: an LLM routing gateway."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    config: ConfigOption = None,
) -> None:
    """Start the HTTP service."""
    import uvicorn

    from switchboard import logs
    from switchboard.api import create_app
    from switchboard.gateway import Switchboard
    from switchboard.telemetry import tracing

    try:
        switchboard = Switchboard.from_config(config)
    except ConfigError as error:
        typer.echo(f"switchboard: config error: {error}", err=True)
        raise typer.Exit(2) from None
    logs.configure(switchboard.config.log_level)
    tracing.configure()
    uvicorn.run(
        create_app(switchboard),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once (worker processes).")] = 4,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, solo or threads.")] = "prefork",
    config: ConfigOption = None,
) -> None:
    """Run pipeline jobs from the queue (Celery on REDIS_URL)."""
    import os

    from switchboard.config import load_config
    from switchboard.pipelines import jobs

    url = jobs.redis_url()
    if url is None:
        typer.echo("switchboard: worker: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)", err=True)
        raise typer.Exit(2)
    try:
        load_config(config)  # fail now, not on the first job
    except ConfigError as error:
        typer.echo(f"switchboard: config error: {error}", err=True)
        raise typer.Exit(2) from None
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)
    jobs.celery_app(url).worker_main(
        ["worker", f"--pool={pool}", f"--concurrency={concurrency}", f"--queues={jobs.QUEUE}",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle"]
    )


@pipeline_app.command(
    "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def pipeline_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline, e.g. blog_post.")],
    config: ConfigOption = None,
    timeout_s: Annotated[float | None, typer.Option(help="Deadline for the whole run.")] = None,
) -> None:
    """Run a pipeline here and now; its inputs are options: --topic "..." --audience "..."."""
    import asyncio

    from switchboard import logs
    from switchboard.errors import GatewayError
    from switchboard.gateway import Switchboard

    inputs = _inputs_from(ctx.args)
    logs.configure("warning")  # the terminal shows progress; request log lines would bury it
    try:
        switchboard = Switchboard.from_config(config)
    except ConfigError as error:
        typer.echo(f"switchboard: config error: {error}", err=True)
        raise typer.Exit(2) from None
    started: dict[str, float] = {}

    def progress(event: str, step: str, response: object) -> None:
        import time

        if event == "started":
            started[step] = time.monotonic()
            typer.secho(f"  ... {step}", fg=typer.colors.CYAN, err=True)
        else:
            took = f"{time.monotonic() - started[step]:.1f}s" if step in started else "stored"
            typer.secho(f"  ok  {step}: {response.provider}/{response.model}, {took}, "  # type: ignore[attr-defined]
                        f"${response.cost_usd:.6f}", fg=typer.colors.GREEN, err=True)  # type: ignore[attr-defined]

    async def run() -> object:
        async with switchboard:
            return await switchboard.pipelines.run(name, inputs, run_id="cli", timeout_s=timeout_s, progress=progress)

    typer.secho(f"pipeline {name}", bold=True, err=True)
    try:
        result = asyncio.run(run())
    except GatewayError as error:
        typer.secho(f"failed: {error.body.error.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(result.output)  # type: ignore[attr-defined]
    typer.echo("", err=True)
    for step, response in result.steps.items():  # type: ignore[attr-defined]
        typer.echo(f"  {step:<12} {response.provider + '/' + response.model:<40} "
                   f"{response.usage.input_tokens:>7} in {response.usage.output_tokens:>7} out  ${response.cost_usd:.6f}",
                   err=True)
    totals = result.totals  # type: ignore[attr-defined]
    typer.echo(f"  {'total':<12} {'':<40} {totals.input_tokens:>7} in {totals.output_tokens:>7} out  "
               f"${totals.cost_usd:.6f}  ({totals.latency_ms / 1000:.1f}s)", err=True)


def _inputs_from(args: list[str]) -> dict[str, str]:
    """`--name value` or `--name=value` pairs."""
    inputs: dict[str, str] = {}
    iterator = iter(args)
    for arg in iterator:
        if not arg.startswith("--"):
            raise typer.BadParameter(f"unexpected argument '{arg}': inputs are --name value")
        name, sep, value = arg[2:].partition("=")
        if not sep:
            value = next(iterator, None)
            if value is None:
                raise typer.BadParameter(f"--{name} needs a value")
        inputs[name.replace("-", "_")] = value
    return inputs


@app.command()
def costs(
    log_file: Annotated[str, typer.Argument(help="The request log (JSON lines); - for stdin.")] = "-",
    since: Annotated[str | None, typer.Option(help="Start: ISO time or a duration back from now (24h, 7d).")] = None,
    until: Annotated[str | None, typer.Option(help="End (exclusive): ISO time or a duration back from now.")] = None,
    by: Annotated[str, typer.Option(help="Group by these fields, comma-separated.")] = "provider,model,route,tenant",
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table.")] = False,
) -> None:
    """Requests, tokens and cost per provider, model, route and tenant, from the request log."""
    import sys

    from switchboard import costs as report

    groups = tuple(g.strip() for g in by.split(",") if g.strip())
    unknown = [g for g in groups if g not in report.GROUPS]
    if unknown or not groups:
        raise typer.BadParameter(f"--by: choose from {', '.join(report.GROUPS)}")
    try:
        window = [report.parse_time(t) if t else None for t in (since, until)]
    except ValueError as error:
        raise typer.BadParameter(f"--since/--until: {error}") from None
    try:
        stream = sys.stdin if log_file == "-" else open(log_file, encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        typer.echo(f"switchboard: costs: cannot read {log_file}: {error.strerror}", err=True)
        raise typer.Exit(2) from None
    with stream:
        rows = report.summarize(stream, groups, window[0], window[1])
    typer.echo(report.render(rows, groups, as_csv), nl=False)
