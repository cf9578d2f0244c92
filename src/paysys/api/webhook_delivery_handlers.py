"""The webhook delivery routes: a payment's delivery history, a delivery queued again, and an
endpoint's secret rotated (with an overlap during which both secrets sign).

Scoped per merchant by the API key like payments: another merchant's payment, delivery or
endpoint is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from paysys.api.app_state import (
    DEADLINE,
    REQUEST_ID,
    SERVICE,
    SETTINGS,
    WEBHOOK_HISTORY,
    WEBHOOK_REDELIVERY,
    WEBHOOKS,
)
from paysys.api.handlers import merchant_of, payment_id_of, read_body
from paysys.api.json_body import decode_json
from paysys.api.webhook_handlers import require_json, webhook_key
from paysys.core.deliveries import parse_delivery_id
from paysys.core.domain import format_time
from paysys.core.outcomes import PaymentOutcome
from paysys.core.service import new_token
from paysys.core.webhooks import ROTATION_OVERLAP_DEFAULT_SECONDS, derive_secret, parse_rotation
from paysys.errors import (
    WebhookDeliveryNotFound,
    WebhookDeliveryScheduled,
    WebhookEndpointNotFound,
)


def add_delivery_routes(app: web.Application) -> None:
    app.router.add_get("/payments/{payment_id}/webhook-deliveries", list_deliveries)
    app.router.add_post("/webhook-deliveries/{delivery_id}/retry", retry_delivery)
    app.router.add_post("/webhook-endpoints/{endpoint_id}/rotate-secret", rotate_secret)


async def list_deliveries(request: web.Request) -> web.Response:
    """The payment's deliveries, one per endpoint it went to, each with its last attempts."""
    payment_id, merchant = payment_id_of(request), merchant_of(request)
    deliveries = await request.app[WEBHOOK_HISTORY].for_payment(merchant, payment_id)
    if not deliveries:  # none yet, or no such payment of this merchant (a 404)
        await request.app[SERVICE].get(payment_id, merchant)
    return web.json_response({"webhook_deliveries": [d.to_json() for d in deliveries]})


async def retry_delivery(request: web.Request) -> web.Response:
    """Queue the delivery again now (202); the worker makes the attempt, recorded in its
    history. The endpoint must still exist; the event is the payment's outcome as stored. A
    delivery whose next attempt is already scheduled is a 409 (two messages of one delivery
    would race each other's attempts in its history)."""
    delivery_id = request.match_info["delivery_id"]
    payment_id, slot = parse_delivery_id(delivery_id)
    merchant = merchant_of(request)
    delivery = await request.app[WEBHOOK_HISTORY].get(merchant, payment_id, slot)
    if delivery is None:
        raise WebhookDeliveryNotFound(delivery_id[:64])
    if (due := delivery.scheduled(datetime.now(UTC))) is not None:
        raise WebhookDeliveryScheduled(
            f"the delivery's next attempt is already scheduled, at {format_time(due)}"
        )
    endpoint = await request.app[WEBHOOKS].get(merchant, delivery.endpoint_id)
    payment = await request.app[SERVICE].get(payment_id, merchant)
    body = PaymentOutcome.of(payment).to_message()
    await request.app[WEBHOOK_REDELIVERY].send(
        body, endpoint.endpoint_id, delivery.attempt_count, request[REQUEST_ID]
    )
    return web.json_response(
        {"id": delivery.delivery_id, "endpoint_id": endpoint.endpoint_id, "queued": True},
        status=202,
    )


async def rotate_secret(request: web.Request) -> web.Response:
    """A new signing secret, answered once; the replaced one keeps signing deliveries (a
    second ``v1``) for ``previous_secret_expires_in`` seconds (default a day)."""
    settings = request.app[SETTINGS]
    key = webhook_key(request)
    endpoint_id = request.match_info["endpoint_id"]
    if not endpoint_id.startswith("we_") or len(endpoint_id) > 64:
        raise WebhookEndpointNotFound(endpoint_id[:64])
    raw = await read_body(request)
    if raw:
        require_json(request)
    overlap = (
        parse_rotation(decode_json(raw, max_depth=settings.max_json_depth))
        if raw.strip()
        else ROTATION_OVERLAP_DEFAULT_SECONDS
    )
    now = datetime.now(UTC)
    until = int(now.timestamp()) + overlap
    request[DEADLINE].reschedule(None)  # a stored secret must be answered
    endpoint = await request.app[WEBHOOKS].rotate(
        merchant_of(request), endpoint_id, until, now.timestamp(), new_token()
    )
    body = endpoint.to_json()
    body["secret"] = derive_secret(key, endpoint.endpoint_id, endpoint.salt)
    body["previous_secret_expires_at"] = format_time(datetime.fromtimestamp(until, UTC))
    return web.json_response(body)
