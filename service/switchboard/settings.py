"""The environment, read once at start-up (never at import time): everything that is not in the config file.

Provider keys and base URLs are read by their providers' variable names (the registry's, or the config's);
`Settings.env` keeps the snapshot for that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

ADMIN_KEY_ENV = "SWITCHBOARD_ADMIN_KEY"
ADMIN_KEY_ARN_ENV = "SWITCHBOARD_ADMIN_KEY_SECRET_ARN"


@dataclass(frozen=True)
class Settings:
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    redis_url: str | None = field(repr=False, default=None)  # may carry a password
    admin_key: str | None = field(repr=False, default=None)
    admin_key_arn: str | None = None
    keys_file: str | None = None  # keys without Redis: hashes written by `keys create --keys-file`
    secret_refresh_s: float = 300.0
    job_visibility_s: float = 3600.0
    telemetry: bool = True  # SWITCHBOARD_TELEMETRY=off: no log line, metrics or spans (to measure their cost)
    prometheus_multiprocess: bool = False
    workers: int = 1  # processes serving the port (`serve --workers`); this is one of them

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            env=env,
            redis_url=env.get("REDIS_URL") or None,
            admin_key=env.get(ADMIN_KEY_ENV) or None,
            admin_key_arn=env.get(ADMIN_KEY_ARN_ENV) or None,
            keys_file=env.get("SWITCHBOARD_KEYS_FILE") or None,
            secret_refresh_s=float(env.get("SWITCHBOARD_SECRET_REFRESH_S") or 300),
            job_visibility_s=float(env.get("SWITCHBOARD_JOB_VISIBILITY_S") or 3600),
            telemetry=(env.get("SWITCHBOARD_TELEMETRY") or "on").lower() != "off",
            prometheus_multiprocess=bool(env.get("PROMETHEUS_MULTIPROC_DIR")),
            workers=int(env.get("SWITCHBOARD_WORKER_COUNT") or 1),
        )

    @property
    def auth(self) -> bool:
        """Authentication is on when an admin key is configured (directly or in Secrets Manager)."""
        return bool(self.admin_key or self.admin_key_arn)
