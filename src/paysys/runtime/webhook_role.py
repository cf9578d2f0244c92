"""Running webhook delivery inside the worker role, and the embedded mode's webhook settings."""

from __future__ import annotations

import asyncio
import secrets

import structlog

from paysys.adapters.sqs import SqsQueue
from paysys.adapters.webhook_http import WebhookSender, open_session
from paysys.config import Settings
from paysys.errors import BackendUnavailable
from paysys.runtime.resources import Resources, find_queue_url
from paysys.worker.webhook_guard import EndpointGuard
from paysys.worker.webhooks import DeliveryOptions, WebhookDeliverer

log = structlog.get_logger(__name__)


def local_settings(settings: Settings) -> Settings:
    """``paysys local``: webhooks in local mode (http, loopback allowed) and, unless
    configured, a key random per process. That is honest there: the API and the worker run
    in this one process, and the embedded emulator's table (the endpoints) dies with it."""
    changes: dict[str, object] = {}
    if settings.webhook_mode is None:
        changes["webhook_mode"] = "local"
    if settings.webhook_key is None:
        changes["webhook_key"] = secrets.token_urlsafe(32)
        if settings.aws_endpoint_url is not None:  # an outside emulator outlives this process
            log.warning("webhooks.random_key", why="endpoints' secrets change at each start")
    return settings.replace(**changes) if changes else settings


def build_deliverer(
    settings: Settings, resources: Resources, queue: SqsQueue, sender: WebhookSender
) -> WebhookDeliverer:
    assert resources.webhooks is not None  # noqa: S101 - open_resources sets it
    guard = EndpointGuard(
        settings.webhook_endpoint_concurrency,
        settings.webhook_breaker_failures,
        settings.webhook_breaker_seconds,
    )
    options = DeliveryOptions.from_settings(settings, settings.webhook_key)
    return WebhookDeliverer(
        queue, resources.webhooks, sender, guard, options, history=resources.webhook_history
    )


async def run_webhooks(settings: Settings, resources: Resources, stop: asyncio.Event) -> None:
    """Deliver until ``stop``; nothing with ``PAYSYS_WEBHOOK_LOOPS=0``. Without
    ``PAYSYS_WEBHOOK_KEY`` the loops still run: they delete the events of merchants without
    endpoints (else the queue would fill for days) and keep the others on their schedule."""
    if settings.webhook_loops == 0 or resources.webhooks is None:
        log.info("webhooks.off", why="PAYSYS_WEBHOOK_LOOPS=0")
        return
    if settings.webhook_key is None:
        log.warning("webhooks.no_key", why="PAYSYS_WEBHOOK_KEY unset: nothing can be signed")
    try:
        url = await find_queue_url(resources.clients.sqs, settings.webhook_queue_name)
    except BackendUnavailable as exc:
        log.warning("webhooks.off", why=f"no delivery queue: {exc} (run `paysys provision`)")
        return
    session = open_session(
        settings.webhook_mode or "strict",
        connect_seconds=settings.webhook_connect_timeout_seconds,
        read_seconds=settings.webhook_read_timeout_seconds,
        limit=settings.webhook_max_in_flight,
        limit_per_host=settings.webhook_endpoint_concurrency,
    )
    async with session:
        deliverer = build_deliverer(
            settings, resources, SqsQueue(resources.clients.sqs, url), WebhookSender(session)
        )
        stopper = asyncio.create_task(_stop_when(stop, deliverer))
        try:
            log.info("webhooks.started", queue=settings.webhook_queue_name)
            await deliverer.run()
        finally:
            stopper.cancel()
    log.info("webhooks.stopped", **dict(deliverer.results))


async def _stop_when(stop: asyncio.Event, deliverer: WebhookDeliverer) -> None:
    await stop.wait()
    deliverer.stop()
