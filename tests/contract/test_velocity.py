"""VelocityStore: the conditional take every worker shares (fake and DynamoDB agree)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from paysys.core.rules import VelocityWindow

from .conftest import Ports


def window(key: str, amount: str = "10.00", **limits: object) -> VelocityWindow:
    return VelocityWindow(
        key=key,
        currency="BRL",
        amount=Decimal(amount),
        max_count=limits.get("max_count"),  # type: ignore[arg-type]
        max_amount=limits.get("max_amount"),  # type: ignore[arg-type]
        expires_at=2_000_000_000,
    )


async def test_a_count_limit_admits_exactly_the_limit_even_concurrently(ports: Ports) -> None:
    key = f"#velocity#m-{uuid.uuid4().hex[:8]}#2026-03-01T12:30#0"
    takes = await asyncio.gather(
        *(ports.velocity.take(window(key, max_count=5)) for _ in range(12))
    )
    assert takes.count(True) == 5
    other = f"{key}x"  # another window starts empty
    assert await ports.velocity.take(window(other, max_count=5)) is True


async def test_an_amount_limit_counts_money(ports: Ports) -> None:
    key = f"#velocity#m-{uuid.uuid4().hex[:8]}#2026-03-01T12:30#0"
    limit = Decimal("25.00")
    assert await ports.velocity.take(window(key, "10.00", max_amount=limit)) is True
    assert await ports.velocity.take(window(key, "15.00", max_amount=limit)) is True  # = limit
    assert await ports.velocity.take(window(key, "0.01", max_amount=limit)) is False
    both = window(key, "0.01", max_amount=Decimal("100"), max_count=3)
    assert await ports.velocity.take(both) is True  # 3rd payment, 25.01
    assert await ports.velocity.take(both) is False  # a 4th: the count refuses it
