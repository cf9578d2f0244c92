"""Messages whose decision hit a backend failure come back after a backoff, not after the
whole visibility timeout.

The delay doubles with each receive of the message (``base * 2**(receive_count - 1)``),
capped at the visibility timeout, with equal jitter so that the messages of one outage do not
all return at the same second. Messages of a batch that share a delay go in one
ChangeMessageVisibilityBatch call. If that call fails too, the message simply waits for its
visibility timeout; after ``maxReceiveCount`` receives SQS moves it to the DLQ either way.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import structlog

from paysys.core.ports import MessageQueue, QueueMessage
from paysys.errors import BackendUnavailable
from paysys.worker.options import WorkerStats

log = structlog.get_logger(__name__)


def backoff_seconds(
    receive_count: int,
    base_seconds: int,
    cap_seconds: int,
    uniform: Callable[[float, float], float] = random.uniform,
) -> int:
    """The visibility to give a message for its next try: between half and all of
    ``base * 2**(receive_count - 1)`` (at most ``cap_seconds``), never under 1 s."""
    ceiling = min(cap_seconds, base_seconds * 2 ** min(max(receive_count - 1, 0), 16))
    return max(1, round(uniform(ceiling / 2, ceiling)))


class Retries:
    """Hands messages back for a retry with backoff; ``pending`` says whether one of them
    may still come back (a burst run keeps receiving until then)."""

    def __init__(
        self,
        queue: MessageQueue,
        stats: WorkerStats,
        base_seconds: int,
        cap_seconds: int,
        clock: Callable[[], float] = time.monotonic,  # the queue's clock, in seconds
    ) -> None:
        self._queue = queue
        self._clock = clock
        self._stats = stats
        self._base = base_seconds
        self._cap = cap_seconds
        self._due = 0.0  # time by which every handed-back message is visible

    @property
    def enabled(self) -> bool:
        return self._base > 0

    @property
    def pending(self) -> bool:
        return self._clock() < self._due

    async def later(self, messages: Sequence[QueueMessage]) -> None:
        if not self.enabled or not messages:
            return  # each waits for its visibility timeout
        by_delay: defaultdict[int, list[QueueMessage]] = defaultdict(list)
        for message in messages:
            by_delay[backoff_seconds(message.receive_count, self._base, self._cap)].append(message)
        for seconds, group in sorted(by_delay.items()):
            try:
                await self._queue.change_visibility(group, seconds)
            except BackendUnavailable as exc:
                log.warning("worker.retry_schedule_failed", count=len(group), error=str(exc))
                continue
            self._stats.retried += len(group)
            self._due = max(self._due, self._clock() + seconds)
            log.info("worker.retry_scheduled", count=len(group), seconds=seconds)
