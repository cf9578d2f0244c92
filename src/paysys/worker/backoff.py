"""Waiting between tries, for every retry in the worker: a jittered exponential delay, and a
wait that the worker's stop cuts short."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable


def backoff_seconds(
    attempt: int,
    base_seconds: float,
    cap_seconds: float = float("inf"),
    uniform: Callable[[float, float], float] = random.uniform,  # jitter, not crypto
) -> float:
    """Before the ``attempt``-th retry: half to all of ``base * 2**(attempt-1)``, that
    doubling capped at ``cap_seconds`` (equal jitter: retries of one outage spread out)."""
    ceiling = min(cap_seconds, base_seconds * 2 ** min(max(attempt - 1, 0), 16))
    return uniform(ceiling / 2, ceiling)


async def wait_unless(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``; False at once when ``stopping`` is set first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()
        return False
    return True
