"""Wrappers around any port (fake or real): outages, counting receives, held approvals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from paysys.core.ports import QueueMessage
from paysys.errors import BackendUnavailable


class Outage:
    """Wraps a port: while ``down``, the named methods (all when none are named) raise
    ``BackendUnavailable`` instead of answering, and the call is noted in ``refused``. With
    ``times``, it is back up by itself after refusing that many calls (a blip)."""

    def __init__(self, port: Any, *methods: str, times: int | None = None) -> None:
        self.port = port
        self.methods = set(methods)
        self.times = times
        self.down = True
        self.refused: list[tuple[str, tuple[Any, ...]]] = []  # (method, arguments) refused

    def __getattr__(self, name: str) -> Any:
        answer = getattr(self.port, name)
        if not self.down or (self.methods and name not in self.methods):
            return answer

        async def unavailable(*args: Any, **_: Any) -> Any:
            self.refused.append((name, args))
            if self.times is not None and len(self.refused) >= self.times:
                self.down = False
            raise BackendUnavailable(f"{type(self.port).__name__}.{name}: backend down")

        return unavailable

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        self.down = False
        try:
            yield
        finally:
            self.down = True


class CountingQueue:
    """Wraps a queue (fake or real): ``receiving`` counts the receive calls in progress, so a
    test can wait until its loops are inside their long polls instead of sleeping."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.receiving = 0

    async def receive(self, *args: Any, **kwargs: Any) -> list[QueueMessage]:
        self.receiving += 1
        try:
            return list(await self.inner.receive(*args, **kwargs))
        finally:
            self.receiving -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class HeldPayments:
    """Wraps a repository: ``decide`` waits while ``held`` (and ``delay`` seconds more), and
    counts how many decisions run at once (``running``, ``peak``)."""

    def __init__(self, inner: Any, *, held: bool = False, delay: float = 0.0) -> None:
        self.inner = inner
        self.delay = delay
        self.released = asyncio.Event()
        if not held:
            self.released.set()
        self.running = 0
        self.peak = 0

    async def decide(self, created: Any, to: Any, *args: Any, **kwargs: Any) -> Any:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.released.wait()
            await asyncio.sleep(self.delay)
            return await self.inner.decide(created, to, *args, **kwargs)
        finally:
            self.running -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
