"""HTTP/1.1 keep-alive for the embedded emulator's server.

werkzeug's development server (the one moto's server mode runs) answers every request with
``Connection: close`` and then waits up to 10 ms for the client to hang up, so each AWS
call of the roles paid a TCP connect, a new server thread and that wait: about six
connections per payment. :class:`KeepAliveHandler` serves the same WSGI application
(moto's, wrapped by :mod:`paysys.local.moto_atomic`) over persistent connections, as AWS
does: it reads exactly the request's body, buffers the application's reply (moto's are
small and whole anyway), sends it with its ``Content-Length`` and reads the next request
from the same connection, one connection's requests in order on that connection's thread.
A request that says ``Connection: close``, speaks HTTP/1.0, sends a chunked body or fails
in the application closes its connection after the reply, as before.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import IO, Any, cast

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.wsgi import LimitedStream

# Hop-by-hop headers are the server's to set, never the application's.
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "transfer-encoding", "content-length"))
_NO_BODY = (204, 304)


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler (its header handling kept) that keeps connections open."""

    protocol_version = "HTTP/1.1"
    # A reply's last segment must not wait for the client's delayed ACK (40 ms) of the
    # one before it on a kept connection (a 100 Continue, a long body).
    disable_nagle_algorithm = True
    _headers_buffer: list[bytes]  # http.server's own, declared for the type checker

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body = environ["wsgi.input"]
        if environ.get("wsgi.input_terminated"):  # chunked: no length to find the next request
            self.close_connection = True
        else:
            try:
                size = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
            except ValueError:
                self.close_connection = True
                self.send_error(400, "Bad Content-Length")
                return
            body = environ["wsgi.input"] = LimitedStream(cast("IO[bytes]", self.rfile), size)
        status, headers, data = self._call(environ)
        if isinstance(body, LimitedStream):
            body.exhaust()  # whatever the application left unread is not the next request
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        sent_length = None
        for name, value in headers:
            lower = name.lower()
            if lower == "content-length":
                sent_length = value
            if lower not in _HOP_BY_HOP:
                self.send_header(name, value)
        head = environ["REQUEST_METHOD"] == "HEAD"
        if code >= 200 and code not in _NO_BODY:
            # HEAD: the length the GET would have; otherwise the body's own.
            length = sent_length if head and sent_length else str(len(data))
            self.send_header("Content-Length", length)
        if self.close_connection:
            self.send_header("Connection", "close")
        # end_headers(), but the head leaves with the body in one write (one segment).
        self._headers_buffer.append(b"\r\n")
        reply = b"".join(self._headers_buffer)
        self._headers_buffer = []
        self.wfile.write(reply + data if not head and code not in _NO_BODY else reply)
        self.wfile.flush()

    def _call(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the application to its last byte: status, headers, body."""
        answer: list[tuple[str, list[tuple[str, str]]]] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: object = None, /
        ) -> Callable[[bytes], object]:
            answer[:] = [(status, list(headers))]  # nothing is sent before the end: replace
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:  # noqa: BLE001 - a 500, as werkzeug answers, and the trace logged
            self.server.log("error", f"Error on request:\n{traceback.format_exc()}")
            answer.clear()
        if not answer:  # failed, or returned without start_response
            self.close_connection = True
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b""
        status, headers = answer[0]
        return status, headers, b"".join(chunks)
