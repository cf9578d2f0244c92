"""``/healthz`` (alive), ``/readyz`` (can do its job) and ``/metrics``: open to probes and
scrapers, served by the API and by the worker's small health server alike.

Readiness is what takes a pod out of a Service, so only a dependency without which the role
cannot do its job is *required* (the API: DynamoDB, where payments are stored). Trouble with
an *optional* one (the API's SNS: a failed publish is left to the reconciler) answers 200 with
``"status": "degraded"`` and shows in ``paysys_dependency_up``. Results are cached for a few
seconds and shared by concurrent probes (one backend call per check per interval, however
many probes or tabs ask); error details go to the log, never to the caller, who gets only a
check's own fixed phrase (``NotReady``: the worker's "no delivery queue found") under
``reasons``.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from paysys.api.app_state import READINESS, REGISTRY


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    report = await request.app[READINESS].report()
    return web.json_response(report, status=503 if report["status"] == "unavailable" else 200)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
