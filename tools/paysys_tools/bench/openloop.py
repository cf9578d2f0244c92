"""The open-loop driver of the API: POST /payments at a fixed arrival rate, whatever the
answers take.

A closed loop (N clients, each waiting for its answer before sending again) slows its own
arrivals when the system slows, so its percentiles hide the queueing a real client would see
(coordinated omission). Here every request has an *intended* send time fixed in advance
(constant spacing, or a Poisson process), is sent at that time however many are still
waiting, and its latency is measured from that intended time: a stall of the API, or of this
driver, shows up in the figures instead of vanishing from them.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import aiohttp

Arrivals = Literal["constant", "poisson"]
ARRIVALS: tuple[Arrivals, ...] = ("constant", "poisson")


@dataclass(slots=True)
class Sent:
    """One request: when it was meant to go, how long its answer took from then, its id."""

    intended: datetime  # wall clock, to compare with the stored final-state time
    offset: float  # seconds from the start of the schedule
    latency_ms: float = 0.0
    payment_id: str | None = None  # None: the API did not accept it (error or timeout)


@dataclass(slots=True)
class OpenLoop:
    sent: list[Sent] = field(default_factory=list)
    lag_max_ms: float = 0.0  # how late the driver itself was at worst (a busy bench process)

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.payment_id is not None]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.sent if s.payment_id is None)


def schedule(rate: float, seconds: float, arrivals: Arrivals, seed: int = 0) -> list[float]:
    """Send offsets (seconds from the start) of ``rate`` arrivals/s over ``seconds``."""
    if arrivals == "constant":
        return [i / rate for i in range(round(rate * seconds))]
    draw = random.Random(seed)  # noqa: S311 - a load pattern, not a secret
    offsets: list[float] = []
    at = draw.expovariate(rate)
    while at < seconds:
        offsets.append(at)
        at += draw.expovariate(rate)
    return offsets


async def drive_open_loop(
    base_url: str,
    offsets: Sequence[float],
    *,
    timeout_s: float = 30.0,
    max_connections: int = 512,
) -> OpenLoop:
    """Send one POST /payments at each offset (seconds from now); wait for every answer."""
    result = OpenLoop()
    body = json.dumps({"amount": "12.50", "currency": "BRL", "description": "bench"}).encode()
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)
    ) as http:

        async def post(sent: Sent, intended: float) -> None:
            try:
                async with http.post(f"{base_url}/payments", data=body, headers=headers) as r:
                    answer = await r.json()
                    if r.status == 202:
                        sent.payment_id = str(answer["id"])
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                pass
            sent.latency_ms = (time.perf_counter() - intended) * 1000

        start, wall = time.perf_counter(), datetime.now(UTC)
        tasks: list[asyncio.Task[None]] = []
        for offset in offsets:
            intended = start + offset
            delay = intended - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                result.lag_max_ms = max(result.lag_max_ms, -delay * 1000)
            sent = Sent(wall + timedelta(seconds=offset), offset)
            result.sent.append(sent)
            tasks.append(asyncio.create_task(post(sent, intended)))
        await asyncio.gather(*tasks)
    return result
