"""How the worker's N receive loops pace their receives: how many receive at a time, how many
slots of the in-flight bound each takes, and the waits between receives (the linger after a
partial receive, the backoff after a failed one). At a moderate rate one loop gathers a few
messages per call; under a backlog all N receive full batches back to back.

Loop ``i`` receives while ``i < active``; the others are parked on an event of their own
(never polling) until a full receive raises ``active`` past them, the worker stops, or, in a
burst run, a loop finds the queue empty.
"""

from __future__ import annotations

import asyncio

import structlog

from paysys.worker.backoff import backoff_seconds, wait_unless
from paysys.worker.options import WorkerOptions

log = structlog.get_logger(__name__)


class ActiveLoops:
    """``active`` of ``loops`` loops take turns receiving (1 <= active <= loops).

    A full receive (the batch size asked and returned) means messages are waiting: one more
    loop joins. A partial one (at least one message, fewer than asked) means the active loops
    keep up: the last active one parks once it has handed off its batch, and the loop that
    received lingers before its next receive so that the next call finds several messages.
    An empty long poll changes nothing (it already waited as long as it could)."""

    def __init__(self, options: WorkerOptions, stopping: asyncio.Event) -> None:
        self.loops = loops = options.loops
        self._batch_size = options.batch_size
        self._linger = options.receive_linger_seconds
        self._max_backoff = options.max_backoff_seconds
        self._stopping = stopping
        # All active at the start: a worker (re)started in front of a backlog drains it at
        # full speed at once, and the first partial receives bring the count down.
        self.active = loops
        self._turns = [asyncio.Event() for _ in range(loops)]
        for turn in self._turns:
            turn.set()
        self._ended = False
        self.parked = 0  # loops waiting for their turn

    def ending(self) -> bool:
        return self._ended or self._stopping.is_set()

    async def take_turn(self, index: int) -> bool:
        """Wait while loop ``index`` is parked; False when it should end instead."""
        turn = self._turns[index]
        while not turn.is_set():
            self.parked += 1
            try:
                await turn.wait()  # set by a raise of ``active`` or by ``end``
            finally:
                self.parked -= 1
        return not self.ending()

    def has_turn(self, index: int) -> bool:
        return self._turns[index].is_set()

    def received(self, asked: int, count: int) -> bool:
        """Adjust ``active`` to a receive of ``count`` of ``asked`` messages; True when the
        receive was partial (the loop that made it should linger)."""
        if count == 0 or self.ending():
            return False
        if count == asked == self._batch_size:
            if self.active < self.loops:
                self._turns[self.active].set()
                self.active += 1
                log.debug("worker.loops_raised", active=self.active)
            return False
        if count < asked:
            if self.active > 1:
                self.active -= 1
                self._turns[self.active].clear()
                log.debug("worker.loops_lowered", active=self.active)
            return True
        return False  # all it asked for, but fewer than a batch: slots were short

    async def linger(self) -> None:
        """Let messages accumulate before the next receive; ``stop`` cuts it short."""
        if self._linger > 0:
            await self._wait(self._linger)

    async def back_off(self, index: int, failures: int, exc: Exception) -> None:
        """After ``failures`` failed receives in a row: a jittered, capped wait (``stop``
        cuts it short)."""
        delay = backoff_seconds(failures + 1, 0.2, self._max_backoff)
        log.warning("worker.receive_failed", loop=index, error=repr(exc), retry_in_s=delay)
        await self._wait(delay)

    async def _wait(self, seconds: float) -> None:
        await wait_unless(self._stopping, seconds)

    def end(self) -> None:
        """Every loop ends: the worker stops, or a burst run found the queue empty."""
        self._ended = True
        for turn in self._turns:
            turn.set()


class Slots:
    """The bound on messages in flight: taken by a loop before it receives (one loop at a
    time, so loops cannot deadlock holding partial batches), given back by each message as
    its processing ends.

    When the bound holds two batches or more, a loop waits until a whole batch of slots is
    free: slots come back one message at a time, and taking them as they come would make
    receives of one or two messages just when a backlog keeps every slot busy. A smaller
    bound would then run one batch at a time: there a loop waits for one slot only."""

    def __init__(self, total: int, batch_size: int) -> None:
        self.total = total
        self.free = total
        self._wanted = min(batch_size, total)
        self._needed = self._wanted if total >= 2 * batch_size else 1
        self._taking = asyncio.Lock()
        self._changed = asyncio.Event()
        self._waiting = False
        self._closed = False

    async def take(self) -> int:
        """Wait for room and take up to a batch of slots; after ``close``, what is free (it
        may be none) without waiting."""
        async with self._taking:
            while self.free < self._needed and not self._closed:
                self._waiting = True
                try:
                    await self._changed.wait()
                finally:
                    self._waiting = False
            taken = min(self._wanted, self.free)
            self.free -= taken
            return taken

    def give(self, count: int) -> None:
        self.free += count
        if self.free > self.total:
            raise ValueError(f"{self.free} slots free of {self.total}: given back twice")
        if self._waiting:
            self._wake()

    def close(self) -> None:
        """The worker stops: a loop waiting for room stops waiting."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
