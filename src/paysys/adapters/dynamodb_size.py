"""What DynamoDB bills for an item: its size by DynamoDB's rules, and the units of a request.

An item's size is the sum, over its attributes, of the name's UTF-8 bytes and the value's:
a string its UTF-8 bytes, a number about one byte per two significant digits plus one, a
binary its length, a boolean or null one byte, a list or map three bytes plus one per element
plus the elements, a set the sum of its elements. A write request unit (WRU) covers an item
of up to 1 KB (each further KB or part one more); a strongly consistent read unit (RRU) 4 KB,
an eventually consistent one half of that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Context, Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
ITEM_LIMIT_BYTES = 1024  # every item paysys stores stays within one write unit
_PRECISION = Context(prec=38)  # a DynamoDB number has up to 38 significant digits


def value_size(value: Any) -> int:  # noqa: PLR0911 - one return per DynamoDB type
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return _number_size(Decimal(str(value)) if isinstance(value, float) else Decimal(value))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(str(k).encode()) + value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + value_size(v) for v in value)
    if isinstance(value, set | frozenset):
        return sum(value_size(v) for v in value)
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


def _number_size(number: Decimal) -> int:
    # At DynamoDB's precision: the default context's 28 digits would round a longer number.
    digits = number.normalize(_PRECISION).as_tuple().digits if number else (0,)
    significant = len(str(int("".join(map(str, digits)))).strip("0") or "0")
    return math.ceil(significant / 2) + 1


def item_size(item: Mapping[str, Any]) -> int:
    """The item's size in bytes as DynamoDB counts it."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Write request units of one write of an item of ``size`` bytes (at least one)."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool = True) -> float:
    """Read request units of reading ``size`` bytes (a GetItem's item, a Query's page)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2
