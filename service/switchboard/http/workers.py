"""`switchboard serve --workers N`: N processes serving one port, each its own event loop and runtime.

Each worker binds the port with SO_REUSEPORT, so the kernel spreads connections across them (no shared accept
queue, no thundering herd). Shared state goes through Redis as with replicas; without Redis each worker keeps
its own (breakers, limits, the cache) and `/readyz` says so. Prometheus metrics are merged across workers with
prometheus-client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, cleared at start: a directory left by an
earlier run would be summed in), so any worker's `/metrics` answers for all of them.

The supervisor (this process) prints one start line when every worker listens and one stop line when all have
stopped; it passes SIGTERM (each worker drains its requests in flight within `server.shutdown_grace_s`) and
SIGHUP (each reloads its config) on, and starts a worker again if one dies.

Why not gunicorn or uvicorn's own `--workers`: the service binds its sockets itself (to name the option at
fault when a port is taken, and for the metrics port), runs its own uvicorn server subclass (request-head
limits, the drain), and needs the merged-metrics directory handled before any metric is created.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

WORKERS_ENV = "SWITCHBOARD_WORKERS"
COUNT_ENV = "SWITCHBOARD_WORKER_COUNT"  # set for the workers: how many there are (for /readyz)
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
START_TIMEOUT_S = 120.0


def available_cpus() -> int:
    """The cores this process may use: its CPU affinity, bounded by a cgroup CPU limit (a container's)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit()
    return max(1, min(cores, math.ceil(limit)) if limit else cores)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU limit of this cgroup in cores (cgroup v2 `cpu.max`, or v1's quota and period); None: unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def prepare_metrics_dir() -> Path:
    """The merged-metrics directory, empty: `PROMETHEUS_MULTIPROC_DIR` when set (cleared of an earlier run's
    files), else a new temporary one. Must run before any metric is created (before importing the app)."""
    given = os.environ.get(METRICS_DIR_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path
    path = Path(tempfile.mkdtemp(prefix="switchboard-metrics-"))
    os.environ[METRICS_DIR_ENV] = str(path)
    return path


class Supervisor:
    """Start `count` workers (`target(index, ready)` in a forked process, which sends one message on `ready`
    when it listens), keep them running, and stop them all on SIGTERM or SIGINT."""

    def __init__(self, count: int, target: Callable[[int, Connection], None]) -> None:
        self.count = count
        self._target = target
        self._context = multiprocessing.get_context("fork")
        self._workers: dict[int, Any] = {}
        self._stopping = False
        self._signalled: list[int] = []

    def _start(self, index: int) -> Connection:
        receiving, sending = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_orphan_proof, args=(self._target, os.getpid(), index, sending),
                                        name=f"switchboard-{index}", daemon=False)
        process.start()
        sending.close()
        self._workers[index] = process
        return receiving

    def start(self) -> list[Any]:
        """Start every worker; the messages they sent once listening. Raises RuntimeError if one fails first."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda number, _frame: self._signalled.append(number))
        pipes = {index: self._start(index) for index in range(self.count)}
        messages: dict[int, Any] = {}
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(messages) < self.count:
            if self._signalled:
                self.stop()
                raise RuntimeError("stopped while the workers were starting")
            waiting = [pipe for index, pipe in pipes.items() if index not in messages]
            for pipe in wait(waiting, timeout=0.2):
                index = next(i for i, p in pipes.items() if p is pipe)
                try:
                    messages[index] = pipe.recv()
                except EOFError:
                    self.stop()
                    raise RuntimeError(f"worker {index} exited before it listened "
                                       f"(exit code {self._workers[index].exitcode})") from None
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the workers did not all listen within {START_TIMEOUT_S:g}s")
        for pipe in pipes.values():
            pipe.close()
        return [messages[index] for index in range(self.count)]

    def run(self) -> int:
        """Until SIGTERM or SIGINT: pass SIGHUP on, start a worker again when one dies. Then stop them all."""
        while True:
            for number in self._take_signals():
                if number == signal.SIGHUP:
                    self._each(signal.SIGHUP)
                else:
                    return self.stop()
            sentinels = {process.sentinel: index for index, process in self._workers.items()}
            for sentinel in wait(list(sentinels), timeout=0.5):
                if self._signalled:
                    break  # a stop signal came with it: stopping, not starting again
                index = sentinels[sentinel]  # type: ignore[index]
                dead = self._workers[index]
                dead.join()
                _forget(dead.pid)
                print(f"switchboard: worker {index} (pid {dead.pid}) exited with {dead.exitcode}; starting it "
                      "again", file=sys.stderr, flush=True)
                self._start(index).close()

    def _take_signals(self) -> list[int]:
        taken, self._signalled[:] = list(self._signalled), []
        return taken

    def _each(self, sig: int) -> None:
        for process in self._workers.values():
            if process.is_alive():
                os.kill(process.pid, sig)

    def stop(self) -> int:
        """SIGTERM to every worker, then wait for each to drain and exit; the worst exit code."""
        self._stopping = True
        self._each(signal.SIGTERM)
        codes = []
        for process in self._workers.values():
            process.join()
            _forget(process.pid)
            # uvicorn raises the signal it caught again once it has drained: killed by our SIGTERM is a clean end
            codes.append(0 if process.exitcode in (0, -signal.SIGTERM, -signal.SIGINT) else abs(process.exitcode or 0))
        return max(codes, default=0)


def _orphan_proof(target: Callable[[int, Connection], None], supervisor: int, index: int, ready: Connection) -> None:
    """A worker that ends with its supervisor: Linux sends it SIGTERM (a drain) if the supervisor dies, even by
    SIGKILL, so no worker is left serving the port on its own."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the supervisor's own SIGTERM handling still stops its workers
    if os.getppid() != supervisor:  # it died between the fork and the line above
        return
    target(index, ready)


def _forget(pid: int | None) -> None:
    """A worker's live gauges (requests in flight) stop counting when it has gone."""
    if pid is not None and os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def remove_metrics_dir(path: Path, created: bool) -> None:
    if created:
        shutil.rmtree(path, ignore_errors=True)
