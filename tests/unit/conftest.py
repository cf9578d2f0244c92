"""Unit tests run on the in-memory fakes (tests/fakes.py): no emulator, no process."""

from __future__ import annotations

import pytest

from ..fakes import FakeSystem

GUARD_SECONDS = 5.0  # a hang guard, not a speed check


@pytest.fixture
def fakes() -> FakeSystem:
    return FakeSystem()
