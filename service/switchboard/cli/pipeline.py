"""`switchboard pipeline list | run NAME --INPUT VALUE ...`."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import typer

from switchboard.cli.app import (
    ConfigOption,
    fail,
    load,
    pipeline_app,
)


@pipeline_app.command("list")
def pipeline_list(config: ConfigOption = None) -> None:
    """The declared pipelines, their steps and inputs."""
    loaded = load(config)
    for name, pipeline in loaded.pipelines.items():
        typer.echo(f"{name}: {pipeline.description or ''}")
        typer.echo(f"  steps: {' > '.join(step.name for step in pipeline.steps)}")
        for input_name, spec in pipeline.inputs.items():
            need = "required" if spec.default is None else f"default: {spec.default}"
            typer.echo(f"  --{input_name.replace('_', '-')}  {spec.description or ''} ({need})")


@pipeline_app.command(
    "run", add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def pipeline_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline, e.g. blog_post (see: switchboard pipeline list).")],
    config: ConfigOption = None,
    timeout_s: Annotated[float | None, typer.Option(help="Deadline for the whole run, in seconds (0 < s <= 3600).")]
    = None,
) -> None:
    """Run a pipeline here and now; its inputs are options: --topic "..." (NAME --help lists them)."""
    from switchboard.client import Switchboard
    from switchboard.core.errors import GatewayError

    loaded = load(config)
    if name in ("--help", "-h"):
        typer.echo("Usage: switchboard pipeline run NAME [--timeout-s S] [--config FILE] --INPUT VALUE ...\n")
        typer.echo(f"  Pipelines: {', '.join(loaded.pipelines) or 'none'} (NAME --help lists a pipeline's inputs)")
        raise typer.Exit()
    pipeline = loaded.pipelines.get(name)
    if pipeline is None:
        raise fail(f"unknown pipeline '{name}'; known: {', '.join(loaded.pipelines) or 'none'}")
    if any(arg in ("--help", "-h") for arg in ctx.args):
        typer.echo(f"Usage: switchboard pipeline run {name} [--timeout-s S] [--config FILE] --INPUT VALUE ...\n")
        typer.echo(f"  {pipeline.description or ''}\n\nInputs:")
        for input_name, spec in pipeline.inputs.items():
            need = "required" if spec.default is None else f"default: {spec.default!r}"
            typer.echo(f"  --{input_name.replace('_', '-'):<16} {spec.description or ''} ({need})")
        raise typer.Exit()
    if timeout_s is not None and not 0 < timeout_s <= min(3600, loaded.timeouts.max_request_s):
        raise fail(f"--timeout-s: must be above 0 and at most {min(3600, loaded.timeouts.max_request_s):g}")
    from switchboard.pipelines.runner import resolve_inputs

    try:
        inputs = _inputs_from(ctx.args)
        resolve_inputs(name, pipeline, inputs)  # a usage error (exit 2) here, not a failed run (exit 1)
    except ValueError as error:
        raise fail(str(error)) from None
    except GatewayError as error:
        option = f"--{(error.body.error.field or '').removeprefix('inputs.').replace('_', '-')}"
        message = error.body.error.message.split(": ", 1)[-1]
        raise fail(f"pipeline run {name}: {option}: {message}") from None
    progress = _Progress()

    async def run() -> Any:
        async with Switchboard(loaded) as sb:
            return await sb.runtime.pipelines.run(name, inputs, run_id="cli", timeout_s=timeout_s,
                                                  progress=progress)

    typer.secho(f"pipeline {name}", bold=True, err=True)
    try:
        result = asyncio.run(run())
    except GatewayError as error:
        progress.end_line()
        typer.secho(f"failed: {error.body.error.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(result.output)
    typer.echo("", err=True)
    for step, response in result.steps.items():
        typer.echo(f"  {step:<12} {response.provider + '/' + response.model:<40} "
                   f"{response.usage.input_tokens:>7} in {response.usage.output_tokens:>7} out  "
                   f"${response.cost_usd:.6f}", err=True)
    totals = result.totals
    typer.echo(f"  {'total':<12} {'':<40} {totals.input_tokens:>7} in {totals.output_tokens:>7} out  "
               f"${totals.cost_usd:.6f}  ({totals.latency_ms / 1000:.1f}s)", err=True)


class _Progress:
    """Step lines on stderr, and inside a running step the chunks streamed so far (about a token each)."""

    def __init__(self) -> None:
        import time

        self._time = time.monotonic
        self.started: dict[str, float] = {}
        self._shown = 0.0
        self._open = False

    def end_line(self) -> None:
        if self._open:
            sys.stderr.write("\n")
            self._open = False

    def __call__(self, event: str, step: str, value: Any) -> None:
        now = self._time()
        if event == "started":
            self.started[step] = now
            self.end_line()
            typer.secho(f"  ... {step}", fg=typer.colors.CYAN, err=True)
        elif event == "progress":
            if now - self._shown >= 0.5:  # a line that updates twice a second, not per token
                self._shown = now
                took = now - self.started.get(step, now)
                sys.stderr.write(f"\r      {step}: {value} tokens so far, {took:.0f}s")
                sys.stderr.flush()
                self._open = True
        else:
            self.end_line()
            took = f"{now - self.started[step]:.1f}s" if step in self.started else "stored"
            typer.secho(f"  ok  {step}: {value.provider}/{value.model}, {took}, ${value.cost_usd:.6f}",
                        fg=typer.colors.GREEN, err=True)


def _inputs_from(args: list[str]) -> dict[str, str]:
    """`--name value` or `--name=value` pairs."""
    inputs: dict[str, str] = {}
    iterator = iter(args)
    for arg in iterator:
        if not arg.startswith("--"):
            raise ValueError(f"unexpected argument '{arg}': inputs are --name value")
        name, sep, value = arg[2:].partition("=")
        if not sep:
            given = next(iterator, None)
            if given is None:
                raise ValueError(f"--{name} needs a value")
            value = given
        inputs[name.replace("-", "_")] = value
    return inputs
