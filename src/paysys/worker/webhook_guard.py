"""Isolation of webhook endpoints: a concurrency limit and a circuit breaker per endpoint.

Both live in one worker process. A delivery that finds its endpoint at its limit, or the
endpoint's breaker open, is not attempted: its message is hidden again for a short while
(``defer_seconds``) and holds no slot meanwhile, so a slow or dead endpoint delays only its
own deliveries. A breaker opens after ``failures`` consecutive failed attempts, stays open
``open_seconds``, then lets one attempt through (half open): a success closes it, a failure
opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _State:
    running: int = 0
    failures: int = 0
    open_until: float = 0.0
    trial: bool = False  # a half-open trial attempt is running


@dataclass(slots=True)
class EndpointGuard:
    concurrency: int
    failures: int
    open_seconds: float
    clock: Callable[[], float] = time.monotonic
    _states: dict[str, _State] = field(default_factory=dict)

    def enter(self, endpoint_id: str) -> float | None:
        """Take a place for one attempt: None when taken, else seconds to wait first."""
        state = self._states.setdefault(endpoint_id, _State())
        now = self.clock()
        half_open = state.failures >= self.failures
        if half_open and now < state.open_until:
            return state.open_until - now
        if half_open and state.trial:  # one trial at a time
            return self.open_seconds
        if state.running >= self.concurrency:
            return 1.0
        state.trial = half_open
        state.running += 1
        return None

    def leave(self, endpoint_id: str, *, ok: bool) -> None:
        """The attempt ended: a success closes the breaker, a failure counts toward it."""
        state = self._states[endpoint_id]
        state.running -= 1
        state.trial = False
        if ok:
            state.failures = 0
            return
        state.failures += 1
        if state.failures >= self.failures:
            state.open_until = self.clock() + self.open_seconds

    def is_open(self, endpoint_id: str) -> bool:
        state = self._states.get(endpoint_id)
        return state is not None and state.failures >= self.failures
