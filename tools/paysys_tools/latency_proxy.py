"""A TCP proxy that delays every client→server chunk by a fixed time.

It stands in for the network round trip of real AWS in front of a local emulator: each
request reaches the emulator ``delay`` later than it was sent (a delay line, so pipelined or
concurrent requests are not serialised), responses come back at once. It runs in its own
process (``python -m paysys_tools.latency_proxy``) so it neither steals the benchmark's
event loop nor shares its GIL; :func:`latency_proxy` starts one and yields its URL.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from typing import cast
from urllib.parse import urlsplit

from paysys.errors import BackendUnavailable
from paysys.local.procs import LOOPBACK, start, stop
from paysys.runtime.eventloop import loop_factory


class _Upstream(asyncio.Protocol):
    """The proxy's connection to the emulator: responses go straight back to the client."""

    def __init__(self, client: _Client) -> None:
        self._client = client

    def data_received(self, data: bytes) -> None:
        self._client.reply(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.close()


class _Client(asyncio.Protocol):
    """One client connection: its bytes are written upstream ``delay`` after they arrived."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self._upstream_addr = upstream
        self._delay = delay
        self._pending: collections.deque[tuple[float, bytes]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._upstream: asyncio.Transport | None = None
        self._closed = False
        self._connecting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            upstream, _ = await loop.create_connection(
                lambda: _Upstream(self), *self._upstream_addr
            )
        except OSError:
            self.close()
            return
        if self._closed:
            upstream.close()
            return
        self._upstream = upstream
        self._flush()

    def data_received(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self._pending.append((loop.time() + self._delay, data))
        if self._timer is None:
            self._timer = loop.call_at(self._pending[0][0], self._flush)

    def _flush(self) -> None:
        self._timer = None
        upstream = self._upstream
        if upstream is None or self._closed:
            return  # _connect flushes once the upstream connection is open
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._pending and self._pending[0][0] <= now:
            upstream.write(self._pending.popleft()[1])
        if self._pending:
            self._timer = loop.call_at(self._pending[0][0], self._flush)

    def reply(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for transport in (self._transport, self._upstream):
            if transport is not None:
                transport.close()


async def serve(upstream_url: str, delay_ms: float, port: int = 0) -> asyncio.Server:
    """Listen on 127.0.0.1 and forward to ``upstream_url`` (http only) with the delay."""
    parts = urlsplit(upstream_url)
    if parts.scheme != "http" or parts.hostname is None:
        raise BackendUnavailable(f"the latency proxy needs an http:// endpoint, not {upstream_url}")
    upstream = (parts.hostname, parts.port or 80)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: _Client(upstream, delay_ms / 1000), LOOPBACK, port, backlog=1024
    )


async def _run(upstream_url: str, delay_ms: float) -> None:
    server = await serve(upstream_url, delay_ms)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paysys_tools.latency_proxy")
    parser.add_argument("upstream", help="http://host:port of the emulator")
    parser.add_argument("--delay-ms", type=float, required=True)
    args = parser.parse_args(argv)
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory()) as runner,
    ):
        runner.run(_run(args.upstream, args.delay_ms))
    return 0


@contextlib.asynccontextmanager
async def latency_proxy(upstream_url: str, delay_ms: float) -> AsyncIterator[str]:
    """Run the proxy in a child process; yield ``http://127.0.0.1:<port>``."""
    argv = [sys.executable, "-m", "paysys_tools.latency_proxy", upstream_url]
    argv += ["--delay-ms", str(delay_ms)]
    child = await start("latency-proxy", argv, stdout=asyncio.subprocess.PIPE, new_session=True)
    try:
        if child.process.stdout is None:  # pragma: no cover - stdout is a pipe
            raise BackendUnavailable("latency proxy has no stdout")
        line = await asyncio.wait_for(child.process.stdout.readline(), 15)
        if not line.strip():
            raise BackendUnavailable(f"latency proxy for {upstream_url} did not start")
        yield f"http://{LOOPBACK}:{int(line)}"
    finally:
        await stop(child)


if __name__ == "__main__":
    sys.exit(main())
