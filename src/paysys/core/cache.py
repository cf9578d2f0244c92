"""A small time-bounded, single-flight cache: however many callers ask for the same key at
once or within ``seconds``, the loader runs once (N status-page tabs or scrapers cost one
backend read per interval)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._done: dict[str, tuple[float, T]] = {}
        self._running: dict[str, asyncio.Future[T]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        cached = self._done.get(key)
        if cached is not None and self._clock() - cached[0] < self._seconds:
            return cached[1]
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(self._load(key, load))
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(running)

    async def _load(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        value = await load()
        self._done[key] = (self._clock(), value)
        return value
