"""The HTTP API (aiohttp): create and read payments, health and readiness.

Handlers never catch errors: ``error_middleware`` maps the paysys error tree (and aiohttp's
own 404/405/413) to a status and a JSON body, once. ``context_middleware`` gives every
request a correlation id (``X-Request-ID``) and writes one log line per request.
"""

from __future__ import annotations

import asyncio
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

from paysys.config import Settings
from paysys.domain import parse_new_payment
from paysys.errors import (
    InvalidIdempotencyKey,
    MalformedJSON,
    PayloadTooLarge,
    PaymentNotFound,
    PaysysError,
    UnsupportedMediaType,
)
from paysys.service import PaymentService

log = structlog.get_logger(__name__)

HealthCheck = Callable[[], Awaitable[None]]

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", PaymentService)
READINESS = web.AppKey("readiness", dict[str, HealthCheck])

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def create_app(
    settings: Settings, service: PaymentService, readiness: Mapping[str, HealthCheck]
) -> web.Application:
    app = web.Application(
        middlewares=[context_middleware, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SERVICE] = service
    app[READINESS] = dict(readiness)
    app.router.add_post("/payments", create_payment)
    app.router.add_get("/payments/{payment_id}", get_payment)
    add_health_routes(app)
    return app


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


# --- handlers ------------------------------------------------------------------------------


async def create_payment(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.content_type!r}"
        )
    data = _decode_json(await _read_body(request))
    new = parse_new_payment(data, max_amount=request.app[SETTINGS].max_amount)
    accepted = await request.app[SERVICE].create(
        new, request[REQUEST_ID], _idempotency_key(request)
    )
    headers = {"Location": f"/payments/{accepted.body['id']}"}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return web.json_response(accepted.body, status=202, headers=headers)


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"{IDEMPOTENCY_KEY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable characters"
        )
    return key


async def get_payment(request: web.Request) -> web.Response:
    payment_id = request.match_info["payment_id"]
    try:
        payment_id = str(uuid.UUID(payment_id))
    except ValueError:
        raise PaymentNotFound(payment_id) from None
    structlog.contextvars.bind_contextvars(payment_id=payment_id)
    payment = await request.app[SERVICE].get(payment_id)
    return web.json_response(payment.to_json())


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
    started = time.perf_counter()
    with structlog.contextvars.bound_contextvars(correlation_id=request_id):
        response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        route = request.match_info.route.resource
        if not (route and route.canonical in {"/healthz", "/readyz"}):
            log.info(
                "http.request",
                method=request.method,
                route=route.canonical if route else request.path,
                status=response.status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        structlog.contextvars.unbind_contextvars("payment_id")
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PaysysError as exc:
        if exc.status >= 500:
            log.warning("http.backend_error", error=str(exc), code=exc.code)
        return web.json_response(exc.to_json(), status=exc.status)
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
