"""The pages for people: the status page at ``/``, the API console at ``/docs`` (Swagger UI)
and the files they load under ``/static/`` (our own scripts and styles, and the libraries
vendored by ``make vendor``: nothing is fetched from elsewhere at run time).

Every page and file is served with a Content-Security-Policy that allows only this origin:
no inline script, no other host; inline styles are allowed because Swagger UI and uPlot set
element styles, and ``data:`` images because Swagger UI's stylesheet draws its icons so.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re

from aiohttp import web
from aiohttp.typedefs import Handler

STATIC_PREFIX = "/static/"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


def add_ui_routes(app: web.Application) -> None:
    app.router.add_get("/", page("index.html"))
    app.router.add_get("/docs", page("docs.html"))
    app.router.add_get(STATIC_PREFIX + "{name:.+}", static_file)


def page(name: str) -> Handler:
    async def serve(request: web.Request) -> web.Response:
        return _respond(request, name)

    return serve


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _NAME.fullmatch(name) or name.rpartition(".")[2] == "html":
        raise web.HTTPNotFound(text=f"no file {name!r}")
    return _respond(request, name)


def _respond(request: web.Request, name: str) -> web.Response:
    body, etag = _file(name)
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",  # revalidated by ETag: a new build is seen at once
        "ETag": etag,
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    suffix = "." + name.rpartition(".")[2]
    return web.Response(
        body=body, content_type=_TYPES.get(suffix, "text/plain"), charset="utf-8", headers=headers
    )


@functools.cache
def _file(name: str) -> tuple[bytes, str]:
    try:
        body = (importlib.resources.files("paysys.api") / "static" / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise web.HTTPNotFound(text=f"{name} is not part of this build") from None
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'
