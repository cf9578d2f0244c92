"""Fault-injecting HTTP proxies in front of the emulator, request by request.

``HttpFaults(target, rule)`` reads each HTTP/1.1 request whole, asks ``rule(request)`` what to
do, and then forwards it and its reply (``PASS``), forwards it and drops the reply so the
client sees its connection die after the backend committed (``DROP_REPLY``), closes the
connection without forwarding (``REFUSE``), or holds it unanswered (``HOLD``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit


class Fault(enum.Enum):
    PASS = "pass"
    DROP_REPLY = "drop_reply"
    REFUSE = "refuse"
    HOLD = "hold"


Rule = Callable[[bytes], Fault]


class HttpFaults:
    def __init__(self, target: str, rule: Rule) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rule = rule
        self.seen: Counter[Fault] = Counter()
        self._server: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> HttpFaults:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        for writer in list(self._held):
            writer.close()
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, OSError):
            while request := await _read_message(reader):
                fault = self.rule(request)
                self.seen[fault] += 1
                if fault is Fault.HOLD:
                    self._held.add(writer)
                    await reader.read()  # until the client gives up
                    return
                if fault is Fault.REFUSE:
                    return
                reply = await self._forward(request)
                if fault is Fault.DROP_REPLY:
                    return  # the backend has the request; the client never hears back
                writer.write(reply)
                await writer.drain()
        writer.close()

    async def _forward(self, request: bytes) -> bytes:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        try:
            upstream_writer.write(request)
            await upstream_writer.drain()
            reply = await _read_message(upstream_reader)
        finally:
            upstream_writer.close()
        return reply.replace(b"Connection: close", b"Connection: keep-alive", 1)


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message with a Content-Length body; b"" at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + (await reader.readexactly(length) if length else b"")


def dynamodb_operation(request: bytes) -> str:
    """The DynamoDB operation a request calls (its X-Amz-Target), or ""."""
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-amz-target":
            return value.strip().decode().rpartition(".")[2]
    return ""
