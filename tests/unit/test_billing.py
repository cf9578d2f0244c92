"""The emulator meter's rules (paysys.local.billing): sizes of items in DynamoDB JSON agree
with the code's own size rules, and index writes follow AWS's cases."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeSerializer  # type: ignore[import-untyped]

from paysys.adapters.dynamodb_size import item_size
from paysys.local.billing import IndexShape, typed_size, write_cost

ITEMS: list[dict[str, Any]] = [
    {"id": "a"},
    {"id": "é" * 40, "amount": Decimal("12.50"), "n": 0, "big": Decimal("123456789012345678")},
    {"flag": True, "none": None, "raw": b"\x00\x01\x02", "neg": Decimal("-0.001")},
    {"m": {"a": "1", "b": [1, "x", {"c": False}]}, "l": ["x" * 100, Decimal(7)]},
    {"ss": {"a", "bb"}, "ns": {Decimal(1), Decimal("2.5")}, "bs": {b"ab", b"c"}},
]


def typed(item: dict[str, Any]) -> dict[str, Any]:
    serializer = TypeSerializer()
    wire = {k: Binary(v) if isinstance(v, bytes) else v for k, v in item.items()}
    return {name: serializer.serialize(value) for name, value in wire.items()}


@pytest.mark.parametrize("item", ITEMS)
def test_typed_size_agrees_with_item_size(item: dict[str, Any]) -> None:
    assert typed_size(typed(item)) == item_size(item)


SHAPE = IndexShape("g", ("g", "gs"), ("id",), "INCLUDE", ("shown",))


def t(**attrs: str) -> dict[str, Any]:
    return {name: {"S": value} for name, value in attrs.items()}


def test_index_writes_by_case() -> None:
    indexed = t(id="1", g="a", gs="1", shown="x", hidden="y")
    assert SHAPE.writes(None, t(id="1")) == []  # never in the index
    assert len(SHAPE.writes(None, indexed)) == 1  # enters: a put
    assert len(SHAPE.writes(indexed, None)) == 1  # deleted: an index delete
    assert len(SHAPE.writes(indexed, {**indexed, **t(gs="2")})) == 2  # key moved
    assert len(SHAPE.writes(indexed, {**indexed, **t(shown="z")})) == 1  # projected changed
    assert SHAPE.writes(indexed, {**indexed, **t(hidden="z")}) == []  # not projected
    assert SHAPE.entry(indexed) == t(g="a", gs="1", id="1", shown="x")


def test_failed_and_transactional_writes() -> None:
    big = t(id="1", filler="x" * 1500)
    assert write_cost(big, big, (SHAPE,), applied=False).total == 2  # the existing item's size
    assert write_cost(None, None, (), applied=False).total == 1
    assert write_cost(None, t(id="1"), (), applied=True, transactional=True).total == 2
