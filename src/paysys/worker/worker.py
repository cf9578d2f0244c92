"""The approval worker: N concurrent SQS receive loops sharing one bounded semaphore.

Each loop reserves free slots of the semaphore, long-polls for at most that many messages
and hands the batch to its own task, so receiving never waits for processing. Only ``active``
of the N loops receive at a time (``pacing.ActiveLoops``): full receives add loops, partial
ones park them and make the loop linger, so that at a moderate rate each call brings several
messages. A message is deleted only after its payment is decided or found already final,
through one buffer per worker that coalesces the deletes (``acks.AckBuffer``). A decision
that hits a backend failure is retried in place after a backoff (``retries.Retrying``);
anything that still fails stays on the queue for SQS to redeliver and, after
``maxReceiveCount``, to move to the DLQ. ``stop()`` ends receiving without cancelling a long
poll that is in flight, hands messages that arrive after it back to the queue, waits a
bounded time for running batches (hands back the messages of those it then cancels, and
those whose retry the stop ended) and deletes every acknowledged message still buffered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from paysys.core.domain import EVENT_TYPE, PaymentCreated
from paysys.core.ports import MessageQueue, QueueMessage
from paysys.core.service import Decision, PaymentService
from paysys.errors import BackendUnavailable, MalformedMessage, PaymentNotFound
from paysys.observability import tracing
from paysys.worker.acks import AckBuffer
from paysys.worker.options import (
    ReceiveObserver,
    Unobserved,
    WorkerOptions,
    WorkerStats,
    receive_token,
)
from paysys.worker.pacing import ActiveLoops, Slots
from paysys.worker.retries import Retrying

__all__ = ["ReceiveObserver", "Worker", "WorkerOptions", "WorkerStats"]

log = structlog.get_logger(__name__)


class Worker:
    def __init__(
        self,
        queue: MessageQueue,
        service: PaymentService,
        options: WorkerOptions,
        observer: ReceiveObserver | None = None,
    ) -> None:
        self._queue = queue
        self._observer = observer or Unobserved()
        self._service = service
        self._options = options
        self._slots = Slots(options.max_in_flight, options.batch_size)
        self._stopping = asyncio.Event()
        self._batches: set[asyncio.Task[None]] = set()
        self._cut_short: list[QueueMessage] = []  # unfinished messages of cancelled batches
        self.stats = WorkerStats()
        self.running_loops = 0
        self.pacing = ActiveLoops(options, self._stopping)  # which loops receive
        self._acks = AckBuffer(
            queue,
            self.stats,
            options.delete_linger_seconds,
            max_flushes=options.loops,
            max_linger_seconds=options.delete_max_linger_seconds,
        )
        self._retrying = Retrying(
            options.retry_attempts, options.retry_base_seconds, self._stopping, self.stats
        )

    @property
    def delete_pending(self) -> int:
        """Messages acknowledged and not yet deleted."""
        return self._acks.pending

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop taking work; ``run`` then drains and returns."""
        if not self._stopping.is_set():
            log.info("worker.stopping", in_flight=self.stats.in_flight)
        self._stopping.set()
        self.pacing.end()  # parked loops wake up, see the stop and end
        self._slots.close()  # a loop waiting for room stops waiting

    async def run(self, *, burst: bool = False) -> WorkerStats:
        """Run the loops until ``stop()``; with ``burst`` the loops also end at an empty
        receive while no batch runs, so the call returns once the queue is drained and every
        message received is done with (used by tests)."""
        log.info("worker.started", loops=self._options.loops, burst=burst)
        try:
            async with asyncio.TaskGroup() as group:
                for index in range(self._options.loops):
                    group.create_task(self._loop(index, burst=burst))
        finally:
            await self._drain()
            await self._acks.close()
        log.info("worker.stopped", **self.stats.summary())
        return self.stats

    # --- receiving ------------------------------------------------------------------------

    async def _loop(self, index: int, *, burst: bool) -> None:
        self.running_loops += 1
        failures = 0
        try:
            while await self.pacing.take_turn(index):  # parked until its turn; False: end
                slots = await self._slots.take()
                try:
                    messages = await self._receive(slots)
                except Exception as exc:  # noqa: BLE001 - a loop outlives any backend failure
                    self._slots.give(slots)
                    failures += 1
                    await self.pacing.back_off(index, failures, exc)
                    continue
                failures = 0
                self._slots.give(slots - len(messages))
                if not messages:
                    if burst and not self._batches:
                        self.pacing.end()  # the queue is drained: every loop may end
                        return
                    continue
                if self._stopping.is_set():
                    try:
                        await self._hand_back(messages)
                    finally:
                        self._slots.give(len(messages))
                    return
                self._start_batch(messages)
                if self.pacing.received(slots, len(messages)) and self.pacing.has_turn(index):
                    await self.pacing.linger()
        finally:
            self.running_loops -= 1

    async def _receive(self, slots: int) -> list[QueueMessage]:
        if self._stopping.is_set():
            return []
        started = time.perf_counter()
        self.stats.receive_calls += 1
        messages = await self._queue.receive(slots, self._options.wait_seconds)
        self._observer.received(time.perf_counter() - started, len(messages))
        self.stats.received += len(messages)
        return messages

    async def _hand_back(self, messages: Sequence[QueueMessage]) -> None:
        """Messages this worker will not finish (received after stop, or cut short by the
        drain bound): visible again at once for another worker, instead of hidden for the
        rest of their visibility timeout."""
        try:
            await self._queue.change_visibility(messages, 0)
            self.stats.released += len(messages)
        except BackendUnavailable as exc:
            log.warning("worker.release_failed", count=len(messages), error=str(exc))

    # --- processing ----------------------------------------------------------------------

    def _start_batch(self, messages: list[QueueMessage]) -> None:
        self.stats.in_flight += len(messages)
        self.stats.batches += 1
        task = asyncio.create_task(self._handle_batch(messages))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _handle_batch(self, messages: list[QueueMessage]) -> None:
        unfinished = {m.message_id: m for m in messages}  # what the heartbeat keeps hidden
        holding = set(unfinished)  # whose slot is still taken
        heartbeat = asyncio.create_task(self._heartbeat(unfinished))

        def release(message_id: str) -> None:
            if message_id in holding:
                holding.discard(message_id)
                self.stats.in_flight -= 1
                self._slots.give(1)

        async def process(message: QueueMessage) -> bool:
            try:
                acked = await self._process(message)  # raises only when cancelled
                unfinished.pop(message.message_id, None)
                if acked and self._acks.coalescing:
                    await self._acks.ack([message])
                return acked
            finally:
                release(message.message_id)

        try:
            results = await asyncio.gather(*(process(m) for m in messages))
            heartbeat.cancel()
            if not self._acks.coalescing:  # each batch deletes its own, in one call
                await self._acks.ack(
                    [m for m, acked in zip(messages, results, strict=True) if acked]
                )
        except asyncio.CancelledError:
            self._cut_short.extend(unfinished.values())  # ``_drain`` hands them back
            raise
        finally:
            heartbeat.cancel()
            for message_id in list(holding):  # any whose processing never started
                release(message_id)

    async def _heartbeat(self, unfinished: dict[str, QueueMessage]) -> None:
        """While a batch runs, extend the visibility of its unfinished messages (one batched
        call per beat) so SQS does not hand them to another consumer mid-work."""
        timeout = self._options.visibility_timeout_seconds
        interval = max(timeout / 2, 0.5)
        while True:
            await asyncio.sleep(interval)
            if not unfinished:
                return
            try:
                await self._queue.change_visibility(list(unfinished.values()), timeout)
                self.stats.extended += len(unfinished)
                log.info("worker.visibility_extended", count=len(unfinished), seconds=timeout)
            except BackendUnavailable as exc:
                log.warning("worker.visibility_extend_failed", error=str(exc))

    async def _process(self, message: QueueMessage) -> bool:
        """Handle one message; True when it may be deleted. Never raises."""
        started = time.perf_counter()
        with (
            tracing.consumer_span(f"process {EVENT_TYPE}", message.attributes, message.message_id),
            structlog.contextvars.bound_contextvars(
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                traceparent=message.traceparent,
            ),
        ):
            outcome, acked, error = await self._decide(message)
            fields: dict[str, object] = {
                "outcome": outcome,
                "receive_count": message.receive_count,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            if error:
                log.warning("message.processed", error=error, **fields)
            else:
                log.info("message.processed", **fields)
        return acked

    async def _decide(self, message: QueueMessage) -> tuple[str, bool, str | None]:
        try:
            event = PaymentCreated.from_message(message.body)
        except MalformedMessage as exc:
            self.stats.malformed += 1
            return "malformed", False, str(exc)
        structlog.contextvars.bind_contextvars(payment_id=event.payment_id)
        try:
            token = receive_token(message)  # one per receive: its retries share it
            decision = await self._retrying.run(
                lambda: self._service.decide(event, message.correlation_id or "", token)
            )
        except PaymentNotFound as exc:
            self.stats.failed += 1
            return "unknown_payment", False, str(exc)
        except BackendUnavailable as exc:
            self.stats.failed += 1
            if self._stopping.is_set():  # not retried: visible again at once, for the next
                self._cut_short.append(message)  # worker (``_drain`` hands it back)
            return "retry", False, str(exc)
        except Exception as exc:  # one bad message must never end a loop
            self.stats.failed += 1
            log.exception("message.crashed")
            return "error", False, repr(exc)
        if decision is Decision.APPROVED:
            self.stats.approved += 1
        elif decision is Decision.DECLINED:
            self.stats.declined += 1
        else:
            self.stats.duplicates += 1
            return decision.value, True, None
        self._observer.decided(event.created_at)
        return decision.value, True, None

    async def _drain(self) -> None:
        """Wait a bounded time for running batches (their acks go to the buffer), cancel
        what still runs and hand its unfinished messages back; the buffer is flushed after.
        A message cut short mid-decision is safe to hand back: deciding is idempotent."""
        still_running: set[asyncio.Task[None]] = set()
        if self._batches:
            pending = set(self._batches)
            _, still_running = await asyncio.wait(pending, timeout=self._options.drain_seconds)
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running)
            log.warning(
                "worker.drain_timeout",
                cancelled_batches=len(still_running),
                handed_back=len(self._cut_short),
            )
        if self._cut_short:
            await self._hand_back(self._cut_short)
            self._cut_short.clear()
