"""What the worker is told (``WorkerOptions``), what it counts (``WorkerStats``) and whom it
tells of each receive and decision (``ReceiveObserver``): shared by the worker and its helpers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from paysys.config import Settings
from paysys.core.ports import QueueMessage

_DEFAULT = Settings()  # the options' defaults are the settings' (embedded mode's) defaults


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    loops: int = _DEFAULT.worker_loops
    max_in_flight: int = _DEFAULT.worker_max_in_flight
    batch_size: int = _DEFAULT.worker_batch_size
    wait_seconds: int = _DEFAULT.worker_wait_seconds
    drain_seconds: float = _DEFAULT.shutdown_timeout_seconds
    visibility_timeout_seconds: int = _DEFAULT.visibility_timeout_seconds
    # The receive loops' backoff after a failed receive is capped here (not a setting).
    max_backoff_seconds: float = 5.0
    # After a partial receive, the loop waits this long before its next one (0: never).
    receive_linger_seconds: float = _DEFAULT.worker_receive_linger_ms / 1000
    # An acknowledged message waits at most this long for a DeleteMessageBatch of 10
    # (0: each batch deletes its own messages when it ends).
    delete_linger_seconds: float = _DEFAULT.worker_delete_linger_ms / 1000
    # ... or up to this long while acks come often enough to fill one (see AckBuffer).
    delete_max_linger_seconds: float = _DEFAULT.worker_delete_max_linger_ms / 1000
    # A decision that hits a backend failure is retried this many times in the worker, the
    # n-th after half to all of ``retry_base_seconds * 2**(n-1)`` (0: left to SQS at once).
    retry_attempts: int = _DEFAULT.worker_retry_attempts
    retry_base_seconds: float = _DEFAULT.worker_retry_base_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        return cls(
            loops=settings.worker_loops,
            max_in_flight=settings.worker_max_in_flight,
            batch_size=settings.worker_batch_size,
            wait_seconds=settings.worker_wait_seconds,
            drain_seconds=settings.shutdown_timeout_seconds,
            visibility_timeout_seconds=settings.visibility_timeout_seconds,
            receive_linger_seconds=settings.worker_receive_linger_ms / 1000,
            delete_linger_seconds=settings.worker_delete_linger_ms / 1000,
            delete_max_linger_seconds=settings.worker_delete_max_linger_ms / 1000,
            retry_attempts=settings.worker_retry_attempts,
            retry_base_seconds=settings.worker_retry_base_seconds,
        )


def receive_token(message: QueueMessage) -> str:
    """The token of one receive of ``message`` (its receipt handle is new each receive): the
    decision's retries share it, a redelivery gets another (see ``PaymentService.decide``)."""
    return hashlib.blake2b(message.receipt_handle.encode(), digest_size=12).hexdigest()


class ReceiveObserver(Protocol):
    """Told of every receive (how long it took, how many messages came back) and of every
    payment this worker decided (when it was created; duplicates are not decisions)."""

    def received(self, seconds: float, count: int) -> None: ...

    def decided(self, created_at: datetime) -> None: ...


class Unobserved:
    def received(self, seconds: float, count: int) -> None:
        pass

    def decided(self, created_at: datetime) -> None:
        pass


@dataclass(slots=True)
class WorkerStats:
    received: int = 0
    approved: int = 0
    declined: int = 0
    duplicates: int = 0
    failed: int = 0
    malformed: int = 0
    released: int = 0
    retried: int = 0  # decisions retried in the worker after a backend failure
    deleted: int = 0  # messages SQS was asked to delete in a call that succeeded
    delete_failed: int = 0  # messages whose delete call failed (they come back: duplicates)
    extended: int = 0
    in_flight: int = 0  # messages being processed (each holds a slot of the semaphore)
    batches: int = 0
    receive_calls: int = 0  # ReceiveMessage calls, empty long polls included
    delete_calls: int = 0  # DeleteMessageBatch calls

    def summary(self) -> dict[str, int]:
        """The counts a stopped worker logs (gauges and per-batch counts left out)."""
        gauges = ("in_flight", "batches", "extended")
        return {name: getattr(self, name) for name in self.__slots__ if name not in gauges}
