"""The embedded AWS emulator: moto's server mode (DynamoDB made atomic, see
:mod:`paysys.local.moto_atomic`) in a child process on loopback.

A child process (not a thread) so the emulator gets its own core and its own GIL; the
embedded mode, the benchmark and the subprocess-based tests use it. It dies with the
process that started it (see :mod:`paysys.local.procs`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import structlog

from paysys.local.procs import LOOPBACK, Child, free_port, start_ready, stop

log = structlog.get_logger(__name__)

MOTO_MODULE = "paysys.local.moto_atomic"  # what the emulator's command line runs


@contextlib.asynccontextmanager
async def moto_server(port: int = 0, *, ready_seconds: float = 30.0) -> AsyncIterator[str]:
    """Start moto's server on 127.0.0.1 and yield its endpoint URL; stop it on exit."""
    port = port or free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", MOTO_MODULE, "-H", LOOPBACK, "-p", str(port)]
    async with local_server("emulator", argv, f"{endpoint}/moto-api/data.json", ready_seconds):
        yield endpoint


@contextlib.asynccontextmanager
async def local_server(
    name: str,
    argv: list[str],
    ready_url: str,
    ready_seconds: float,
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    accept: Callable[[bytes], bool] | None = None,
) -> AsyncIterator[Child]:
    """Run a loopback server process for the block: wait until ``ready_url`` answers (with
    a body ``accept`` likes), stop it (SIGTERM, then SIGKILL) on exit."""
    # Its own session: a terminal's Ctrl-C reaches only us, and we stop the server after
    # the API and worker have drained.
    child = await start_ready(
        name,
        argv,
        ready_url,
        ready_seconds,
        env=env,
        log_path=log_path,
        new_session=True,
        accept=accept,
    )
    log.info("server.started", server=name, url=ready_url, pid=child.pid)
    try:
        yield child
    finally:
        await stop(child)
        log.info("server.stopped", server=name, url=ready_url)
