"""`switchboard serve` (the HTTP service) and `switchboard worker` (pipeline jobs from the queue)."""

from __future__ import annotations

from typing import Annotated, Any

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
    workers: Annotated[int | None, typer.Option(min=1, max=256, envvar="SWITCHBOARD_WORKERS", help="Processes "
                                                "serving the port (default: one per available core; 1 in a "
                                                "container limited to one CPU).")] = None,
    insecure_no_auth: Annotated[bool, typer.Option("--insecure-no-auth", help="Serve without API keys on a "
                                                   "non-loopback address (deliberately).")] = False,
    config: ConfigOption = None,
) -> None:
    """Start the HTTP service."""
    import os

    from switchboard.http import workers as supervision

    count = workers or supervision.available_cpus()
    if count > 1:
        supervision.prepare_metrics_dir()  # before any metric exists: every worker's go to files there
        os.environ[supervision.COUNT_ENV] = str(count)
    from switchboard.callers.auth import check_admin_key
    from switchboard.config import ConfigError, config_source
    from switchboard.http.server import PortInUse, bind
    from switchboard.settings import Settings

    settings = Settings.from_env()
    loaded = load(config)
    if settings.admin_key is not None:
        try:
            check_admin_key(settings.admin_key)
        except ConfigError as error:
            raise fail(str(error)) from None
    if not settings.auth and not loopback(host) and not insecure_no_auth:
        raise fail(f"refusing to serve on {host} without authentication: set SWITCHBOARD_ADMIN_KEY (or "
                   "SWITCHBOARD_ADMIN_KEY_SECRET_ARN), or pass --insecure-no-auth deliberately")
    try:
        sock = bind(host, port, "--port")
        metrics_sock = bind(host, metrics_port, "--metrics-port") if metrics_port else None
    except PortInUse as error:
        raise fail(str(error)) from None
    shown = f"[{host}]" if ":" in host else host
    auth = "on" if settings.auth else "off (every endpoint open, /metrics too)"
    banner = (f"http://{shown}:{port} · config: {config_source(config, settings.env)} · auth: {auth}"
              + (f" · metrics: :{metrics_port}/metrics" if metrics_port else ""))
    if count == 1:
        _serve_here(sock, metrics_sock, banner, loaded, settings, config)
        return
    # Several workers: the port was free (checked above, without SO_REUSEPORT, so no other server shares it);
    # each worker now binds its own socket to it.
    sock.close()
    if metrics_sock is not None:
        metrics_sock.close()

    def work(index: int, ready: Any) -> None:
        import signal

        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        own = bind(host, port, "--port", reuse_port=True)
        own_metrics = bind(host, metrics_port, "--metrics-port", reuse_port=True) if metrics_port else None
        _serve_here(own, own_metrics, banner, loaded, Settings.from_env(), config, ready)

    supervisor = supervision.Supervisor(count, work)
    try:
        started = supervisor.start()
    except RuntimeError as error:
        raise fail(str(error), 1) from None
    typer.echo(f"switchboard: listening on {banner} · workers: {count} · {started[0]}", err=True)
    code = supervisor.run()
    typer.echo(f"switchboard: stopped ({count} workers drained their requests in flight)", err=True)
    raise typer.Exit(code)


def _serve_here(sock: Any, metrics_sock: Any, banner: str, loaded: Any, settings: Any, config: Any,
                ready: Any = None) -> None:
    """Serve in this process (the only one, or one of several workers: then `ready` hears when it listens)."""
    from switchboard import logs
    from switchboard.http.app import App
    from switchboard.http.server import run
    from switchboard.telemetry import tracing
    from switchboard.wiring import Runtime

    logs.configure(loaded.log_level)
    tracing.configure(env=settings.env)
    run(App(Runtime(loaded, settings, config_path=config)), sock, banner, metrics_sock, ready)


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
    from celery.signals import worker_ready

    from switchboard.config import config_source

    @worker_ready.connect(weak=False)
    def ready(**_: object) -> None:  # like serve's "listening" line: one line on stderr once jobs are taken
        typer.echo(f"switchboard: worker ready · queue: {jobs.QUEUE} · pool: {pool} · concurrency: "
                   f"{concurrency} · config: {config_source(config, settings.env)}", err=True)

    worker_app(settings.redis_url, settings.job_visibility_s).worker_main(
        ["--quiet", "worker", f"--pool={pool}", f"--concurrency={concurrency}", f"--queues={jobs.QUEUE}",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle"]  # --quiet: no banner on stdout
    )
