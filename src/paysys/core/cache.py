"""A small time-bounded, single-flight cache: however many callers ask for the same key at
once or within ``seconds``, the loader runs once (N status-page tabs or scrapers cost one
backend read per interval). ``forget`` drops a key after a write: a load already running
then serves its callers but is not kept. With ``max_keys``, the cache starts over when it
holds more (a bound, not an LRU: a miss costs one load)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int | None = None,
    ) -> None:
        self._seconds = seconds
        self._clock = clock
        self._max_keys = max_keys
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
            running.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(running)

    def forget(self, key: str) -> None:
        self._done.pop(key, None)
        self._running.pop(key, None)

    def _finished(self, key: str, done: asyncio.Future[T]) -> None:
        if self._running.get(key) is done:  # not a newer load, started after a forget
            del self._running[key]

    async def _load(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        value = await load()
        if self._running.get(key) is asyncio.current_task():  # not forgotten meanwhile
            if self._max_keys is not None and len(self._done) >= self._max_keys:
                self._done.clear()
            self._done[key] = (self._clock(), value)
        return value
