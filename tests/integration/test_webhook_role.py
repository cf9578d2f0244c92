"""Webhook delivery as the worker role runs it, on the emulator: /readyz is not ready, with
the reason in the body, while the delivery queue is missing or the delivery loops have
crashed, and ready again once they run; deletes share DeleteMessageBatch calls."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from paysys.adapters.sqs import SqsQueue
from paysys.config import Settings
from paysys.core.ports import QueueMessage
from paysys.runtime.resources import Resources, find_queue_url
from paysys.runtime.roles import build_worker, worker_health_app
from paysys.runtime.webhook_role import WebhookLoops
from paysys.worker.metrics import WorkerMetrics
from paysys.worker.webhooks import WebhookDeliverer
from paysys.worker.worker import Worker

from ..backends import Backend
from ..conftest import fresh_resources, serving, until

NO_QUEUE = "no delivery queue found (run `paysys provision`)"
CRASHED = "webhook delivery loops crashed (restarting)"


@dataclass
class Role:
    health: TestClient[Any, Any]
    worker: Worker
    webhooks: WebhookLoops
    metrics: WorkerMetrics

    def results(self, result: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "paysys_webhook_deliveries_total", {"result": result}
        )
        return value or 0.0

    async def ready(self) -> tuple[int, dict[str, Any]]:
        async with self.health.get("/readyz") as response:
            body: dict[str, Any] = await response.json()
            return response.status, body


@contextlib.asynccontextmanager
async def worker_role(
    resources: Resources, settings: Settings | None = None
) -> AsyncIterator[Role]:
    """The worker role's payment loops, webhook delivery and health server, running until
    the block ends; it yields once the payment loops run."""
    settings = settings or resources.clients.settings
    worker, metrics = build_worker(settings, resources)
    webhooks = WebhookLoops(settings, resources, metrics.webhooks)
    app = worker_health_app(settings, worker, resources, metrics, webhooks)
    stop = asyncio.Event()
    async with serving(app) as health:
        tasks = [asyncio.create_task(worker.run()), asyncio.create_task(webhooks.run(stop))]
        try:
            await until(lambda: worker.running_loops > 0)
            yield Role(health, worker, webhooks, metrics)
        finally:
            stop.set()
            worker.stop()
            await asyncio.gather(*tasks)


async def test_the_worker_is_not_ready_while_its_delivery_queue_is_missing(
    backend: Backend,
) -> None:
    async with fresh_resources(backend, readiness_cache_seconds=0.0) as resources:
        settings = resources.clients.settings.replace(webhook_queue_name="paysys-absent-hooks")
        async with worker_role(resources, settings) as role:
            await until(lambda: role.webhooks.why_not == NO_QUEUE)
            status, body = await role.ready()
    assert status == 503
    assert body["checks"]["webhooks"] == "unavailable"
    assert body["reasons"] == {"webhooks": NO_QUEUE}


async def test_crashed_delivery_loops_make_the_worker_not_ready_until_they_restart(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = True
    receive_loop = WebhookDeliverer._loop

    async def crashing(self: WebhookDeliverer, *, burst: bool) -> None:
        if broken:
            raise RuntimeError("a bug in the delivery loop")
        await receive_loop(self, burst=burst)

    monkeypatch.setattr(WebhookDeliverer, "_loop", crashing)
    async with (
        fresh_resources(backend, readiness_cache_seconds=0.0) as resources,
        worker_role(resources) as role,
    ):
        await until(lambda: role.webhooks.why_not == CRASHED)
        status, body = await role.ready()
        assert (status, body["reasons"]) == (503, {"webhooks": CRASHED})

        broken = False  # the next start (after a backoff of a second or two) holds
        await until(lambda: role.webhooks.why_not is None, guard_seconds=20)
        status, body = await role.ready()
    assert (status, body["status"]) == (200, "ready")
    assert body["checks"]["webhooks"] == "ok"
    assert "reasons" not in body


async def test_deletes_share_delete_message_batch_calls(backend: Backend) -> None:
    """An outcome whose merchant has no endpoint (one the publisher could not route past the
    queue) is a delete: ten of them received together are deleted in a call or two, not ten."""
    # A linger long enough for a loaded machine: the ten share a call at the tenth.
    async with fresh_resources(backend, webhook_key="k", worker_delete_linger_ms=1000) as resources:
        settings = resources.clients.settings
        url = await find_queue_url(resources.clients.sqs, settings.webhook_queue_name)
        events = [QueueMessage("", "", json.dumps(event(n)), 0, None) for n in range(10)]
        assert len(await SqsQueue(resources.clients.sqs, url).send(events)) == 10
        calls = resources.clients.calls
        before = dict(calls.calls), dict(calls.entries)
        async with worker_role(resources) as role:
            await until(lambda: role.results("no_endpoint") == 10)
        deletes = "sqs:DeleteMessageBatch"
        assert calls.entries[deletes] - before[1].get(deletes, 0) == 10
        assert calls.calls[deletes] - before[0].get(deletes, 0) <= 2
        assert await SqsQueue(resources.clients.sqs, url).depth() == (0, 0)


def event(n: int) -> dict[str, str]:
    return {"type": "PaymentApproved", "payment_id": f"p{n}", "merchant_id": f"nobody{n}"}
