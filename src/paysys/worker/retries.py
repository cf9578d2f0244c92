"""A decision that hits a backend failure is tried again in the worker, after a backoff.

DynamoDB throttling or timing out past the client's own retry budget is usually over in a
second or two. Left to SQS, the message would wait the whole visibility timeout (30 s) and
use up one of its ``maxReceiveCount`` receives. Retried here, the payment is decided a second
or two later, and the receive budget stays for poison messages: a long outage still leaves
the message to SQS's redelivery, then the DLQ (and the reconciler), as before.

While it waits, the message stays hidden (its batch's heartbeat) and keeps its slot of the
semaphore: when DynamoDB throttles, the worker takes fewer new messages instead of adding to
the load. Each wait is jittered (half to all of ``base * 2**(n-1)`` for the n-th retry) and
ends early when the worker stops: the message is then handed back to the queue at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from paysys.errors import BackendUnavailable
from paysys.worker.backoff import backoff_seconds, wait_unless
from paysys.worker.options import WorkerStats

log = structlog.get_logger(__name__)

T = TypeVar("T")


class Retrying:
    """Runs a decision, and again after a backoff while it raises ``BackendUnavailable``, at
    most ``attempts`` more times; the last failure is raised. 0 attempts: no retry."""

    def __init__(
        self, attempts: int, base_seconds: float, stopping: asyncio.Event, stats: WorkerStats
    ) -> None:
        self._attempts = attempts
        self._base = base_seconds
        self._stopping = stopping
        self._stats = stats

    async def run(self, decide: Callable[[], Awaitable[T]]) -> T:
        retry = 0
        while True:
            try:
                return await decide()
            except BackendUnavailable as exc:
                retry += 1
                if retry > self._attempts or not await self._wait(retry, exc):
                    raise

    async def _wait(self, retry: int, exc: BackendUnavailable) -> bool:
        """Wait before the retry; False when the worker stops first (no retry then)."""
        if self._stopping.is_set():
            return False
        seconds = backoff_seconds(retry, self._base)
        self._stats.retried += 1
        log.warning(
            "worker.retry_scheduled", retry=retry, seconds=round(seconds, 3), error=str(exc)
        )
        return await wait_unless(self._stopping, seconds)
