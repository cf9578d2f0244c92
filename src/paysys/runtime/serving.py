"""Serving an aiohttp app with bounds a public endpoint needs.

- ``idle_timeout``: aiohttp closes a connection whose next request head has not fully arrived
  this long after the connection opened or after its previous response (its keep-alive timer
  runs from the start of the connection), so idle keep-alives and slow-header clients are cut.
- ``max_connections``: past this many open connections a new one gets a short JSON 503 and is
  closed, instead of every client slowing down together.
Deadlines for reading a body and for a handler are the API's middleware's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from aiohttp import web

from paysys.errors import RETRY_AFTER_SECONDS

log = structlog.get_logger(__name__)

_BUSY_BODY = json.dumps(
    {"error": {"code": "too_many_connections", "message": "server busy, retry later"}}
).encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: " + str(RETRY_AFTER_SECONDS).encode() + b"\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


@dataclass(frozen=True, slots=True)
class Limits:
    shutdown_seconds: float
    idle_timeout_seconds: float = 15.0
    max_connections: int = 1024


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(_BUSY)
        transport.close()


class _ConnectionCap:
    """The listening socket's protocol factory: aiohttp's, until ``limit`` are open."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self._server = server
        self._limit = limit
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self._server.connections) >= self._limit:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("http.connections_refused", limit=self._limit, total=self.refused)
            return _Refuse()
        return self._server()


@contextlib.asynccontextmanager
async def serving(app: web.Application, host: str, port: int, limits: Limits) -> AsyncIterator[int]:
    """Serve ``app`` for the duration of the block; yields the bound port. On exit: stop
    accepting, let running requests finish within ``shutdown_seconds``, close the rest."""
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=limits.shutdown_seconds,
        keepalive_timeout=limits.idle_timeout_seconds,
    )
    await runner.setup()
    listener: asyncio.Server | None = None
    try:
        if runner.server is None:  # setup() sets it; only a broken aiohttp leaves it unset
            raise RuntimeError("aiohttp runner has no server after setup")
        factory = _ConnectionCap(runner.server, limits.max_connections)
        listener = await asyncio.get_running_loop().create_server(factory, host, port)
        yield int(listener.sockets[0].getsockname()[1])
    finally:
        if listener is not None:
            listener.close()
        await runner.cleanup()
