"""The campaign's merchant side of webhooks: endpoints registered through the API (faults on),
one aiohttp receiver on loopback serving them all (a path per endpoint), down for seeded
windows of the load, and the wait for every delivery the final payments call for.

The receiver records every POST (headers, raw body, its answer, the time) and judges
nothing: :mod:`paysys_tools.chaos.webhook_check` does, after the run. Down is one of two
kinds: ``refuse`` (the listening socket is closed: connection refused; a connection the
worker's pool kept alive is answered 503 and closed) and ``error`` (every POST is answered
503).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import aiohttp
from aiohttp import web

from paysys.core.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER
from paysys.local.procs import LOOPBACK, free_port
from paysys_tools.chaos.history import Delivery, Endpoint
from paysys_tools.chaos.system import Merchant
from paysys_tools.chaos.webhook_check import accepted

State = Literal["up", "refuse", "error"]
# The endpoints: a merchant and the event types it asks for (None: every type). m0 has two,
# so its events are fanned out (a copy per endpoint: SendMessageBatch under faults too); m2
# has none, so its outcomes are deleted from the delivery queue unsent.
ENDPOINTS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("m0", None),
    ("m0", ("PaymentCanceled", "PaymentDeclined")),
    ("m1", ("PaymentApproved",)),
    ("mx-deny", None),
)
TRIES = 8  # per registration, list or delete (the API answers 503 under faults)
ANSWER_SECONDS = 40.0


class Receiver:
    """The merchants' endpoints: ``url(path)`` is where a delivery for ``path`` goes."""

    def __init__(self) -> None:
        self.port = free_port()
        self.state: State = "up"
        self.deliveries: list[Delivery] = []
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook/{tail:.*}", self._receive)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await self._listen()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def set(self, state: State) -> None:
        """Go ``up``, or down as ``refuse`` (stop listening) or ``error`` (answer 503)."""
        if state == "refuse" and self._site is not None:
            await self._site.stop()
            self._site = None
        elif state != "refuse" and self._site is None:
            await self._listen()
        self.state = state

    async def _listen(self) -> None:
        assert self._runner is not None  # noqa: S101 - set up in __aenter__
        self._site = web.TCPSite(self._runner, LOOPBACK, self.port, reuse_address=True)
        await self._site.start()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = 200 if self.state == "up" else 503
        self.deliveries.append(
            Delivery(
                path=request.path,
                signature=request.headers.get(SIGNATURE_HEADER, ""),
                event_id=request.headers.get(EVENT_ID_HEADER, ""),
                body=body,
                answered=status,
                at=time.time(),
            )
        )
        if self.state == "refuse":  # a kept-alive connection: answer, then close it
            return web.Response(status=status, headers={"Connection": "close"})
        return web.Response(status=status)


def down_windows(seed: int, load_seconds: float) -> list[tuple[float, float, State]]:
    """Two windows within the load, seeded: (start, end, kind), one of each kind, apart."""
    draw = random.Random(f"{seed}:webhooks")  # noqa: S311 - a schedule, not a secret
    kinds: list[State] = ["refuse", "error"]
    draw.shuffle(kinds)
    at = draw.uniform(0.05, 0.25) * load_seconds
    windows = []
    for kind in kinds:
        length = draw.uniform(0.1, 0.2) * load_seconds
        windows.append((at, at + length, kind))
        at += length + draw.uniform(0.05, 0.15) * load_seconds
    return windows


async def run_windows(
    receiver: Receiver, windows: list[tuple[float, float, State]], began: float, events: list[str]
) -> None:
    """Take the receiver down and up again on ``windows``' schedule (seconds after
    ``began``), noting each change in ``events``."""
    for start, end, kind in windows:
        for at, state in ((start, kind), (end, "up")):
            await asyncio.sleep(max(0.0, began + at - time.monotonic()))
            await receiver.set(state)
            events.append(f"webhooks {state} at {time.monotonic() - began:.1f}s")


async def register_all(
    http: aiohttp.ClientSession, base: str, receiver: Receiver, merchants: Iterable[Merchant]
) -> list[Endpoint]:
    """The endpoints of ``ENDPOINTS``; after each, the deletion of any other its merchant
    has (a registration answered 503 or not at all may have stored one whose secret the
    campaign never saw, and it would hold one of the merchant's 5 slots)."""
    by_id = {m.id: m for m in merchants}
    paths = itertools.count(1)  # each attempt its own path: a delivery names its endpoint
    kept: list[Endpoint] = []
    for merchant_id, types in ENDPOINTS:
        merchant = by_id[merchant_id]
        kept.append(await register(http, base, receiver, merchant, types=types, paths=paths))
        ids = {e.endpoint_id for e in kept if e.merchant == merchant_id}
        await _keep_only(http, base, merchant, ids)
    return kept


async def register(
    http: aiohttp.ClientSession,
    base: str,
    receiver: Receiver,
    merchant: Merchant,
    *,
    types: Iterable[str] | None,
    paths: Iterator[int],
) -> Endpoint:
    """Register an endpoint for ``merchant`` until an attempt is answered 201."""
    for _ in range(TRIES):
        path = f"/hook/{merchant.id}/{next(paths)}"
        body: dict[str, Any] = {"url": receiver.url(path)}
        if types is not None:
            body["event_types"] = sorted(types)
        status, answer = await _call(http, "POST", f"{base}/webhook-endpoints", merchant, body)
        if status == 201:
            return Endpoint(
                merchant.id,
                str(answer["id"]),
                path,
                str(answer["secret"]),
                frozenset(answer["event_types"]),
            )
        if status not in (0, 503):
            raise AssertionError(f"registering {merchant.id}'s endpoint: {status} {answer}")
        await asyncio.sleep(1.0)
    raise AssertionError(f"registering {merchant.id}'s endpoint: {TRIES} tries answered 503")


async def _keep_only(
    http: aiohttp.ClientSession, base: str, merchant: Merchant, endpoint_ids: set[str]
) -> None:
    url = f"{base}/webhook-endpoints"
    listed = await _until(http, "GET", url, merchant, (200,))
    for other in listed["webhook_endpoints"]:
        if other["id"] not in endpoint_ids:
            await _until(http, "DELETE", f"{url}/{other['id']}", merchant, (204, 404))


async def _until(
    http: aiohttp.ClientSession, method: str, url: str, merchant: Merchant, done: tuple[int, ...]
) -> dict[str, Any]:
    for _ in range(TRIES):
        status, answer = await _call(http, method, url, merchant)
        if status in done:
            return answer
        if status not in (0, 503):
            raise AssertionError(f"{method} {url}: {status} {answer}")
        await asyncio.sleep(1.0)
    raise AssertionError(f"{method} {url}: {TRIES} tries answered 503")


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    merchant: Merchant,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """(status, JSON body); (0, {}) when no answer came."""
    headers = {"Authorization": f"Bearer {merchant.api_key}"}
    try:
        async with (
            asyncio.timeout(ANSWER_SECONDS),
            http.request(method, url, json=body, headers=headers) as response,
        ):
            payload = await response.json(content_type=None) if response.status != 204 else {}
            return response.status, payload or {}
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return 0, {}


async def wait_delivered(
    receiver: Receiver, expected: set[tuple[str, str]], guard_seconds: float
) -> bool:
    """Wait until the receiver has accepted (2xx) a POST of every expected (path, event
    id), or the guard runs out: whether they all came."""
    deadline = time.monotonic() + guard_seconds
    while True:
        if expected <= accepted(receiver.deliveries):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
