"""Running webhook delivery inside the worker role, and the embedded mode's webhook settings."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

import structlog

from paysys.adapters.sqs import SqsQueue
from paysys.adapters.webhook_http import WebhookSender, open_session
from paysys.api.readiness import NotReady
from paysys.config import Settings
from paysys.core.ports import MessageQueue
from paysys.errors import BackendUnavailable
from paysys.runtime.resources import Resources, find_queue_url
from paysys.worker.acks import AckBuffer, AckedQueue
from paysys.worker.options import WorkerStats
from paysys.worker.webhook_backlog import Backlog, BacklogQueue
from paysys.worker.webhook_guard import EndpointGuard
from paysys.worker.webhook_metrics import WebhookMetrics
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
    settings: Settings,
    resources: Resources,
    queue: MessageQueue,
    sender: WebhookSender,
    metrics: WebhookMetrics | None = None,
) -> WebhookDeliverer:
    """The deliverer over ``queue``; with ``metrics``, its results, attempts and oldest
    undelivered age on the worker's /metrics."""
    assert resources.webhooks is not None  # noqa: S101 - open_resources sets it
    guard = EndpointGuard(
        settings.webhook_endpoint_concurrency,
        settings.webhook_breaker_failures,
        settings.webhook_breaker_seconds,
    )
    options = DeliveryOptions.from_settings(settings, settings.webhook_key)
    history = resources.webhook_history
    if metrics is None:
        return WebhookDeliverer(queue, resources.webhooks, sender, guard, options, history=history)
    backlog = Backlog(time.time)
    deliverer = WebhookDeliverer(
        BacklogQueue(queue, backlog),
        resources.webhooks,
        metrics.timed(sender),
        guard,
        options,
        history=history,
    )
    metrics.watch(deliverer, backlog)
    return deliverer


class WebhookLoops:
    """The worker role's webhook delivery: finds its queue (again and again until it
    exists), delivers until ``stop`` (started again after a crash), and says why it is not
    delivering to ``/readyz`` (``check``). Off with ``PAYSYS_WEBHOOK_LOOPS=0``. Without
    ``PAYSYS_WEBHOOK_KEY`` the loops still run: they delete the events of merchants without
    endpoints (else the queue would fill for days) and keep the others on their schedule."""

    def __init__(
        self, settings: Settings, resources: Resources, metrics: WebhookMetrics | None = None
    ) -> None:
        self._settings = settings
        self._resources = resources
        self._metrics = metrics
        self.configured = settings.webhook_loops > 0 and resources.webhooks is not None
        self.why_not: str | None = "webhook delivery not started"

    async def check(self) -> None:
        """A readiness probe: raises ``NotReady`` with the reason while not delivering."""
        if self.why_not is not None:
            raise NotReady(self.why_not)

    async def run(self, stop: asyncio.Event) -> None:
        if not self.configured:
            log.info("webhooks.off", why="PAYSYS_WEBHOOK_LOOPS=0")
            return
        settings = self._settings
        if settings.webhook_key is None:
            log.warning("webhooks.no_key", why="PAYSYS_WEBHOOK_KEY unset: nothing can be signed")
        url = await self._find_queue(stop)
        if url is None:
            return
        session = open_session(
            settings.webhook_mode or "strict",
            connect_seconds=settings.webhook_connect_timeout_seconds,
            read_seconds=settings.webhook_read_timeout_seconds,
            limit=settings.webhook_max_in_flight,
            limit_per_host=settings.webhook_endpoint_concurrency,
        )
        sqs = SqsQueue(self._resources.clients.sqs, url)
        # Deletes (a delivered event, or one no endpoint wanted that the publisher could not
        # route) share DeleteMessageBatch calls, as the payment worker's do.
        acks = AckBuffer(
            sqs,
            WorkerStats(),
            settings.worker_delete_linger_ms / 1000,
            max_linger_seconds=settings.worker_delete_max_linger_ms / 1000,
        )
        async with session:
            queue = AckedQueue(sqs, acks)
            sender = WebhookSender(session)
            deliverer = build_deliverer(settings, self._resources, queue, sender, self._metrics)
            stopper = asyncio.create_task(_stop_when(stop, deliverer))
            try:
                await self._deliver(deliverer, stop)
            finally:
                stopper.cancel()
                await acks.close()
        log.info("webhooks.stopped", **dict(deliverer.results))

    async def _find_queue(self, stop: asyncio.Event) -> str | None:
        """The delivery queue's URL, looked up until found (None: stopped first)."""
        name, failures = self._settings.webhook_queue_name, 0
        while not stop.is_set():
            try:
                return await find_queue_url(self._resources.clients.sqs, name)
            except BackendUnavailable as exc:
                failures += 1
                self.why_not = "no delivery queue found (run `paysys provision`)"
                log.warning("webhooks.no_queue", queue=name, error=str(exc), attempt=failures)
                await _wait(stop, _backoff(failures))
        return None

    async def _deliver(self, deliverer: WebhookDeliverer, stop: asyncio.Event) -> None:
        crashes = 0
        while not stop.is_set():
            self.why_not = None
            log.info("webhooks.started", queue=self._settings.webhook_queue_name)
            try:
                await deliverer.run()
            except Exception:  # the payment worker keeps going; /readyz says why not
                crashes += 1
                self.why_not = "webhook delivery loops crashed (restarting)"
                log.exception("webhooks.crashed", crashes=crashes)
                await _wait(stop, _backoff(crashes))


def _backoff(failures: int) -> float:
    return min(60.0, 0.5 * 2.0**failures)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _stop_when(stop: asyncio.Event, deliverer: WebhookDeliverer) -> None:
    await stop.wait()
    deliverer.stop()
