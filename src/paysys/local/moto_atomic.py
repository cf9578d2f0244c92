"""moto's server with DynamoDB's atomic conditional writes.

moto serves each connection in a thread of its own, and its DynamoDB backend evaluates a
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

Every DynamoDB request is also billed, on its way through, by a
:class:`~paysys.local.metering.Meter`: the request units it would cost on AWS, served at
``GET /_paysys/billing`` (``--no-meter`` serves without it).

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
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from paysys.local.keepalive import KeepAliveHandler
from paysys.local.metering import BILLING_PATH, Meter
from paysys.local.procs import LOOPBACK

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

DYNAMODB_TARGET = "DynamoDB_"  # X-Amz-Target of every DynamoDB call: DynamoDB_20120810.<Op>
TRANSACT_WRITE = "TransactWriteItems"
TOKEN_SECONDS = 600.0  # how long DynamoDB remembers a ClientRequestToken
Reply = tuple[str, list[tuple[str, str]], bytes]  # status, headers, body


def atomic_dynamodb(app: WSGIApplication, meter: Meter | None = None) -> WSGIApplication:
    """``app`` with its DynamoDB requests served one at a time, each to its last byte, and
    transactions idempotent per ``ClientRequestToken``; each request billed by ``meter``
    (which also serves its totals, see :mod:`paysys.local.metering`)."""
    turn = threading.Lock()
    tokens: dict[str, tuple[float, object, Reply]] = {}  # token -> (when, items, reply)

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if meter is not None and environ.get("PATH_INFO", "").startswith(BILLING_PATH):
            return meter.serve(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(DYNAMODB_TARGET):
            return app(environ, start_response)
        with turn:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            request = _json(body)
            op = target.rpartition(".")[2]
            pending = meter.before(op, request, environ) if meter is not None else None
            token, items, now = (
                request.get("ClientRequestToken"),
                request.get("TransactItems"),
                time.monotonic(),
            )
            transact = op == TRANSACT_WRITE
            if transact:
                for old in [t for t, (w, _, _) in tokens.items() if now - w > TOKEN_SECONDS]:
                    del tokens[old]
            if transact and token in tokens:
                _, sent, (status, headers, reply) = tokens[token]
                if sent != items:
                    status, headers, reply = _mismatch()
                elif meter is not None:
                    meter.replayed(pending)
                start_response(status, headers)
                return [reply]
            answered: list[tuple[str, list[tuple[str, str]]]] = []

            def remember(status: str, headers: list[tuple[str, str]], *rest: object) -> object:
                answered.append((status, list(headers)))
                return start_response(status, headers, *rest)  # type: ignore[arg-type]

            whole = _whole(app, environ, remember)  # type: ignore[arg-type]
            status = answered[0][0] if answered else ""
            if meter is not None:
                meter.after(pending, status, whole[0])
            if transact and token and status.startswith("200"):
                tokens[token] = (now, items, (*answered[0], whole[0]))
            return whole

    return serve


def _json(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body or b"{}")
    except ValueError:  # moto answers it with its own error
        return {}
    return request if isinstance(request, dict) else {}


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


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher with its host -> service answers remembered: moto finds a request's
    service by listing its own package directory (one ``stat`` per moto service, a few
    hundred) on every request, under a lock every request takes. The answer depends only
    on the host name, and a client uses a handful of them."""

    MOST_HOSTS = 256  # beyond that, ask moto again (a bound, not a tuning knob)

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._hosts: dict[str, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host is None:
            return None
        try:
            return self._hosts[host]
        except KeyError:
            backend = super().get_backend_for_host(host)
            if len(self._hosts) < self.MOST_HOSTS:
                self._hosts[host] = backend
            return backend


def moto_app(*, metered: bool = True) -> WSGIApplication:
    """moto's server application (all services, dispatched by host and headers), atomic,
    with a billing meter unless ``metered`` is False."""
    meter = Meter() if metered else None
    return atomic_dynamodb(_Dispatcher(), meter)


def _server(host: str, port: int, *, metered: bool = True) -> BaseWSGIServer:
    app = moto_app(metered=metered)
    # A thread per connection, as werkzeug serves; connections kept open (see keepalive).
    return make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)


class MotoThread:
    """The atomic moto server on a thread of this process; ``url`` once started."""

    def __init__(self, host: str = LOOPBACK, port: int = 0, *, metered: bool = True) -> None:
        self._server = _server(host, port, metered=metered)
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
    parser.add_argument(
        "--no-meter", action="store_true", help="serve without the billing meter (an A/B)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    _server(args.host, args.port, metered=not args.no_meter).serve_forever()


if __name__ == "__main__":
    main()
