"""One buffer of acknowledged messages per worker, deleted in coalesced DeleteMessageBatch
calls: when 10 are buffered, or when the oldest has waited the linger (widened while acks
come often enough to fill a batch, see ``ArrivalGap.widened``).

A delete that fails is logged and not retried: its messages become visible again after the
visibility timeout and are acknowledged as duplicates (approvals are idempotent). ``close``
flushes whatever is buffered and waits for every delete under way.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any

import structlog

from paysys.core.lingers import GAP_CAP_LINGERS, ArrivalGap
from paysys.core.ports import MessageQueue, QueueMessage
from paysys.worker.forwarding import ForwardingQueue
from paysys.worker.options import WorkerStats

log = structlog.get_logger(__name__)

FLUSH_SIZE = 10  # the most a DeleteMessageBatch takes
_RESOLUTION = time.get_clock_info("monotonic").resolution


class AckBuffer:
    """Acknowledged messages waiting for their delete.

    With ``linger_seconds`` > 0, ``ack`` buffers; a batch of ``FLUSH_SIZE`` goes at once,
    a smaller one when its oldest message has waited ``linger_seconds``, or longer while acks
    come at most two lingers apart: the time 10 acks are expected to take, up to
    ``max_linger_seconds`` (``ArrivalGap.widened``; a batch that fills goes at once). At most
    ``max_flushes`` deletes run at a time; past that ``ack`` waits (the caller's slot stays
    taken, so receiving slows down instead of the buffer growing). With 0, ``ack`` deletes
    the messages given (a whole batch) itself, in one call."""

    def __init__(
        self,
        queue: MessageQueue,
        stats: WorkerStats,
        linger_seconds: float,
        *,
        max_flushes: int = 4,
        max_linger_seconds: float = 0.0,
    ) -> None:
        self._queue = queue
        self._stats = stats
        self._linger = linger_seconds
        self._max_linger = max_linger_seconds
        self.arrivals = ArrivalGap()
        self._buffer: deque[tuple[float, QueueMessage]] = deque()  # (acked at, message)
        self._flights = asyncio.Semaphore(max_flushes)
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._deleting = 0
        self._closed = False

    @property
    def coalescing(self) -> bool:
        """True: ack each message as it is done; False: ack a whole batch at its end."""
        return self._linger > 0 and not self._closed

    @property
    def pending(self) -> int:
        """Messages acknowledged and not yet deleted (buffered or in a delete under way)."""
        return len(self._buffer) + self._deleting

    @property
    def due(self) -> float | None:
        """When the oldest buffered message is deleted (loop time), if not before; None:
        nothing waits for a timer."""
        return None if self._timer is None else self._timer.when()

    async def ack(self, messages: Sequence[QueueMessage]) -> None:
        if not self.coalescing:
            await self._delete(list(messages))
            return
        now = asyncio.get_running_loop().time()
        for _ in messages:
            self.arrivals.observe(now, cap=GAP_CAP_LINGERS * self._linger)
        self._buffer.extend((now, m) for m in messages)
        while len(self._buffer) >= FLUSH_SIZE:
            await self._flush(full_only=True)
        self._arm()

    async def close(self) -> None:
        """Delete everything buffered and wait for every delete under way."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._buffer:
            await self._flush(full_only=False)
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # --- flushing -------------------------------------------------------------------------

    async def _flush(self, *, full_only: bool) -> None:
        """Start one delete of up to FLUSH_SIZE buffered messages (only a full one when
        ``full_only``), once fewer than ``max_flushes`` are under way."""
        await self._flights.acquire()
        if not self._buffer or (full_only and len(self._buffer) < FLUSH_SIZE):
            self._flights.release()  # another flush took them while this one waited
            return
        count = min(FLUSH_SIZE, len(self._buffer))
        batch = [self._buffer.popleft()[1] for _ in range(count)]
        self._deleting += len(batch)
        self._spawn(self._send(batch))

    async def _send(self, batch: list[QueueMessage]) -> None:
        try:
            await self._delete(batch)
        finally:
            self._deleting -= len(batch)
            self._flights.release()

    async def _delete(self, messages: list[QueueMessage]) -> None:
        if not messages:
            return
        self._stats.delete_calls += 1
        try:
            await self._queue.delete(messages)
        except Exception as exc:  # noqa: BLE001 - a failed delete only means duplicates later
            self._stats.delete_failed += len(messages)
            log.warning("worker.delete_failed", count=len(messages), error=str(exc) or repr(exc))
        else:
            self._stats.deleted += len(messages)

    def _arm(self) -> None:
        """Make sure a timer will flush the oldest buffered message when it is due."""
        if self._timer is not None or not self._buffer or self._closed:
            return
        loop = asyncio.get_running_loop()
        due = self._buffer[0][0] + self._waits()
        self._timer = loop.call_later(
            max(due - loop.time(), 0), self._expire, context=contextvars.Context()
        )

    def _waits(self) -> float:
        """How long the oldest buffered message waits for company now."""
        return self.arrivals.widened(self._linger, self._max_linger, FLUSH_SIZE)

    def _expire(self) -> None:
        self._timer = None
        self._spawn(self._flush_due())

    async def _flush_due(self) -> None:
        loop = asyncio.get_running_loop()
        # A timer may be early by the clock's resolution (asyncio's own tolerance), or set for
        # a message flushed since: only what is due goes now.
        while self._buffer and self._buffer[0][0] + self._waits() <= loop.time() + _RESOLUTION:
            await self._flush(full_only=False)
        self._arm()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """A task in a context of its own: a delete belongs to no one message's trace or log
        context (it would otherwise inherit that of the message whose ack started it)."""
        task = asyncio.create_task(work, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class AckedQueue(ForwardingQueue):
    """A ``MessageQueue`` whose deletes go through ``acks`` (coalesced with other messages'),
    for a consumer that deletes one message at a time (webhook delivery). A message still
    stays on the queue until its work ends: the delete only waits a little to share a call.
    The owner closes ``acks`` when the consumer stops."""

    def __init__(self, queue: MessageQueue, acks: AckBuffer) -> None:
        super().__init__(queue)
        self._acks = acks

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        await self._acks.ack(messages)
