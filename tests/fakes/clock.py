"""The one clock every fake reads (DynamoDB times, SQS visibility and timestamps)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """Wall-clock time that moves only when a test says so."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        for wake in self._listeners:
            wake()

    def on_advance(self, wake: Callable[[], None]) -> None:
        self._listeners.append(wake)
