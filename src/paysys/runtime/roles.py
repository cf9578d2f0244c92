"""Running the roles: the API server and the worker (with its small health server).

Each ``run_*`` serves until ``stop`` is set, then shuts down within the settings' bound.
Signal handling lives in the CLI; these functions only watch an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from paysys.api.app import create_app
from paysys.api.app_state import READINESS, REGISTRY, WebhookWiring
from paysys.api.auth import decide_auth
from paysys.api.health import add_health_routes
from paysys.api.metrics import ApiMetrics
from paysys.api.readiness import Check, NotReady, Readiness
from paysys.config import Settings
from paysys.errors import BackendUnavailable
from paysys.runtime.resources import Resources
from paysys.runtime.serving import Limits, serving
from paysys.runtime.webhook_role import WebhookLoops
from paysys.worker.counts import CountsRollup
from paysys.worker.metrics import WorkerMetrics
from paysys.worker.reconciler import Reconciler, ReconcilerOptions
from paysys.worker.worker import Worker, WorkerOptions

log = structlog.get_logger(__name__)


def readiness_checks(resources: Resources) -> list[Check]:
    """The API's: it cannot store payments without DynamoDB; without SNS a payment is still
    stored and its event left to the reconciler; SQS only feeds the stats page."""
    return [
        Check("dynamodb", resources.payments.ping),
        Check("sns", resources.events.ping, required=False),
        Check("sqs", resources.queue.ping, required=False),
    ]


def api_app(settings: Settings, resources: Resources) -> web.Application:
    """The API over opened resources, its metrics watching the publisher and the AWS calls."""
    metrics = ApiMetrics(CollectorRegistry())
    metrics.watch_publisher(resources.events)
    metrics.watch_calls(resources.clients.calls)
    return create_app(
        settings,
        resources.service,
        readiness_checks(resources),
        resources.status,
        metrics,
        webhooks=webhook_wiring(resources),
    )


def webhook_wiring(resources: Resources) -> WebhookWiring | None:
    if (
        resources.webhooks is None
        or resources.webhook_history is None
        or resources.webhook_redelivery is None
    ):
        return None
    return WebhookWiring(
        resources.webhooks, resources.webhook_history, resources.webhook_redelivery
    )


async def run_api(
    settings: Settings, resources: Resources, stop: asyncio.Event, *, embedded: bool = False
) -> None:
    mode, why = decide_auth(settings, embedded=embedded)  # ConfigError: refuse to start
    settings = settings.replace(auth=mode)
    app = api_app(settings, resources)
    if mode == "open":
        log.warning("api.open", reason=why)
    limits = Limits(
        shutdown_seconds=settings.shutdown_timeout_seconds,
        idle_timeout_seconds=settings.http_idle_timeout_seconds,
        max_connections=settings.http_max_connections,
    )
    async with serving(app, settings.api_host, settings.api_port, limits) as port:
        log.info("api.listening", url=f"http://{settings.api_host}:{port}")
        await stop.wait()
        log.info("api.stopping")
    log.info("api.stopped")


async def run_worker(settings: Settings, resources: Resources, stop: asyncio.Event) -> Worker:
    worker, metrics = build_worker(settings, resources)
    webhooks = WebhookLoops(settings, resources, metrics.webhooks)
    async with contextlib.AsyncExitStack() as stack:
        if settings.worker_port:
            port = await stack.enter_async_context(
                serving(
                    worker_health_app(settings, worker, resources, metrics, webhooks),
                    settings.worker_host,
                    settings.worker_port,
                    Limits(shutdown_seconds=1.0, max_connections=64),
                )
            )
            log.info("worker.health_listening", url=f"http://{settings.worker_host}:{port}")
        async with asyncio.TaskGroup() as group:
            group.create_task(_stop_when(stop, worker))
            if settings.reconcile_interval_seconds > 0:
                reconciler = build_reconciler(settings, resources)
                metrics.watch_reconciler(reconciler)
                group.create_task(reconciler.run(stop))
            if settings.counter_rollup_seconds > 0:
                group.create_task(build_rollup(settings, resources).run(stop))
            group.create_task(watch_queues(resources, metrics, stop, settings))
            group.create_task(webhooks.run(stop))
            await worker.run()
    return worker


def build_rollup(settings: Settings, resources: Resources) -> CountsRollup:
    """The counts rollup loop: each shard's lease won by one worker at a time."""
    return CountsRollup(
        resources.rollup, resources.leases, settings.counter_rollup_seconds, owner=_owner()
    )


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build_reconciler(settings: Settings, resources: Resources) -> Reconciler:
    options = ReconcilerOptions(
        after_seconds=settings.reconcile_after_seconds,
        interval_seconds=settings.reconcile_interval_seconds,
        batch_size=settings.reconcile_batch_size,
        shards=settings.pending_shards,
        max_backoff_seconds=settings.reconcile_max_backoff_seconds,
    )
    return Reconciler(
        resources.payments,
        resources.leases,
        resources.events,
        options,
        owner=_owner(),
        outcomes=resources.outcomes,
    )


async def watch_queues(
    resources: Resources, metrics: WorkerMetrics, stop: asyncio.Event, settings: Settings
) -> None:
    """Queue and DLQ depths into the worker's metrics, every metrics interval, until stop."""
    while not stop.is_set():
        for name, queue in (("main", resources.queue), ("dlq", resources.dlq)):
            try:
                metrics.queue_depth(name, *await queue.depth())
            except BackendUnavailable as exc:
                log.warning("worker.queue_depth_failed", queue=name, error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.metrics_interval_seconds)


def build_worker(settings: Settings, resources: Resources) -> tuple[Worker, WorkerMetrics]:
    """The worker over the resources' queue and service, observed by its own registry (with
    the AWS calls of the resources' clients)."""
    metrics = WorkerMetrics(CollectorRegistry())
    options = WorkerOptions.from_settings(settings)
    worker = Worker(resources.queue, resources.service, options, metrics)
    metrics.watch(worker, options)
    metrics.watch_calls(resources.clients.calls)
    return worker, metrics


async def _stop_when(stop: asyncio.Event, worker: Worker) -> None:
    await stop.wait()
    worker.stop()


def worker_health_app(
    settings: Settings,
    worker: Worker,
    resources: Resources,
    metrics: WorkerMetrics,
    webhooks: WebhookLoops | None = None,
) -> web.Application:
    """``/healthz``: the process answers; ``/readyz``: loops running (the webhook delivery's
    too, when configured) and backends answer; ``/metrics``: the worker's counters."""
    app = web.Application()
    app[REGISTRY] = metrics.registry

    async def loops_running() -> None:
        if worker.running_loops == 0 and not worker.stopping:
            raise NotReady("no receive loop is running")

    # The worker cannot work without its loops, SQS and DynamoDB; SNS only serves the
    # reconciler's republishing.
    checks = [
        Check("loops", loops_running),
        Check("sqs", resources.queue.ping),
        Check("dynamodb", resources.payments.ping),
        Check("sns", resources.events.ping, required=False),
    ]
    if webhooks is not None and webhooks.configured:
        checks.append(Check("webhooks", webhooks.check))
    app[READINESS] = Readiness(checks, metrics.registry, settings.readiness_cache_seconds)
    add_health_routes(app)
    return app
