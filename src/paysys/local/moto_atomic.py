"""moto's server with DynamoDB's atomic conditional writes.

moto serves each request in a thread of its own, and its DynamoDB backend evaluates a
``ConditionExpression`` and then writes, without a lock: two requests in flight at once can
both pass one condition (one payment approved twice, a velocity budget overspent) where
DynamoDB would reject the second. ``atomic_dynamodb`` lets one DynamoDB request at a time
into moto; SNS and SQS requests stay concurrent (an SQS long poll must not hold the others
up). moto's DynamoDB work runs under one GIL anyway, so taking turns costs little.

``python -m paysys.local.moto_atomic -H HOST -p PORT`` serves it as a process (the
embedded emulator); ``MotoThread`` serves it from a thread (the test suite's emulator).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
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


def atomic_dynamodb(app: WSGIApplication) -> WSGIApplication:
    """``app`` with its DynamoDB requests served one at a time, each to its last byte."""
    turn = threading.Lock()

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET):
            return app(environ, start_response)
        with turn:
            response = app(environ, start_response)
            try:
                return [b"".join(response)]  # a lazy body is still moto's work: inside
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()

    return serve


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
