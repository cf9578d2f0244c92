"""Webhooks end to end on the emulator, with a real aiohttp receiver on loopback: a merchant
registers an endpoint, creates a payment, the worker decides it and delivers one signed
event, verified with the snippet of docs/reference/webhooks.md; a failing endpoint is retried
with growing delays; a hanging endpoint does not slow another merchant's deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from paysys.adapters.sqs import SqsQueue
from paysys.adapters.webhook_http import WebhookSender, open_session
from paysys.api.auth import new_key
from paysys.core.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER
from paysys.runtime.resources import Resources, find_queue_url
from paysys.runtime.webhook_role import build_deliverer
from paysys.worker.webhooks import WebhookDeliverer

from ..backends import Backend
from ..conftest import fresh_resources, make_app, serving, until
from .test_worker import make_worker

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference" / "webhooks.md"
WEBHOOKS = {
    "webhook_key": "test-webhook-key",
    "webhook_mode": "local",
    "webhook_endpoint_cache_seconds": 0.0,
    "webhook_read_timeout_seconds": 2.0,
    "webhook_connect_timeout_seconds": 1.0,
}


def documented_verify() -> Callable[..., bool]:
    """The verification snippet of the docs, as a merchant would copy it."""
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)  # noqa: S102 - our own documentation
    verify: Callable[..., bool] = namespace["verify_paysys_signature"]
    return verify


@dataclass
class Receiver:
    """An endpoint on loopback: answers ``statuses`` in turn (then 200), or hangs."""

    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    got: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.got.append((time.monotonic(), dict(request.headers), body))
        if self.hang:
            await asyncio.sleep(60)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/hook"))


@contextlib.asynccontextmanager
async def delivering(resources: Resources) -> AsyncIterator[WebhookDeliverer]:
    """The worker role's webhook delivery, running until the block ends."""
    settings = resources.clients.settings
    url = await find_queue_url(resources.clients.sqs, settings.webhook_queue_name)
    async with open_session(
        "local", connect_seconds=1.0, read_seconds=2.0, limit=16, limit_per_host=4
    ) as session:
        deliverer = build_deliverer(
            settings, resources, SqsQueue(resources.clients.sqs, url), WebhookSender(session)
        )
        task = asyncio.create_task(deliverer.run())
        try:
            yield deliverer
        finally:
            deliverer.stop()
            await task


async def decide_and_deliver(resources: Resources, guard_seconds: float = 20) -> Counter[str]:
    """Decide the queued payments, then deliver until one delivery went through."""
    await make_worker(resources, resources.clients.settings).run(burst=True)
    async with delivering(resources) as deliverer:
        await until(lambda: deliverer.results["delivered"] == 1, guard_seconds=guard_seconds)
    return deliverer.results


async def register(api: Any, url: str, key: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    async with api.post("/webhook-endpoints", json={"url": url}, headers=headers) as response:
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
    return body


async def pay(api: Any, key: str) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"amount": "12.50", "currency": "BRL"}
    async with api.post("/payments", json=body, headers=headers) as response:
        assert response.status == 202
        payment_id: str = (await response.json())["id"]
    return payment_id


async def test_a_merchant_receives_one_signed_delivery_it_can_verify(backend: Backend) -> None:
    key, digest = new_key("alice")
    receiver = Receiver()
    async with (
        fresh_resources(backend, **WEBHOOKS) as resources,
        receiving(receiver) as url,
    ):
        settings = resources.clients.settings
        async with serving(make_app(settings, resources, api_keys=digest)) as api:
            endpoint = await register(api, url, key)
            assert endpoint["secret"].startswith("whsec_")
            async with api.get(
                "/webhook-endpoints", headers={"Authorization": f"Bearer {key}"}
            ) as listed:
                assert [e["id"] for e in (await listed.json())["webhook_endpoints"]] == [
                    endpoint["id"]
                ]
                assert "secret" not in (await listed.json())["webhook_endpoints"][0]
            payment_id = await pay(api, key)
        await decide_and_deliver(resources)
        [(_, headers, body)] = receiver.got
        assert documented_verify()(endpoint["secret"], headers[SIGNATURE_HEADER], body)
        assert not documented_verify()("whsec_other", headers[SIGNATURE_HEADER], body)
        assert headers[EVENT_ID_HEADER] == f"{payment_id}.PaymentApproved"
        assert b'"payment_id":"' + payment_id.encode() in body


async def test_a_failing_endpoint_is_retried_with_growing_delays(backend: Backend) -> None:
    key, digest = new_key("alice")
    receiver = Receiver(statuses=[500, 503])
    async with (
        fresh_resources(backend, **WEBHOOKS, webhook_retry_base_seconds=2.0) as resources,
        receiving(receiver) as url,
    ):
        settings = resources.clients.settings
        async with serving(make_app(settings, resources, api_keys=digest)) as api:
            await register(api, url, key)
            await pay(api, key)
        results = await decide_and_deliver(resources, guard_seconds=30)
        assert results["retry"] == 2
        times = [at for at, _, _ in receiver.got]
        first, second = times[1] - times[0], times[2] - times[1]
        assert 1.0 <= first < second, (first, second)  # about 1-2 s, then 3-4 s
        assert len({h[EVENT_ID_HEADER] for _, h, _ in receiver.got}) == 1


async def test_a_hanging_endpoint_does_not_slow_another_merchant(backend: Backend) -> None:
    (slow_key, slow_digest), (fast_key, fast_digest) = new_key("slow"), new_key("fast")
    slow, fast = Receiver(hang=True), Receiver()
    overrides = {**WEBHOOKS, "webhook_endpoint_concurrency": 3}
    async with (
        fresh_resources(backend, **overrides) as resources,
        receiving(slow) as slow_url,
        receiving(fast) as fast_url,
    ):
        settings = resources.clients.settings
        keys = f"{slow_digest},{fast_digest}"
        async with serving(make_app(settings, resources, api_keys=keys)) as api:
            await register(api, slow_url, slow_key)
            await register(api, fast_url, fast_key)
            for _ in range(6):
                await pay(api, slow_key)
            for _ in range(3):
                await pay(api, fast_key)
        await make_worker(resources, settings).run(burst=True)
        async with delivering(resources) as deliverer:
            started = time.monotonic()
            await until(lambda: len(fast.got) == 3, guard_seconds=20)
            took = time.monotonic() - started
            hung = len(slow.got)
        # The slow endpoint holds at most 3 deliveries at once, each up to the 2 s read
        # timeout; its other events wait on the queue, not in front of the fast merchant's.
        assert took < 2.0, took
        assert hung <= 3
        assert deliverer.results["deferred"] >= 1


async def test_outside_local_mode_a_loopback_host_is_refused_at_connect_time() -> None:
    """The check made at registration is made again when a delivery connects: a name that
    resolves to a loopback address now (DNS rebinding) is not connected to."""
    receiver = Receiver()
    async with receiving(receiver) as url:
        port = url.split(":")[2].split("/")[0]
        async with open_session(
            "strict", connect_seconds=1.0, read_seconds=1.0, limit=4, limit_per_host=2
        ) as session:
            attempt = await WebhookSender(session).post(f"http://localhost:{port}/hook", b"{}", {})
    assert attempt.status is None
    assert attempt.error is not None
    assert "RefusedAddress" in attempt.error
    assert "public address" in attempt.error
    assert receiver.got == []


async def test_redirects_are_not_followed_and_answers_are_read_up_to_a_cap() -> None:
    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def huge(_: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * 10_000_000)

    app = web.Application()
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/huge", huge)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        open_session(
            "local", connect_seconds=1.0, read_seconds=5.0, limit=4, limit_per_host=2
        ) as session,
    ):
        sender = WebhookSender(session)
        moved = await sender.post(str(server.make_url("/redirect")), b"{}", {})
        big = await sender.post(str(server.make_url("/huge")), b"{}", {})
    assert moved.status == 302
    assert not moved.delivered
    assert big.delivered
