"""The `switchboard` command: serve, worker, pipeline, keys, cache, config, costs, targets, incident, router."""

# Each module registers its commands; `--help` lists them in this order.
from switchboard.cli import serve, pipeline, keys, cache, config, costs, targets, incident, router  # noqa: F401, I001
from switchboard.cli.app import app

__all__ = ["app"]
