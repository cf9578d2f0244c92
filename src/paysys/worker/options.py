"""What the worker is told (``WorkerOptions``), what it counts (``WorkerStats``) and whom it
tells of each receive (``ReceiveObserver``): shared by the worker and its helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    loops: int = 4
    max_in_flight: int = 64
    batch_size: int = 10
    wait_seconds: int = 10
    drain_seconds: float = 10.0
    visibility_timeout_seconds: int = 30
    max_backoff_seconds: float = 5.0
    # After a partial receive, the loop waits this long before its next one (0: never).
    receive_linger_seconds: float = 0.05
    # An acknowledged message waits at most this long for a DeleteMessageBatch of 10
    # (0: each batch deletes its own messages when it ends).
    delete_linger_seconds: float = 0.05
    # A decision that hits a backend failure is retried this many times in the worker, the
    # n-th after half to all of ``retry_base_seconds * 2**(n-1)`` (0: left to SQS at once).
    retry_attempts: int = 3
    retry_base_seconds: float = 1.0


class ReceiveObserver(Protocol):
    """Told of every receive: how long it took and how many messages came back."""

    def received(self, seconds: float, count: int) -> None: ...


class Unobserved:
    def received(self, seconds: float, count: int) -> None:
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
