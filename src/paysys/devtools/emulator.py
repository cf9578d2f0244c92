"""The embedded AWS emulator: moto's server mode in a child process on loopback.

A child process (not a thread) so the emulator gets its own core and its own GIL; the
embedded mode, the benchmark and the subprocess-based tests use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import structlog

from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def moto_server(port: int = 0, *, ready_seconds: float = 30.0) -> AsyncIterator[str]:
    """Start ``moto.server`` on 127.0.0.1 and yield its endpoint URL; stop it on exit."""
    port = port or free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    async with local_server("emulator", argv, f"{endpoint}/moto-api/data.json", ready_seconds):
        yield endpoint


@contextlib.asynccontextmanager
async def local_server(
    name: str, argv: list[str], ready_url: str, ready_seconds: float
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run a loopback server process for the block: wait until ``ready_url`` answers, stop
    it (SIGTERM, then SIGKILL) on exit."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        # Its own process group: a terminal's Ctrl-C reaches only us, and we stop the
        # server after the API and worker have drained.
        start_new_session=True,
    )
    try:
        await wait_until_up(ready_url, ready_seconds, process)
        log.info("server.started", server=name, url=ready_url, pid=process.pid)
        yield process
    finally:
        await stop_process(process)
        log.info("server.stopped", server=name, url=ready_url)


async def stop_process(process: asyncio.subprocess.Process, grace_seconds: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within the grace period."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()


async def wait_until_up(
    url: str, ready_seconds: float, process: asyncio.subprocess.Process | None = None
) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` exits."""
    deadline = time.monotonic() + ready_seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if process is not None and process.returncode is not None:
                raise BackendUnavailable(f"{url}: process exited with code {process.returncode}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise BackendUnavailable(f"{url} did not answer within {ready_seconds:.0f}s")
