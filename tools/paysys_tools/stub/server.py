"""The stub AWS backend: one aiohttp server answering DynamoDB, SNS and SQS at once, from
memory, keeping connections open, as fast as an answer can be made.

    python -m paysys_tools.stub -p 4599

It exists to measure paysys's own CPU per payment without an emulator's cost in the way
(``paysys bench --backend stub``) and the floor of every client call paysys makes
(:mod:`paysys_tools.bench.floors`). Dev tooling: never in the wheel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from paysys.local.emulator import local_server
from paysys.local.procs import LOOPBACK, free_port
from paysys_tools.stub.dynamodb import DynamoError, DynamoStub
from paysys_tools.stub.expressions import ExpressionError
from paysys_tools.stub.messaging import Messaging, StubError
from paysys_tools.stub.sns import sns_action

STUB_MODULE = "paysys_tools.stub"  # what the stub's command line runs
_JSON = "application/x-amz-json-1.0"
_SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"


class Stub:
    def __init__(self) -> None:
        self.dynamodb = DynamoStub()
        self.messaging = Messaging()

    async def handle(self, request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        body = await request.read()
        if target.startswith("DynamoDB_"):
            return self._dynamodb(target.split(".", 1)[1], body)
        if target.startswith("AmazonSQS."):
            base = f"{request.scheme}://{request.host}"
            return await self._sqs(target.split(".", 1)[1], body, base)
        return self._sns(dict(parse_qsl(body.decode(), keep_blank_values=True)))

    def _dynamodb(self, operation: str, body: bytes) -> web.Response:
        try:
            reply = self.dynamodb.handle(operation, json.loads(body or b"{}"))
        except DynamoError as exc:
            return _json(exc.body(), 400)
        except (ExpressionError, KeyError) as exc:
            return _json({"__type": "ValidationException", "message": str(exc)}, 400)
        return _json(reply, 200)

    async def _sqs(self, operation: str, body: bytes, base: str) -> web.Response:
        try:
            reply = await self.messaging.sqs(operation, json.loads(body or b"{}"), base)
        except StubError as exc:
            response = _json({"__type": f"com.amazonaws.sqs#{exc.code}", "message": str(exc)}, 400)
            response.headers["x-amzn-query-error"] = f"{exc.query_code};Sender"
            return response
        return _json(reply, 200)

    def _sns(self, form: dict[str, str]) -> web.Response:
        operation = form.get("Action", "")
        request_id = uuid.uuid4()
        try:
            result = sns_action(self.messaging, operation, form)
        except (StubError, KeyError) as exc:
            code, status = (
                (exc.code, exc.status) if isinstance(exc, StubError) else ("InvalidParameter", 400)
            )
            text = (
                f'<ErrorResponse xmlns="{_SNS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{exc}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            )
            return web.Response(text=text, status=status, content_type="text/xml")
        text = (
            f'<{operation}Response xmlns="{_SNS_NS}">'
            f"<{operation}Result>{result}</{operation}Result>"
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{operation}Response>"
        )
        return web.Response(text=text, content_type="text/xml")


def _json(body: dict[str, Any], status: int) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type=_JSON)


async def _ready(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app() -> web.Application:
    stub = Stub()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_get("/stub/ready", _ready)
    app.router.add_post("/{tail:.*}", stub.handle)
    return app


@contextlib.asynccontextmanager
async def stub_server(port: int = 0, *, ready_seconds: float = 30.0) -> AsyncIterator[str]:
    """Start the stub in a child process on 127.0.0.1; yield its endpoint URL."""
    port = port or free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", STUB_MODULE, "-H", LOOPBACK, "-p", str(port)]
    async with local_server("stub", argv, f"{endpoint}/stub/ready", ready_seconds):
        yield endpoint


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {STUB_MODULE}", description=__doc__)
    parser.add_argument("-H", "--host", default=LOOPBACK)
    parser.add_argument("-p", "--port", type=int, default=4599)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))
    return 0


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=True)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
