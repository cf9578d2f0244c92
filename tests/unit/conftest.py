"""Unit tests run on the in-memory fakes (tests/fakes.py): no emulator, no process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ..fakes import FakeSystem

GUARD_SECONDS = 5.0  # a hang guard, not a speed check


@pytest.fixture
def fakes() -> FakeSystem:
    return FakeSystem()


async def until(condition: Callable[[], bool], guard_seconds: float = GUARD_SECONDS) -> None:
    """Wait until ``condition()`` holds, looking every few milliseconds (bounded)."""
    async with asyncio.timeout(guard_seconds):
        while not condition():  # noqa: ASYNC110 - state changed by other tasks, no event to wait on
            await asyncio.sleep(0.005)
