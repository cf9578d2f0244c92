"""The webhook endpoint routes: register (answers the signing secret once), list, delete.

Scoped per merchant by the API key like payments. The secret is derived from
``PAYSYS_WEBHOOK_KEY`` (``paysys.core.webhooks.derive_secret``): it is in the registration's
answer and nowhere else, never in a log line.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from paysys.adapters.webhook_http import resolved_problem
from paysys.api.app_state import DEADLINE, SETTINGS, WEBHOOKS
from paysys.api.handlers import merchant_of, read_body
from paysys.api.json_body import decode_json
from paysys.core.service import new_token
from paysys.core.webhooks import derive_secret, parse_new_endpoint
from paysys.errors import (
    FieldError,
    UnsupportedMediaType,
    ValidationError,
    WebhookEndpointNotFound,
    WebhooksDisabled,
)


def add_webhook_routes(app: web.Application) -> None:
    app.router.add_post("/webhook-endpoints", create_endpoint)
    app.router.add_get("/webhook-endpoints", list_endpoints)
    app.router.add_delete("/webhook-endpoints/{endpoint_id}", delete_endpoint)


def webhook_key(request: web.Request) -> str:
    """The key secrets are derived from; ``WebhooksDisabled`` (503) when none is set."""
    key = request.app[SETTINGS].webhook_key
    if key is None:
        raise WebhooksDisabled("webhooks are not configured here (PAYSYS_WEBHOOK_KEY is unset)")
    return key


def require_json(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.content_type!r}"
        )


async def create_endpoint(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    key = webhook_key(request)
    require_json(request)
    data = decode_json(await read_body(request), max_depth=settings.max_json_depth)
    mode = settings.webhook_mode or "strict"
    new = parse_new_endpoint(data, mode)
    if problem := await resolved_problem(new.url, mode):  # connect time checks again
        raise ValidationError([FieldError("url", problem)])
    request[DEADLINE].reschedule(None)  # a stored endpoint must be answered with its secret
    endpoint = await request.app[WEBHOOKS].add(
        merchant_of(request), new, datetime.now(UTC), new_token()
    )
    body = endpoint.to_json()
    body["secret"] = derive_secret(key, endpoint.endpoint_id, endpoint.salt)
    return web.json_response(
        body, status=201, headers={"Location": f"/webhook-endpoints/{endpoint.endpoint_id}"}
    )


async def list_endpoints(request: web.Request) -> web.Response:
    endpoints = await request.app[WEBHOOKS].list(merchant_of(request))
    return web.json_response({"webhook_endpoints": [e.to_json() for e in endpoints]})


async def delete_endpoint(request: web.Request) -> web.Response:
    endpoint_id = request.match_info["endpoint_id"]
    if not endpoint_id.startswith("we_") or len(endpoint_id) > 64:
        raise WebhookEndpointNotFound(endpoint_id[:64])
    await request.app[WEBHOOKS].delete(merchant_of(request), endpoint_id)
    return web.Response(status=204)
