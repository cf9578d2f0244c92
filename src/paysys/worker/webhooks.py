"""Webhook delivery: the worker role's loops over the delivery queue.

The delivery queue is subscribed to the outcomes topic (raw delivery). ``loops`` long-poll
it, bounded by ``max_in_flight`` messages at once, each handled by its own task:

- the merchant's endpoints that want the event's type are read (cached a few seconds); none:
  the message is deleted (rare: the publisher marks such outcomes and the subscription
  filters them out, ``core.webhook_routing``; one it could not route still comes here);
- several: one copy per endpoint, naming it (``webhook_endpoint`` attribute), is sent to the
  queue and the original deleted, so each endpoint is retried on its own;
- one: a signed POST (``paysys.adapters.webhook_http``). A 2xx deletes the message; anything
  else hides it for the next delay of the schedule (``core.webhooks.retry_delay`` of its
  receive count: ChangeMessageVisibility, at most 12 h); once the next attempt would fall
  past the retry window after the message was queued, the delivery is marked failed
  (``webhook.failed``) and the message deleted.

Each attempt is recorded in the delivery's history before its message is deleted or hidden
(``worker.webhook_record``, best effort). A message stays on the queue until its delivery
ends: a worker that dies mid-delivery loses nothing (the message comes back), at the price of
a second delivery, which the merchant de-duplicates by ``Paysys-Event-Id``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from paysys.adapters.webhook_http import Attempt
from paysys.config import Settings
from paysys.core import webhook_signing
from paysys.core.deliveries import TARGET_ATTRIBUTE
from paysys.core.ports import MessageQueue, QueueMessage
from paysys.core.webhooks import (
    EVENT_TYPES,
    WebhookEndpoint,
    event_id,
    retry_delay,
    signing_secrets,
)
from paysys.errors import BackendUnavailable
from paysys.worker.webhook_guard import EndpointGuard
from paysys.worker.webhook_record import AttemptRecorder, History, Target

log = structlog.get_logger(__name__)


class Endpoints(Protocol):
    async def cached(self, merchant_id: str) -> list[WebhookEndpoint]: ...


class Sender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt: ...


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    key: str | None  # None: nothing can be signed; events of merchants without endpoints drain
    loops: int = 2
    max_in_flight: int = 64
    wait_seconds: int = 5
    retry_base_seconds: float = 60.0
    retry_max_seconds: int = 43_200
    window_seconds: int = 259_200
    drain_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings, key: str | None) -> DeliveryOptions:
        return cls(
            key=key,
            loops=settings.webhook_loops,
            max_in_flight=settings.webhook_max_in_flight,
            wait_seconds=settings.worker_wait_seconds,
            retry_base_seconds=settings.webhook_retry_base_seconds,
            retry_max_seconds=settings.webhook_retry_max_seconds,
            window_seconds=settings.webhook_retry_window_seconds,
            drain_seconds=settings.shutdown_timeout_seconds,
        )


class WebhookDeliverer:
    def __init__(
        self,
        queue: MessageQueue,
        endpoints: Endpoints,
        sender: Sender,
        guard: EndpointGuard,
        options: DeliveryOptions,
        *,
        history: History | None = None,
        clock: Callable[[], float] = time.time,  # wall clock: ages from SQS's SentTimestamp
    ) -> None:
        self._clock = clock
        self._queue = queue
        self._endpoints = endpoints
        self._sender = sender
        self._guard = guard
        self._options = options
        self._slots = asyncio.Semaphore(options.max_in_flight)
        self._free = options.max_in_flight  # slots not taken (what a receive asks for)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.results: Counter[str] = Counter()  # delivered, retry, failed, deferred, ...
        self.attempt_seconds: list[float] = []  # recent attempts' latency (metrics read it)
        self._recorder = AttemptRecorder(history, self.results)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, *, burst: bool = False) -> Counter[str]:
        """Receive and deliver until ``stop()``; with ``burst``, until the queue is empty and
        nothing is in flight (tests)."""
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self._options.loops):
                    group.create_task(self._loop(burst=burst))
        finally:
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=self._options.drain_seconds)
        return self.results

    async def _loop(self, *, burst: bool) -> None:
        failures = 0
        while not self._stopping.is_set():
            wanted = max(1, min(10, self._free))
            try:
                messages = await self._queue.receive(wanted, self._options.wait_seconds)
            except BackendUnavailable as exc:
                failures += 1
                log.warning("webhook.receive_failed", error=str(exc))
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            failures = 0
            if not messages and burst and not self._tasks:
                return
            for message in messages:
                await self._slots.acquire()
                self._free -= 1
                task = asyncio.create_task(self._handle(message))
                self._tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._free += 1
        self._slots.release()

    async def _handle(self, message: QueueMessage) -> None:
        with structlog.contextvars.bound_contextvars(
            message_id=message.message_id, correlation_id=message.correlation_id
        ):
            try:
                result = await self._deliver(message)
            except BackendUnavailable as exc:  # the message comes back after its timeout
                result = "backend_error"
                log.warning("webhook.backend_error", error=str(exc))
            except Exception:  # one bad message must never end a loop
                result = "error"
                log.exception("webhook.crashed")
            self.results[result] += 1

    async def _deliver(self, message: QueueMessage) -> str:
        try:
            event = json.loads(message.body)
            kind, payment_id, merchant = event["type"], event["payment_id"], event["merchant_id"]
        except (ValueError, KeyError, TypeError):
            log.warning("webhook.malformed_event")
            return "malformed"  # left on the queue: the DLQ after maxReceiveCount
        if kind not in EVENT_TYPES:
            await self._queue.delete([message])
            return "ignored"
        structlog.contextvars.bind_contextvars(payment_id=payment_id)
        target = message.attributes.get(TARGET_ATTRIBUTE)
        endpoints = [
            e
            for e in await self._endpoints.cached(merchant)
            if e.wants(kind) and target in (None, e.endpoint_id)
        ]
        if not endpoints:
            await self._queue.delete([message])
            return "no_endpoint"
        if len(endpoints) > 1:
            return await self._fan_out(message, endpoints)
        return await self._attempt(message, endpoints[0], kind, payment_id)

    async def _fan_out(self, message: QueueMessage, endpoints: list[WebhookEndpoint]) -> str:
        copies = [
            QueueMessage(
                message_id="",
                receipt_handle="",
                body=message.body,
                receive_count=0,
                correlation_id=message.correlation_id,
                attributes={**message.attributes, TARGET_ATTRIBUTE: e.endpoint_id},
            )
            for e in endpoints
        ]
        sent = await self._queue.send(copies)
        if len(sent) == len(copies):  # else all again later: a copy sent twice, delivered twice
            await self._queue.delete([message])
        return "fanned_out"

    async def _attempt(
        self, message: QueueMessage, endpoint: WebhookEndpoint, kind: str, payment_id: str
    ) -> str:
        structlog.contextvars.bind_contextvars(endpoint_id=endpoint.endpoint_id)
        target = (message, endpoint, kind, payment_id)
        age = self._clock() - message.sent_at_ms / 1000 if message.sent_at_ms else 0.0
        key = self._options.key
        if key is None:  # cannot sign: on the schedule until a key is set
            return await self._failed_attempt(target, age, Attempt(None, 0.0, "no key"))
        wait = self._guard.enter(endpoint.endpoint_id)
        if wait is not None:  # at its limit or breaker open: not an attempt, no slot held
            await self._queue.change_visibility([message], max(1, min(int(wait) + 1, 43_200)))
            return "deferred"
        delivered = False
        try:
            body = message.body.encode()
            secrets = signing_secrets(key, endpoint, self._clock())
            headers = {
                webhook_signing.SIGNATURE_HEADER: webhook_signing.sign(secrets, body),
                webhook_signing.EVENT_ID_HEADER: event_id(kind, payment_id),
            }
            attempt = await self._sender.post(endpoint.url, body, headers)
            delivered = attempt.delivered
        finally:
            self._guard.leave(endpoint.endpoint_id, ok=delivered)
        self.attempt_seconds = [*self.attempt_seconds[-999:], attempt.seconds]
        fields = {
            "attempt": message.receive_count,
            "status_code": attempt.status,
            "duration_ms": round(attempt.seconds * 1000, 1),
        }
        if attempt.delivered:
            await self._recorder.record(target, attempt, "delivered", now=self._clock())
            await self._queue.delete([message])
            log.info("webhook.delivered", **fields)
            return "delivered"
        return await self._failed_attempt(target, age, attempt)

    async def _failed_attempt(self, target: Target, age: float, attempt: Attempt) -> str:
        """Hide the message until its next attempt, or end the delivery as failed when that
        attempt would fall past the retry window (either recorded in its history first)."""
        message = target[0]
        fields = {
            "attempt": message.receive_count,
            "status_code": attempt.status,
            "duration_ms": round(attempt.seconds * 1000, 1),
        }
        delay = retry_delay(
            message.receive_count,
            self._options.retry_base_seconds,
            self._options.retry_max_seconds,
        )
        if age + delay > self._options.window_seconds:
            await self._recorder.record(target, attempt, "failed", now=self._clock())
            await self._queue.delete([message])
            log.warning("webhook.failed", error=attempt.error, age_seconds=round(age), **fields)
            return "failed"
        await self._recorder.record(target, attempt, "retry", now=self._clock(), delay=delay)
        await self._queue.change_visibility([message], delay)
        log.info("webhook.retry_scheduled", error=attempt.error, next_in_seconds=delay, **fields)
        return "retry"
