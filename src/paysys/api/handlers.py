"""The API's routes: create, read and list payments, stats and the OpenAPI document (the pages
are ``paysys.api.ui``'s). Each handler parses, calls one use case and answers; errors go up."""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import re
import uuid

import structlog
from aiohttp import web

from paysys.api.app_state import (
    API_KEYS,
    CURSORS,
    DEADLINE,
    MERCHANT,
    METRICS,
    REQUEST_ID,
    SERVICE,
    SETTINGS,
    STATUS,
)
from paysys.api.json_body import decode_json
from paysys.core.domain import DEFAULT_MERCHANT, PaymentStatus, parse_new_payment
from paysys.core.limits import IDEMPOTENCY_KEY_MAX_BYTES, too_long
from paysys.errors import (
    BodyTimeout,
    InvalidIdempotencyKey,
    PayloadTooLarge,
    PaymentNotFound,
    RequestError,
    UnsupportedMediaType,
)

DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_LIMIT = re.compile(r"[0-9]{1,3}")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/payments", create_payment)
    app.router.add_get("/payments", list_payments)
    app.router.add_get("/payments/{payment_id}", get_payment)
    app.router.add_post("/payments/{payment_id}/cancel", cancel_payment)
    app.router.add_get("/stats", stats)
    app.router.add_get("/openapi.json", openapi)


async def create_payment(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.content_type!r}"
        )
    data = decode_json(await read_body(request), max_depth=request.app[SETTINGS].max_json_depth)
    # From here the store runs to its end, bounded by the AWS retry budget: a deadline that
    # cut it could answer 503 for a payment that is stored.
    request[DEADLINE].reschedule(None)
    new = parse_new_payment(data, max_amount=request.app[SETTINGS].max_amount)
    accepted = await request.app[SERVICE].create(
        new,
        request[REQUEST_ID],
        _idempotency_key(request),
        merchant_id=merchant_of(request),
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
    if problem := too_long(key, IDEMPOTENCY_KEY_MAX_BYTES):  # it is part of a stored item
        raise InvalidIdempotencyKey(f"{IDEMPOTENCY_KEY_HEADER} {problem}")
    if not key or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"{IDEMPOTENCY_KEY_HEADER} must be 1-{IDEMPOTENCY_KEY_MAX_BYTES} bytes of printable "
            "characters"
        )
    return key  # the service scopes it per merchant


async def get_payment(request: web.Request) -> web.Response:
    payment = await request.app[SERVICE].get(payment_id_of(request), merchant_of(request))
    return web.json_response(payment.to_json())


async def cancel_payment(request: web.Request) -> web.Response:
    """202 with the payment canceled (also when it already was: a retried cancel whose first
    try took effect); 409 ``payment_final`` (with its status) if it is Approved or Declined."""
    payment_id = payment_id_of(request)
    # The cancel runs to its end, bounded by the AWS retry budget: a deadline that cut it
    # after its write committed would answer 503 for a canceled payment.
    request[DEADLINE].reschedule(None)
    payment = await request.app[SERVICE].cancel(payment_id, merchant_of(request))
    return web.json_response(payment.to_json(), status=202)


def payment_id_of(request: web.Request) -> str:
    """The path's payment id in canonical form (anything but a UUID is a 404)."""
    raw = request.match_info["payment_id"]
    try:
        payment_id = str(uuid.UUID(raw))
    except ValueError:
        raise PaymentNotFound(raw) from None
    structlog.contextvars.bind_contextvars(payment_id=payment_id)
    return payment_id


async def list_payments(request: web.Request) -> web.Response:
    raw = request.query.get("limit", str(DEFAULT_LIST_LIMIT))
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        raise RequestError(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}")
    status = _status_filter(request.query.get("status"))
    merchant = merchant_of(request)
    cursors = request.app[CURSORS]
    cursor = request.query.get("cursor")
    position = cursors.decode(cursor, merchant, status) if cursor is not None else None
    page = await request.app[STATUS].page(merchant, int(raw), position, status)
    following = cursors.encode(page.next, merchant, status) if page.next else None
    return web.json_response(
        {"payments": [p.to_json() for p in page.payments], "next_cursor": following}
    )


async def stats(request: web.Request) -> web.Response:
    platform = not request.app[API_KEYS].enabled  # an open API has one user: the operator
    return web.json_response(
        await request.app[STATUS].stats(merchant_of(request), platform=platform)
    )


def merchant_of(request: web.Request) -> str:
    """The caller's merchant: its API key's, or the default one when the API is open."""
    merchant: str = request.get(MERCHANT, DEFAULT_MERCHANT)
    return merchant


def _status_filter(raw: str | None) -> PaymentStatus | None:
    if raw is None:
        return None
    try:
        return PaymentStatus(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in PaymentStatus)
        raise RequestError(f"status must be one of {allowed}") from None


async def openapi(_: web.Request) -> web.Response:
    return web.Response(body=_asset("openapi.json"), content_type="application/json")


@functools.cache
def _asset(name: str) -> bytes:
    try:
        return (importlib.resources.files("paysys.api") / name).read_bytes()
    except FileNotFoundError:
        raise web.HTTPNotFound(text=f"{name} is not part of this build") from None


async def read_body(request: web.Request) -> bytes:
    seconds = request.app[SETTINGS].http_body_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        raise BodyTimeout(f"the request body did not arrive within {seconds:g} s") from None
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"request body exceeds {request.app[SETTINGS].max_body_bytes} bytes"
        ) from exc
