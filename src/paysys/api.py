"""The HTTP API (aiohttp): payments, status, health, metrics, OpenAPI, the status page.

Handlers never catch errors: ``error_middleware`` maps the paysys error tree (and aiohttp's
own 404/405/413) to a status and a JSON body, once. ``context_middleware`` gives every
request a correlation id (``X-Request-ID``) and writes one log line per request.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from paysys.auth import ApiKeys
from paysys.config import Settings
from paysys.domain import parse_new_payment
from paysys.errors import (
    ClientError,
    InvalidIdempotencyKey,
    MalformedJSON,
    PayloadTooLarge,
    PaymentNotFound,
    PaysysError,
    Unauthorized,
    UnsupportedMediaType,
)
from paysys.metrics import REGISTRY, ApiMetrics, metrics_handler
from paysys.service import PaymentService
from paysys.status import StatusReader

log = structlog.get_logger(__name__)

HealthCheck = Callable[[], Awaitable[None]]

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", PaymentService)
READINESS = web.AppKey("readiness", dict[str, HealthCheck])

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)
TRACEPARENT = web.RequestKey("traceparent", str)
API_KEY_ID = web.RequestKey("api_key_id", str)
STATUS = web.AppKey("status", StatusReader)
API_KEYS = web.AppKey("api_keys", ApiKeys)
METRICS = web.AppKey("metrics", ApiMetrics)
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_LIMIT = re.compile(r"[0-9]{1,3}")
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/"})
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def create_app(
    settings: Settings,
    service: PaymentService,
    readiness: Mapping[str, HealthCheck],
    status: StatusReader,
    metrics: ApiMetrics | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[context_middleware, error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SERVICE] = service
    app[STATUS] = status
    app[API_KEYS] = ApiKeys.parse(settings.api_keys)
    app[METRICS] = metrics or ApiMetrics(CollectorRegistry())
    app[REGISTRY] = app[METRICS].registry
    app[READINESS] = dict(readiness)
    app.router.add_post("/payments", create_payment)
    app.router.add_get("/payments", list_payments)
    app.router.add_get("/payments/{payment_id}", get_payment)
    app.router.add_get("/stats", stats)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", asset_route("docs.html"))
    app.router.add_get("/", asset_route("index.html"))
    add_health_routes(app)
    return app


def add_health_routes(app: web.Application) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics``: open to probes and scrapers."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)


# --- handlers ------------------------------------------------------------------------------


async def create_payment(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.content_type!r}"
        )
    data = _decode_json(await _read_body(request))
    new = parse_new_payment(data, max_amount=request.app[SETTINGS].max_amount)
    accepted = await request.app[SERVICE].create(
        new, request[REQUEST_ID], _idempotency_key(request), request.get(TRACEPARENT)
    )
    headers = {"Location": f"/payments/{accepted.body['id']}"}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    else:
        request.app[METRICS].created.inc()
    return web.json_response(accepted.body, status=202, headers=headers)


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"{IDEMPOTENCY_KEY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable characters"
        )
    # Keys are scoped per API key: two clients cannot collide or read each other's answers.
    scope = request.get(API_KEY_ID)
    return f"{scope}:{key}" if scope else key


async def get_payment(request: web.Request) -> web.Response:
    payment_id = request.match_info["payment_id"]
    try:
        payment_id = str(uuid.UUID(payment_id))
    except ValueError:
        raise PaymentNotFound(payment_id) from None
    structlog.contextvars.bind_contextvars(payment_id=payment_id)
    payment = await request.app[SERVICE].get(payment_id)
    return web.json_response(payment.to_json())


async def list_payments(request: web.Request) -> web.Response:
    raw = request.query.get("limit", str(DEFAULT_LIST_LIMIT))
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        raise ClientError(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}")
    payments = await request.app[STATUS].recent(int(raw))
    return web.json_response({"payments": [p.to_json() for p in payments]})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(await request.app[STATUS].stats())


async def openapi(_: web.Request) -> web.Response:
    return web.Response(body=_asset("openapi.json"), content_type="application/json")


def asset_route(name: str) -> Handler:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=_asset(f"static/{name}"), content_type="text/html")

    return serve


@functools.cache
def _asset(name: str) -> bytes:
    try:
        return (importlib.resources.files("paysys") / name).read_bytes()
    except FileNotFoundError:
        raise web.HTTPNotFound(text=f"{name} is not part of this build") from None


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


async def _read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"request body exceeds {request.app[SETTINGS].max_body_bytes} bytes"
        ) from exc


def _decode_json(body: bytes) -> Any:
    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    try:
        return json.loads(body, parse_float=Decimal, parse_constant=reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"request body is not valid JSON: {exc}") from exc


# --- middlewares ---------------------------------------------------------------------------


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = supplied if _REQUEST_ID.match(supplied) else str(uuid.uuid4())
    request[REQUEST_ID] = request_id
    context: dict[str, str] = {"correlation_id": request_id}
    traceparent = request.headers.get("traceparent", "")
    if _TRACEPARENT.match(traceparent):
        request[TRACEPARENT] = context["traceparent"] = traceparent
    started = time.perf_counter()
    with structlog.contextvars.bound_contextvars(**context):
        response = await handler(request)
        elapsed = time.perf_counter() - started
        response.headers[REQUEST_ID_HEADER] = request_id
        resource = request.match_info.route.resource
        route = resource.canonical if resource else "unmatched"  # bounded label values
        metrics = request.app[METRICS]
        metrics.requests.labels(route, request.method, str(response.status)).inc()
        metrics.latency.labels(route).observe(elapsed)
        if route not in _QUIET_ROUTES:
            log.info(
                "http.request",
                method=request.method,
                route=route,
                status=response.status,
                duration_ms=round(elapsed * 1000, 2),
            )
        structlog.contextvars.unbind_contextvars("payment_id", "replayed")
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    keys = request.app[API_KEYS]
    if not keys.enabled or request.path in _OPEN_PATHS:
        return await handler(request)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    key_id = keys.identify(presented.strip()) if scheme.lower() == "bearer" else None
    if key_id is None:
        raise Unauthorized("a valid API key is required: Authorization: Bearer <key>")
    request[API_KEY_ID] = key_id
    with structlog.contextvars.bound_contextvars(api_key_id=key_id):
        return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PaysysError as exc:
        if exc.status >= 500:
            log.warning("http.backend_error", error=str(exc), code=exc.code)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return web.json_response(exc.to_json(), status=exc.status, headers=headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return web.json_response(
            {"error": {"code": code, "message": exc.text or exc.reason}},
            status=exc.status,
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )
    except Exception:
        log.exception("http.unhandled_error")
        return web.json_response(
            {"error": {"code": "internal_error", "message": "internal error"}}, status=500
        )
