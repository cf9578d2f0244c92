"""What DynamoDB bills for a request, from the items it touched before and after it.

The items are in DynamoDB JSON (``{"name": {"S": "x"}}``), the form moto stores and serves
them in; their sizes are :func:`paysys.adapters.dynamodb_size.item_size` of the same values
in Python form, so the meter and the code's own size rules cannot disagree. On-demand rules:

- a write is one write unit per KB (or part) of the larger of the item before and after it
  (a delete: the deleted item; a missing item: one unit); a conditional write whose condition
  fails is billed all the same, on the existing item, and writes no index;
- a transactional write costs twice that;
- each secondary index: an item entering it is one index put, leaving it one index delete, a
  change of its index key a delete and a put, a change of its projected attributes alone one
  write, anything else nothing; each sized by the index entry (the index's keys, the table's
  keys and the projected attributes);
- a read is one unit per 4 KB of what it read (a GetItem the item, a Query or Scan the page),
  at least one; eventually consistent reads half of that.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from paysys.adapters.dynamodb_size import item_size, read_units, write_units

TypedItem = Mapping[str, Any]  # an item in DynamoDB JSON (or in Python form, with ``size``)
Size = Callable[[TypedItem | None], int]


def plain(value: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one return per DynamoDB type
    """The Python value of one DynamoDB JSON attribute value (``{"N": "12"}`` -> 12)."""
    [(kind, raw)] = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        return Decimal(raw)
    if kind == "B":
        return _bytes(raw)
    if kind in ("BOOL", "NULL"):
        return bool(raw) if kind == "BOOL" else None
    if kind == "M":
        return {k: plain(v) for k, v in raw.items()}
    if kind == "L":
        return [plain(v) for v in raw]
    if kind == "SS":
        return set(raw)
    if kind == "NS":
        return {Decimal(n) for n in raw}
    if kind == "BS":
        return {_bytes(b) for b in raw}
    raise ValueError(f"no DynamoDB type {kind!r}")


def _bytes(raw: str | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else base64.b64decode(raw)


def typed_size(item: TypedItem | None) -> int:
    """The size of an item in DynamoDB JSON by DynamoDB's rules (0 for no item)."""
    if not item:
        return 0
    return item_size({name: plain(value) for name, value in item.items()})


@dataclass(frozen=True, slots=True)
class IndexShape:
    """A secondary index as the bill sees it: which items it holds, and what of them."""

    name: str
    keys: tuple[str, ...]  # the index's own key attributes
    table_keys: tuple[str, ...]
    projection: str  # KEYS_ONLY | INCLUDE | ALL
    include: tuple[str, ...] = ()

    def entry(self, item: TypedItem | None) -> TypedItem | None:
        """The item's entry in the index; None when the item lacks one of the index keys."""
        if item is None or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return item
        wanted = (*self.keys, *self.table_keys)
        if self.projection == "INCLUDE":
            wanted += self.include
        return {name: item[name] for name in dict.fromkeys(wanted) if name in item}

    def writes(
        self, before: TypedItem | None, after: TypedItem | None, size: Size = typed_size
    ) -> list[int]:
        """The sizes of the index writes a table write from ``before`` to ``after`` makes
        (``size``: of an item in the form given; DynamoDB JSON by default)."""
        old, new = self.entry(before), self.entry(after)
        if old is None or new is None:
            return [size(e) for e in (old, new) if e is not None]
        if any(old[key] != new[key] for key in self.keys):
            return [size(old), size(new)]  # moved: a delete and a put
        if old != new:
            return [max(size(old), size(new))]
        return []


@dataclass(frozen=True, slots=True)
class WriteCost:
    table: int
    index: int

    @property
    def total(self) -> int:
        return self.table + self.index


def write_cost(
    before: TypedItem | None,
    after: TypedItem | None,
    indexes: tuple[IndexShape, ...],
    *,
    applied: bool,
    transactional: bool = False,
    size: Size = typed_size,
) -> WriteCost:
    """The write units of one item's write from ``before`` to ``after`` (``applied`` False:
    its condition failed and nothing changed; ``size`` as for ``IndexShape.writes``)."""
    factor = 2 if transactional else 1
    if not applied:
        return WriteCost(factor * write_units(size(before)), 0)
    table = factor * write_units(max(size(before), size(after)))
    writes = (n for shape in indexes for n in shape.writes(before, after, size))
    return WriteCost(table, sum(write_units(n) for n in writes))


def item_read_cost(item: TypedItem | None, *, consistent: bool) -> float:
    """The read units of reading one item by its key (a missing item still costs one read)."""
    return read_units(typed_size(item), consistent=consistent)
