"""``GET /stats/series``: the status page's charts (``paysys.core.timeline``), and the
middleware that offers each payment this pod accepts to the age sample (in memory, no I/O)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from paysys.api.app_state import DECISIONS, MERCHANT, STATUS
from paysys.core.domain import DEFAULT_MERCHANT


def add_series_routes(app: web.Application) -> None:
    app.router.add_get("/stats/series", stats_series)


async def stats_series(request: web.Request) -> web.Response:
    merchant = request.get(MERCHANT, DEFAULT_MERCHANT)
    body = await request.app[DECISIONS].series(merchant, request.app[STATUS].payments)
    return web.json_response(body)


@web.middleware
async def sample_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if (
        request.method == "POST"
        and response.status == 202
        and request.path == "/payments"
        and "Idempotent-Replayed" not in response.headers
        and (location := response.headers.get("Location", "")).startswith("/payments/")
    ):
        merchant = request.get(MERCHANT, DEFAULT_MERCHANT)
        request.app[DECISIONS].accepted(merchant, location.removeprefix("/payments/"))
    return response
