"""A fault-injecting HTTP proxy in front of the emulator, request by request.

``HttpFaults(target, rule)`` reads each HTTP/1.1 request whole, asks ``rule(request)`` what to
do, and does it:

- ``PASS``: forward it, answer the backend's reply;
- ``ERROR`` / ``THROTTLE`` (fail before commit): answer the service's own 500 internal error
  or 400 throttling error (DynamoDB: ``ProvisionedThroughputExceededException``) without
  forwarding: nothing reached the backend;
- ``DROP_REPLY`` (commit, then lose the reply): forward it, then hold the connection
  unanswered until the client gives up (its timeout);
- ``RESET`` (commit, then reset): forward it, then abort the connection (a TCP reset);
- ``DELAY``: forward it after ``delay_seconds`` (keep that below the client's timeout);
- ``REFUSE``: close the connection without forwarding; ``HOLD``: hold it, never forwarded.

:func:`operation` names the AWS operation of a request (``dynamodb:PutItem``,
``sqs:ReceiveMessage``, ``sns:PublishBatch``): DynamoDB and SQS (JSON protocol, as botocore
sends it) by their ``X-Amz-Target`` header, SNS (query protocol) by its ``Action`` form field;
the service from the SigV4 credential scope of ``Authorization``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit


class Fault(enum.Enum):
    PASS = "pass"  # noqa: S105 - a fault kind, not a password
    ERROR = "error"
    THROTTLE = "throttle"
    DROP_REPLY = "drop_reply"
    RESET = "reset"
    DELAY = "delay"
    REFUSE = "refuse"
    HOLD = "hold"


Rule = Callable[[bytes], Fault]
# A held connection is closed after this long even if its client never gives up.
HOLD_CAP_SECONDS = 120.0


class HttpFaults:
    def __init__(self, target: str, rule: Rule, *, delay_seconds: float = 0.5) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rule = rule
        self.delay_seconds = delay_seconds
        self.seen: Counter[Fault] = Counter()
        self._server: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> HttpFaults:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is None:
            return
        for writer in list(self._held):
            writer.close()
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, OSError):
            while request := await _read_message(reader):
                fault = self.rule(request)
                self.seen[fault] += 1
                if fault in (Fault.HOLD, Fault.REFUSE):
                    if fault is Fault.HOLD:
                        await self._hold(reader, writer)
                    break
                if fault in (Fault.ERROR, Fault.THROTTLE):
                    writer.write(error_reply(service_of(request), fault))
                    await writer.drain()
                    continue
                if fault is Fault.DELAY:
                    await asyncio.sleep(self.delay_seconds)
                reply = await self._forward(request)
                if fault is Fault.DROP_REPLY:  # the backend has it; the client never hears
                    await self._hold(reader, writer)
                    break
                if fault is Fault.RESET:
                    writer.transport.abort()
                    return
                writer.write(reply)
                await writer.drain()
        writer.close()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Keep the connection open, unanswered, until the client closes it (or the cap)."""
        self._held.add(writer)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HOLD_CAP_SECONDS):
                    await reader.read()
        finally:
            self._held.discard(writer)

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
    length = int(_headers(head).get("content-length", "0") or 0)
    return head + (await reader.readexactly(length) if length else b"")


def _headers(head: bytes) -> dict[str, str]:
    """The header fields of a message head, names in lower case."""
    fields: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower().decode(errors="replace")] = value.strip().decode(
            errors="replace"
        )
    return fields


def dynamodb_operation(request: bytes) -> str:
    """The DynamoDB operation a request calls (its X-Amz-Target), or ""."""
    target = _headers(request.partition(b"\r\n\r\n")[0]).get("x-amz-target", "")
    return target.rpartition(".")[2]


def service_of(request: bytes) -> str:
    """The service a signed AWS request is for (``dynamodb``, ``sqs``, ``sns``), or ""."""
    head = request.partition(b"\r\n\r\n")[0]
    authorization = _headers(head).get("authorization", "")
    credential = authorization.partition("Credential=")[2].partition(",")[0]
    parts = credential.split("/")  # key/date/region/service/aws4_request
    return parts[3] if len(parts) >= 5 else ""


def operation(request: bytes) -> str:
    """``service:Operation`` of an AWS request, e.g. ``dynamodb:PutItem``; ``?`` unknown."""
    head, _, body = request.partition(b"\r\n\r\n")
    name = _headers(head).get("x-amz-target", "").rpartition(".")[2]
    if not name:  # the query protocol (SNS): Action in the form body or the query string
        query = (
            urlsplit(head.split(b" ", 2)[1].decode(errors="replace")).query if b" " in head else ""
        )
        form = parse_qs(body.decode(errors="replace")) | parse_qs(query)
        name = (form.get("Action") or ["?"])[0]
    return f"{service_of(request) or '?'}:{name}"


_JSON_ERRORS = {  # service → (__type prefix, throttling code, internal error code)
    "dynamodb": (
        "com.amazonaws.dynamodb.v20120810",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
    ),
    "sqs": ("com.amazonaws.sqs", "ThrottlingException", "InternalError"),
}


def error_reply(service: str, fault: Fault) -> bytes:
    """The whole HTTP reply of a throttling (400) or internal (500) error of ``service``."""
    throttle = fault is Fault.THROTTLE
    status = b"400 Bad Request" if throttle else b"500 Internal Server Error"
    if service in _JSON_ERRORS:
        prefix, throttling, internal = _JSON_ERRORS[service]
        code = throttling if throttle else internal
        body = json.dumps({"__type": f"{prefix}#{code}", "message": "injected"}).encode()
        content_type = b"application/x-amz-json-1.0"
    else:  # the query protocol's XML (SNS)
        code, kind = ("Throttling", "Sender") if throttle else ("InternalError", "Receiver")
        body = (
            '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
            f"<Type>{kind}</Type><Code>{code}</Code><Message>injected</Message></Error>"
            "<RequestId>chaos</RequestId></ErrorResponse>"
        ).encode()
        content_type = b"text/xml"
    head = (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type
        + b"\r\nContent-Length: " + str(len(body)).encode()
        + b"\r\nx-amzn-RequestId: chaos\r\nConnection: keep-alive\r\n\r\n"
    )  # fmt: skip
    return head + body
