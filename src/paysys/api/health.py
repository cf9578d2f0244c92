"""``/healthz`` (alive), ``/readyz`` (dependencies answer) and ``/metrics``: open to probes
and scrapers, served by the API and by the worker's small health server alike."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from paysys.api.keys import READINESS, REGISTRY


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[READINESS]
    names = list(checks)
    results = await asyncio.gather(*(checks[n]() for n in names), return_exceptions=True)
    report = {
        n: "ok" if r is None else f"unavailable: {r}" for n, r in zip(names, results, strict=True)
    }
    ready = all(r is None for r in results)
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": report},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
