"""moto's server with DynamoDB's atomic conditional writes.

moto serves each request in a thread of its own, and its DynamoDB backend evaluates a
``ConditionExpression`` and then writes, without a lock: two requests in flight at once can
both pass one condition (one payment approved twice, a velocity budget overspent) where
DynamoDB would reject the second. ``atomic_dynamodb`` lets one DynamoDB request at a time
into moto; SNS and SQS requests stay concurrent (an SQS long poll must not hold the others
up). moto's DynamoDB work runs under one GIL anyway, so taking turns costs little.

It also mirrors a documented DynamoDB behaviour moto lacks: ``TransactWriteItems`` with a
``ClientRequestToken`` is idempotent for 10 minutes. A transaction whose token was answered
with success within that time gets the same answer again without being applied (and a token
re-sent with other items gets ``IdempotentParameterMismatchException``); a cancelled one is
not remembered (sent again, it is evaluated again).

``python -m paysys.local.moto_atomic -H HOST -p PORT`` serves it as a process (the
embedded emulator); ``MotoThread`` serves it from a thread (the test suite's emulator).
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import sys
import threading
import time
from collections.abc import Iterable
from types import FrameType
from typing import TYPE_CHECKING

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from paysys.local.procs import LOOPBACK

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

DYNAMODB_TARGET = "DynamoDB_"  # X-Amz-Target of every DynamoDB call: DynamoDB_20120810.<Op>
TRANSACT_WRITE = ".TransactWriteItems"
TOKEN_SECONDS = 600.0  # how long DynamoDB remembers a ClientRequestToken
Reply = tuple[str, list[tuple[str, str]], bytes]  # status, headers, body


def atomic_dynamodb(app: WSGIApplication) -> WSGIApplication:
    """``app`` with its DynamoDB requests served one at a time, each to its last byte, and
    transactions idempotent per ``ClientRequestToken``."""
    turn = threading.Lock()
    tokens: dict[str, tuple[float, object, Reply]] = {}  # token -> (when, items, reply)

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(DYNAMODB_TARGET):
            return app(environ, start_response)
        with turn:
            if not target.endswith(TRANSACT_WRITE):
                return _whole(app, environ, start_response)
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            request = json.loads(body or b"{}")
            token, items, now = (
                request.get("ClientRequestToken"),
                request.get("TransactItems"),
                time.monotonic(),
            )
            for old in [t for t, (when, _, _) in tokens.items() if now - when > TOKEN_SECONDS]:
                del tokens[old]
            if token in tokens:
                _, sent, (status, headers, reply) = tokens[token]
                if sent != items:
                    status, headers, reply = _mismatch()
                start_response(status, headers)
                return [reply]
            answered: list[tuple[str, list[tuple[str, str]]]] = []

            def remember(status: str, headers: list[tuple[str, str]], *rest: object) -> object:
                answered.append((status, list(headers)))
                return start_response(status, headers, *rest)  # type: ignore[arg-type]

            whole = _whole(app, environ, remember)  # type: ignore[arg-type]
            if token and answered and answered[0][0].startswith("200"):
                tokens[token] = (now, items, (*answered[0], whole[0]))
            return whole

    return serve


def _whole(
    app: WSGIApplication, environ: WSGIEnvironment, start_response: StartResponse
) -> list[bytes]:
    response = app(environ, start_response)
    try:
        return [b"".join(response)]  # a lazy body is still moto's work: inside the turn
    finally:
        close = getattr(response, "close", None)
        if close is not None:
            close()


def _mismatch() -> Reply:
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            "message": "ClientRequestToken reused with different transaction items",
        }
    ).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))]
    return "400 Bad Request", headers, body


def moto_app() -> WSGIApplication:
    """moto's server application (all services, dispatched by host and headers), atomic."""
    return atomic_dynamodb(DomainDispatcherApplication(create_backend_app))


def _server(host: str, port: int) -> BaseWSGIServer:
    return make_server(host, port, moto_app(), threaded=True, request_handler=MotoRequestHandler)


class MotoThread:
    """The atomic moto server on a thread of this process; ``url`` once started."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self._server = _server(host, port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-H", "--host", default=LOOPBACK)
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    _server(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
