"""Every request passes, in order: ``context`` (correlation id, the trace span, one log line
and the metrics), ``errors`` (the paysys error tree and aiohttp's own 4xx mapped to a status and a
JSON body, once), ``deadline`` (the handler's time bound) and ``auth`` (API keys). Handlers
never catch errors."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from paysys.api.app_state import (
    API_KEY_ID,
    API_KEYS,
    DEADLINE,
    MERCHANT,
    METRICS,
    REQUEST_ID,
    SETTINGS,
)
from paysys.api.ui import STATIC_PREFIX
from paysys.core.limits import REQUEST_ID_MAX_BYTES
from paysys.errors import RETRY_AFTER_SECONDS, PaysysError, RequestTimedOut, Unauthorized
from paysys.observability import tracing

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# ASCII, so characters are bytes: it is stored with the payment (its correlation id).
_REQUEST_ID = re.compile(rf"^[A-Za-z0-9._:@/+=-]{{1,{REQUEST_ID_MAX_BYTES}}}$")
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/"})


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = supplied if _REQUEST_ID.match(supplied) else str(uuid.uuid4())
    request[REQUEST_ID] = request_id
    resource = request.match_info.route.resource
    route = resource.canonical if resource else "unmatched"  # bounded label values
    started = time.perf_counter()
    # The request's span continues the caller's trace (W3C traceparent); when tracing is off
    # it stands for the caller's context, which the published event then carries on.
    with tracing.server_span(request.method, route, request.headers) as span:
        context: dict[str, str] = {"correlation_id": request_id}
        if traceparent := tracing.traceparent():
            context["traceparent"] = traceparent
        with structlog.contextvars.bound_contextvars(**context):
            response = await handler(request)
            elapsed = time.perf_counter() - started
            response.headers[REQUEST_ID_HEADER] = request_id
            tracing.http_status(span, response.status)
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
async def deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bound the handler's time. A handler may lift the bound (``request[DEADLINE]
    .reschedule(None)``) where cutting it short could hide work already done, as creating a
    payment does once its body is read: its store is bounded by the AWS retry budget."""
    seconds = request.app[SETTINGS].http_request_timeout_seconds
    try:
        async with asyncio.timeout(seconds) as deadline:
            request[DEADLINE] = deadline
            return await handler(request)
    except TimeoutError:
        if not request[DEADLINE].expired():
            raise
        raise RequestTimedOut(f"the request took longer than {seconds:g} s") from None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    keys = request.app[API_KEYS]
    if not keys.enabled or request.path in OPEN_PATHS or request.path.startswith(STATIC_PREFIX):
        return await handler(request)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    caller = keys.identify(presented.strip()) if scheme.lower() == "bearer" else None
    if caller is None:
        raise Unauthorized("a valid API key is required: Authorization: Bearer <key>")
    request[API_KEY_ID] = caller.key_id
    request[MERCHANT] = caller.merchant_id
    with structlog.contextvars.bound_contextvars(
        api_key_id=caller.key_id, merchant_id=caller.merchant_id
    ):
        return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PaysysError as exc:
        if exc.status >= 500:
            log.warning("http.backend_error", error=str(exc), code=exc.code)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else {}
        if exc.status == 503:
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
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
