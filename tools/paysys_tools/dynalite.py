"""dynalite (npm, Node.js): a DynamoDB emulator 10-20x faster than moto's, for the benchmark.

Installed on first use with ``npm install dynalite`` into a cache directory
(``$XDG_CACHE_HOME/paysys/dynalite``, default ``~/.cache/paysys/dynalite``) and started on
127.0.0.1 with ``--createTableMs 0`` so provisioning does not wait for tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import structlog

from paysys.errors import BackendUnavailable
from paysys.local.emulator import local_server
from paysys.local.procs import LOOPBACK, free_port, run_to_end

log = structlog.get_logger(__name__)


def cache_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paysys" / "dynalite"


async def ensure_installed(directory: Path) -> Path:
    """Return dynalite's ``cli.js``, running ``npm install dynalite`` there if it is missing."""
    cli = directory / "node_modules" / "dynalite" / "cli.js"
    if cli.exists():
        return cli
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BackendUnavailable("--backend fast needs Node.js and npm on PATH (for dynalite)")
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    log.info("dynalite.installing", directory=str(directory))
    argv = [npm, "install", "--prefix", str(directory), "--no-audit", "--no-fund", "dynalite"]
    output = await run_to_end(argv, timeout_seconds=600)
    if not cli.exists():
        raise BackendUnavailable(f"npm install dynalite installed no {cli}: {output[-2000:]}")
    return cli


@contextlib.asynccontextmanager
async def dynalite_server(
    environ: Mapping[str, str] | None = None, *, ready_seconds: float = 30.0
) -> AsyncIterator[str]:
    """Start dynalite (in memory) on 127.0.0.1 and yield its endpoint URL; stop it on exit."""
    cli = await ensure_installed(cache_dir(os.environ if environ is None else environ))
    node = shutil.which("node") or "node"
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    argv = [node, str(cli), "--host", LOOPBACK, "--port", str(port)]
    argv += ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    async with local_server("dynalite", argv, endpoint, ready_seconds):
        yield endpoint
