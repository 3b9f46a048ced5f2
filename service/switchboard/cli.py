"""The `switchboard` command: serve, worker, pipeline, keys, cache, costs, config."""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer

from switchboard.config import CONFIG_ENV, ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Switchboard: an LLM routing gateway.")
pipeline_app = typer.Typer(no_args_is_help=True, help="List and run declared pipelines.")
keys_app = typer.Typer(no_args_is_help=True, help="Mint, list, show and revoke API keys (Redis or a keys file).")
cache_app = typer.Typer(no_args_is_help=True, help="The response cache in Redis: clear it, or show its size.")
config_app = typer.Typer(no_args_is_help=True, help="The effective config.")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(keys_app, name="keys")
app.add_typer(cache_app, name="cache")
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None, typer.Option(envvar=CONFIG_ENV, help="Config YAML, merged over the embedded defaults.")
]


def fail(message: str, status: int = 2) -> typer.Exit:
    typer.echo(f"switchboard: {message}", err=True)
    return typer.Exit(status)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"switchboard {metadata.version('switchboard')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Switchboard: an LLM routing gateway."""


def _load(config: Path | None) -> Any:
    from switchboard.config import load_config

    try:
        return load_config(config)
    except ConfigError as error:
        raise fail(f"config error: {error}") from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    metrics_port: Annotated[int | None, typer.Option(min=1, max=65535, help="Also serve /metrics, without a key, "
                                                     "on this port (keep it off the public surface).")] = None,
    insecure_no_auth: Annotated[bool, typer.Option("--insecure-no-auth", help="Serve without API keys on a "
                                                   "non-loopback address (deliberately).")] = False,
    config: ConfigOption = None,
) -> None:
    """Start the HTTP service."""
    from switchboard import logs
    from switchboard.config import config_source
    from switchboard.http.app import App
    from switchboard.http.server import PortInUse, bind, run
    from switchboard.settings import Settings
    from switchboard.telemetry import tracing
    from switchboard.wiring import Runtime

    settings = Settings.from_env()
    loaded = _load(config)
    if not settings.auth and not _loopback(host) and not insecure_no_auth:
        raise fail(f"refusing to serve on {host} without authentication: set SWITCHBOARD_ADMIN_KEY (or "
                   "SWITCHBOARD_ADMIN_KEY_SECRET_ARN), or pass --insecure-no-auth deliberately")
    try:
        sock = bind(host, port, "--port")
        metrics_sock = bind(host, metrics_port, "--metrics-port") if metrics_port else None
    except PortInUse as error:
        raise fail(str(error)) from None
    logs.configure(loaded.log_level)
    tracing.configure(env=settings.env)
    app_ = App(Runtime(loaded, settings))
    shown = f"[{host}]" if ":" in host else host
    auth = "on" if settings.auth else "off"
    banner = (f"http://{shown}:{port} · config: {config_source(config, settings.env)} · auth: {auth}"
              + (f" · metrics: :{metrics_port}/metrics" if metrics_port else ""))
    run(app_, sock, banner, metrics_sock)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Jobs run at once (worker processes).")] = 4,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, solo or threads.")] = "prefork",
    config: ConfigOption = None,
) -> None:
    """Run pipeline jobs from the queue (Celery on REDIS_URL)."""
    import os

    from switchboard.pipelines import jobs
    from switchboard.pipelines.worker import worker_app
    from switchboard.settings import Settings

    if pool not in ("prefork", "solo", "threads"):
        raise fail(f"--pool: '{pool}' is not prefork, solo or threads")
    settings = Settings.from_env()
    if settings.redis_url is None:
        raise fail("worker: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    _load(config)  # fail now, not on the first job
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)
    worker_app(settings.redis_url, settings.job_visibility_s).worker_main(
        ["--quiet", "worker", f"--pool={pool}", f"--concurrency={concurrency}", f"--queues={jobs.QUEUE}",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle"]  # --quiet: no banner on stdout
    )


# -- pipelines -------------------------------------------------------------------------------------------
@pipeline_app.command("list")
def pipeline_list(config: ConfigOption = None) -> None:
    """The declared pipelines, their steps and inputs."""
    loaded = _load(config)
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
    from switchboard import Switchboard
    from switchboard.errors import GatewayError

    loaded = _load(config)
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
    try:
        inputs = _inputs_from(ctx.args)
    except ValueError as error:
        raise fail(str(error)) from None
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


# -- keys ------------------------------------------------------------------------------------------------
KeysFileOption = Annotated[Path | None, typer.Option("--keys-file", envvar="SWITCHBOARD_KEYS_FILE",
                                                     help="Keys without Redis: a file of key hashes.")]


def _keys(keys_file: Path | None) -> tuple[Any, Any]:
    """(key store, settings): Redis when REDIS_URL is set, else the keys file."""
    from switchboard.callers.store import FileKeyStore, RedisKeyStore
    from switchboard.settings import Settings
    from switchboard.wiring import redis_client

    settings = Settings.from_env()
    if keys_file is not None:
        return FileKeyStore(keys_file), settings
    if settings.redis_url:
        return RedisKeyStore(redis_client(settings.redis_url)), settings
    raise fail("keys: set REDIS_URL (keys shared by every replica), or pass --keys-file FILE (a single node)")


def _pepper(settings: Any) -> bytes:
    from switchboard.callers.keys import pepper

    admin_key = settings.admin_key
    if admin_key is None and settings.admin_key_arn:
        from switchboard.secrets_manager import SecretKeys

        admin_key = SecretKeys({"admin": settings.admin_key_arn}).fetch().get("admin")
    if not admin_key:
        raise fail("keys: set SWITCHBOARD_ADMIN_KEY (keys are stored as a hash keyed by it)")
    return pepper(admin_key)


async def _close(store: Any) -> None:
    client = getattr(store, "redis", None)
    if client is not None:
        await client.aclose()


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key's requests are billed to.")],
    tier: Annotated[str, typer.Option(help="Its tier (routes by tier: free, paid, ...).")],
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, help="Tokens per minute.")] = None,
    budget_usd_day: Annotated[float | None, typer.Option(min=0.000001, help="USD per day (UTC).")] = None,
    models: Annotated[str | None, typer.Option(help="provider/model it may pin, comma-separated.")] = None,
    expires: Annotated[str | None, typer.Option(help="Expiry from now: 30d, 12h, 2w.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (with \"key\" and \"id\").")] = False,
    keys_file: KeysFileOption = None,
    config: ConfigOption = None,
) -> None:
    """Mint a key. Its secret is shown once; only a keyed hash is stored."""
    import orjson
    from pydantic import ValidationError

    from switchboard.callers.admin import KeySpec, check_spec, create_key

    loaded = _load(config)
    try:
        spec = KeySpec(tenant=tenant, tier=tier, rpm=rpm, tpm=tpm, budget_usd_day=budget_usd_day,
                       models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
                       expires=expires)
        check_spec(spec, loaded)
    except (ValidationError, ValueError) as error:
        message = error.errors()[0] if isinstance(error, ValidationError) else None
        text = f"--{message['loc'][0]}: {message['msg']}".replace("_", "-", 1) if message else str(error)
        raise fail(f"keys create: {text.removeprefix('Value error, ')}") from None
    store, settings = _keys(keys_file)
    secret = _pepper(settings)

    async def create() -> Any:
        try:
            return await create_key(store, secret, spec)
        finally:
            await _close(store)

    record, key = asyncio.run(create())
    if as_json:
        typer.echo(orjson.dumps({**record.public(), "key": key}).decode())
        return
    typer.echo(f"key {record.id} for tenant {record.tenant} (tier {record.tier}):\n\n  {key}\n\n"
               "Shown once: only its hash is stored.")


@keys_app.command("list")
def keys_list(keys_file: KeysFileOption = None) -> None:
    """Every key: id, tenant, tier, limits, status."""
    store, _ = _keys(keys_file)

    async def read() -> Any:
        try:
            return await store.all()
        finally:
            await _close(store)

    for record in asyncio.run(read()):
        view = record.public()
        limits = " ".join(f"{k}={view[k]}" for k in ("rpm", "tpm", "budget_usd_day") if view[k] is not None)
        typer.echo(f"{record.id}  {record.tenant:<16} {record.tier:<8} {view['status']:<8} {limits}")


@keys_app.command("show")
def keys_show(key_id: Annotated[str, typer.Argument(help="The key's id.")], keys_file: KeysFileOption = None) -> None:
    """One key: its limits and today's usage."""
    import orjson

    from switchboard.callers.admin import show_key

    store, _ = _keys(keys_file)

    async def read() -> Any:
        try:
            return await show_key(store, key_id)
        finally:
            await _close(store)

    shown = asyncio.run(read())
    if shown is None:
        raise fail(f"keys: no key '{key_id}'", 1)
    typer.echo(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")], keys_file: KeysFileOption = None) -> None:
    """Revoke a key: every replica refuses it within about a second."""
    store, _ = _keys(keys_file)

    async def revoke() -> Any:
        try:
            return await store.revoke(key_id)
        finally:
            await _close(store)

    if asyncio.run(revoke()) is None:
        raise fail(f"keys: no key '{key_id}'", 1)
    typer.echo(f"revoked {key_id}")


# -- cache -----------------------------------------------------------------------------------------------
def _redis() -> Any:
    from switchboard.settings import Settings
    from switchboard.wiring import redis_client

    url = Settings.from_env().redis_url
    if url is None:
        raise fail("cache: set REDIS_URL (without Redis the cache lives inside each server process)")
    return redis_client(url)


@cache_app.command("clear")
def cache_clear(tenant: Annotated[str | None, typer.Option(help="Only this tenant's entries.")] = None) -> None:
    """Remove cached answers (all, or one tenant's)."""
    from switchboard.cache.admin import clear

    client = _redis()

    async def run() -> int:
        try:
            return await clear(client, tenant)
        finally:
            await client.aclose()

    typer.echo(f"removed {asyncio.run(run())} cached entries" + (f" of tenant {tenant}" if tenant else ""))


@cache_app.command("stats")
def cache_stats() -> None:
    """Entries and bytes, exact and semantic."""
    from switchboard.cache.admin import stats

    client = _redis()

    async def run() -> dict[str, Any]:
        try:
            return await stats(client)
        finally:
            await client.aclose()

    for name, value in asyncio.run(run()).items():
        typer.echo(f"{name:<20} {value}")


# -- config ----------------------------------------------------------------------------------------------
@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective config: your file merged over the embedded defaults."""
    import yaml

    loaded = _load(config)
    typer.echo(yaml.safe_dump(loaded.model_dump(mode="json", exclude_none=True), sort_keys=False), nl=False)


# -- costs -----------------------------------------------------------------------------------------------
@app.command()
def costs(
    log_file: Annotated[str | None, typer.Argument(help="The request log (JSON lines); - for stdin.")] = None,
    since: Annotated[str | None, typer.Option(help="Start: an ISO 8601 time, or a duration back from now "
                                              "(45s, 30m, 24h, 7d, 2w).")] = None,
    until: Annotated[str | None, typer.Option(help="End (exclusive), in the same forms as --since.")] = None,
    by: Annotated[str, typer.Option(help="Group by these fields, comma-separated: provider, model, route, tenant, "
                                    "tier, task_type, front_door.")] = "provider,model,route,tenant",
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table.")] = False,
) -> None:
    """Requests, tokens and cost per provider, model, route and tenant, from the request log."""
    from switchboard import costs as report

    groups = tuple(g.strip() for g in by.split(",") if g.strip())
    unknown = [g for g in groups if g not in report.GROUPS]
    if unknown or not groups:
        raise fail(f"--by: choose from {', '.join(report.GROUPS)}")
    try:
        window = [report.parse_time(t) if t else None for t in (since, until)]
    except ValueError as error:
        raise fail(f"--since/--until: {error}") from None
    if log_file is None:
        if sys.stdin.isatty():
            raise fail("costs: give the request log: `switchboard costs requests.log`, or pipe it: "
                       "`switchboard serve | tee requests.log` ... `switchboard costs - < requests.log`")
        log_file = "-"
    try:
        stream = sys.stdin if log_file == "-" else open(log_file, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as error:
        raise fail(f"costs: cannot read {log_file}: {error.strerror}") from None
    with stream:
        summary = report.summarize(stream, groups, window[0], window[1])
    if summary.lines and not summary.records:
        typer.echo(f"switchboard: costs: read {summary.lines} lines of {log_file} but found no request records "
                   "(lines with \"record\": \"request\" written by switchboard serve or worker)", err=True)
    typer.echo(report.render(summary.rows, groups, as_csv), nl=False)
