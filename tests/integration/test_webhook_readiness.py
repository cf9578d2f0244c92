"""The worker role's /readyz covers webhook delivery, on the emulator: not ready, with the
reason in the body, while the delivery queue is missing or the delivery loops have crashed;
ready again once they run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from paysys.config import Settings
from paysys.runtime.resources import Resources
from paysys.runtime.roles import build_worker, worker_health_app
from paysys.runtime.webhook_role import WebhookLoops
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
            yield Role(health, worker, webhooks)
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
