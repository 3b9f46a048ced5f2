"""`switchboard serve` (the HTTP service) and `switchboard worker` (pipeline jobs from the queue)."""

from __future__ import annotations

from typing import Annotated

import typer

from switchboard.cli.app import (
    CONFIG_ENV,
    ConfigOption,
    app,
    fail,
    load,
    loopback,
)


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
    loaded = load(config)
    if not settings.auth and not loopback(host) and not insecure_no_auth:
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
    from switchboard.settings import Settings
    from switchboard.worker import worker_app

    if pool not in ("prefork", "solo", "threads"):
        raise fail(f"--pool: '{pool}' is not prefork, solo or threads")
    settings = Settings.from_env()
    if settings.redis_url is None:
        raise fail("worker: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    load(config)  # fail now, not on the first job
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)
    worker_app(settings.redis_url, settings.job_visibility_s).worker_main(
        ["--quiet", "worker", f"--pool={pool}", f"--concurrency={concurrency}", f"--queues={jobs.QUEUE}",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle"]  # --quiet: no banner on stdout
    )
