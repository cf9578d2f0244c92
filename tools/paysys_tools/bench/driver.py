"""The HTTP driver of the API: POST /payments at a concurrency, with a progress bar."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

import aiohttp


@dataclass(slots=True)
class Drive:
    ids: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0


async def drive_api(base_url: str, count: int, concurrency: int, progress: bool) -> Drive:
    drive = Drive()
    body = json.dumps({"amount": "12.50", "currency": "BRL", "description": "bench"}).encode()
    headers = {"Content-Type": "application/json"}
    remaining = iter(range(count))
    bar = _Progress(count) if progress else None
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def client() -> None:
            for _ in remaining:
                began = time.perf_counter()
                try:
                    async with http.post(
                        f"{base_url}/payments", data=body, headers=headers
                    ) as response:
                        answer = await response.json()
                        ok = response.status == 202
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    ok = False
                if ok:
                    drive.latencies_ms.append((time.perf_counter() - began) * 1000)
                    drive.ids.append(answer["id"])
                else:
                    drive.errors += 1
                if bar:
                    bar.step()

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, count)):
                group.create_task(client())
        drive.elapsed = time.perf_counter() - started
    if bar:
        bar.close()
    return drive


class _Progress:
    """A one-line progress bar on stderr (only used when stderr is a terminal)."""

    def __init__(self, total: int) -> None:
        self._total, self._done = total, 0
        self._started = self._shown = time.monotonic()

    def step(self) -> None:
        self._done += 1
        now = time.monotonic()
        if now - self._shown >= 0.2 or self._done == self._total:
            self._shown = now
            width = 30
            filled = width * self._done // self._total
            rate = self._done / max(now - self._started, 1e-9)
            sys.stderr.write(
                f"\r  POST /payments [{'#' * filled}{'.' * (width - filled)}] "
                f"{self._done}/{self._total} {rate:6.0f}/s"
            )
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
