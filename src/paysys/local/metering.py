"""A billing meter in the embedded emulator: the DynamoDB request units every request would
cost on AWS (on-demand), computed from the items moto holds before and after it.

:mod:`paysys.local.moto_atomic` serves DynamoDB requests one at a time and hands each to
:meth:`Meter.before` (the touched items, read from moto's in-process backend) and
:meth:`Meter.after` (the items again, the reply); :mod:`paysys.local.billing` holds the rules.
Totals by operation and by table are served by the emulator itself:

- ``GET /_paysys/billing``: ``{"wru": {op: n}, "rru": {op: n}, "calls": {op: n},
  "index_wru": {op: n}, "tables": {table: {"wru": {op: n}, "rru": {op: n}}}}``
  (``index_wru`` is the part of ``wru`` that secondary indexes cost);
- ``POST /_paysys/billing/reset``: zero them.

A request whose User-Agent carries :data:`EXEMPT_AGENT` is served but not metered: a tool's
own polling. Query and Scan are metered on the items their reply carries, exact when the
request asks for no filter and no projection (paysys's never do); with one they are estimated
at ``ScannedCount`` items of the mean returned size.
"""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paysys.adapters.dynamodb_size import read_units, write_units
from paysys.local.billing import IndexShape, TypedItem, WriteCost, item_read_cost, typed_size
from paysys.local.billing import write_cost as cost_of

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

BILLING_PATH = "/_paysys/billing"
RESET_PATH = f"{BILLING_PATH}/reset"
EXEMPT_AGENT = "paysys-unmetered"
BILLED_FAILURES = ("ConditionalCheckFailedException", "TransactionCanceledException")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
_UNFILTERED = ("FilterExpression", "ProjectionExpression", "AttributesToGet", "QueryFilter")


@dataclass(slots=True)
class _Write:
    table: Any  # moto's Table
    key: TypedItem
    check: bool = False  # a transaction's ConditionCheck: billed, writes nothing
    before: TypedItem | None = None


@dataclass(slots=True)
class Pending:
    """One DynamoDB request on its way through moto."""

    op: str
    request: dict[str, Any]
    backend: Any  # moto's DynamoDBBackend for the caller's account and region
    writes: list[_Write] = field(default_factory=list)


def _counts() -> defaultdict[str, float]:
    return defaultdict(float)


class Meter:
    """Billed units of the DynamoDB requests served, by operation and by table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: defaultdict[str, defaultdict[str, float]] = defaultdict(_counts)
        self._tables: defaultdict[str, defaultdict[str, defaultdict[str, float]]]
        self._tables = defaultdict(lambda: defaultdict(_counts))

    def before(self, op: str, request: dict[str, Any], environ: WSGIEnvironment) -> Pending | None:
        """Read what ``request`` is about to touch; None when it is not to be metered."""
        if EXEMPT_AGENT in environ.get("HTTP_USER_AGENT", ""):
            return None
        pending = Pending(op, request, _backend(environ))
        if op in WRITES:
            pending.writes = list(_writes(pending))
            for write in pending.writes:
                write.before = _item(write.table, write.key)
        return pending

    def after(self, pending: Pending | None, status: str, body: bytes) -> None:
        """Bill ``pending`` from its reply and the items as they are now."""
        if pending is None:
            return
        op, ok = pending.op, status.startswith("200")
        self._add(op, "", calls=1)
        if op in WRITES:
            billed = ok or _error(body) in BILLED_FAILURES
            for write in pending.writes if billed else ():
                self._bill_write(op, write, applied=ok)
        elif ok:
            self._bill_read(pending, body)

    def replayed(self, pending: Pending | None) -> None:
        """A transaction answered from its ClientRequestToken: AWS bills reading its items."""
        if pending is None:
            return
        self._add(pending.op, "", calls=1)
        for write in pending.writes:
            self._add(
                pending.op, write.table.name, rru=item_read_cost(write.before, consistent=True)
            )

    def _bill_write(self, op: str, write: _Write, *, applied: bool) -> None:
        transactional = op == "TransactWriteItems"
        if write.check:
            cost = WriteCost(2 * write_units(typed_size(write.before)), 0)
        else:
            after = _item(write.table, write.key) if applied else write.before
            shapes = _shapes(write.table)
            cost = cost_of(
                write.before, after, shapes, applied=applied, transactional=transactional
            )
        self._add(op, write.table.name, wru=cost.total, index_wru=cost.index)

    def _bill_read(self, pending: Pending, body: bytes) -> None:
        op, request = pending.op, pending.request
        if op == "GetItem":
            table = _table(pending.backend, request.get("TableName", ""))
            if table is not None:
                item = _item(table, request.get("Key", {}))
                units = item_read_cost(item, consistent=bool(request.get("ConsistentRead")))
                self._add(op, table.name, rru=units)
        elif op in ("BatchGetItem", "TransactGetItems"):
            for name, keys, consistent in _gets(op, request):
                table = _table(pending.backend, name)
                for key in keys if table is not None else ():
                    units = item_read_cost(_item(table, key), consistent=consistent)
                    self._add(op, name, rru=units * (2 if op == "TransactGetItems" else 1))
        elif op in ("Query", "Scan"):
            self._add(op, request.get("TableName", ""), rru=_page_units(request, body))

    def _add(self, op: str, table: str, **amounts: float) -> None:
        with self._lock:
            for kind, amount in amounts.items():
                self._totals[kind][op] += amount
                if table and kind in ("wru", "rru"):
                    self._tables[table][kind][op] += amount

    def totals(self) -> dict[str, Any]:
        with self._lock:
            totals: dict[str, Any] = {
                kind: dict(self._totals[kind]) for kind in ("wru", "rru", "calls", "index_wru")
            }
            totals["tables"] = {
                name: {kind: dict(ops) for kind, ops in kinds.items()}
                for name, kinds in self._tables.items()
            }
        return totals

    def reset(self) -> None:
        with self._lock:
            self._totals.clear()
            self._tables.clear()

    def serve(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The meter's own endpoints (GET the totals, POST the reset)."""
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        reply: dict[str, Any]
        if path == RESET_PATH and method == "POST":
            self.reset()
            status, reply = "200 OK", {"reset": True}
        elif path == BILLING_PATH and method == "GET":
            status, reply = "200 OK", self.totals()
        else:
            status, reply = "404 Not Found", {"error": f"{method} {path}: no such meter endpoint"}
        data = json.dumps(reply).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]


def _error(body: bytes) -> str:
    try:
        kind = json.loads(body).get("__type", "")
    except (ValueError, AttributeError):
        return ""
    return str(kind).rsplit("#", 1)[-1]


def _backend(environ: WSGIEnvironment) -> Any:
    """moto's DynamoDB backend of the account and region the request is signed for."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - moto loads late
    from moto.iam.models import get_account_id_from  # noqa: PLC0415

    credential = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")
    access_key, region = credential[0], credential[2] if len(credential) > 2 else "us-east-1"
    account = (
        os.environ.get("MOTO_ACCOUNT_ID")
        or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        or get_account_id_from(access_key)
    )
    return dynamodb_backends[account][region]


def _table(backend: Any, name: str) -> Any:
    try:
        return backend.get_table(name)
    except Exception:  # noqa: BLE001 - no such table: moto answers the request with its error
        return None


def _item(table: Any, key: TypedItem) -> TypedItem | None:
    """The item at ``key`` as moto holds it now (a copy: moto may change it in place)."""
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

    try:
        range_attr = table.range_key_attr
        item = table.get_item(
            DynamoType(dict(key[table.hash_key_attr])),
            DynamoType(dict(key[range_attr])) if range_attr else None,
        )
    except Exception:  # noqa: BLE001 - a malformed key: moto rejects the request itself
        return None
    return None if item is None else item.to_json()["Attributes"]


def _shapes(table: Any) -> tuple[IndexShape, ...]:
    keys = tuple(table.table_key_attrs)
    return tuple(
        IndexShape(
            index.name,
            tuple(index.schema_key_attrs),
            keys,
            index.projection.get("ProjectionType", "ALL"),
            tuple(index.projection.get("NonKeyAttributes", ())),
        )
        for index in table.all_indexes()
    )


def _writes(pending: Pending) -> Iterable[_Write]:
    """The items a write request touches (those of tables that exist)."""
    op, request = pending.op, pending.request
    touched: list[tuple[str, dict[str, Any], bool, bool]] = []  # table, item or key, is item
    if op == "PutItem":
        touched.append((request.get("TableName", ""), request.get("Item", {}), True, False))
    elif op in ("UpdateItem", "DeleteItem"):
        touched.append((request.get("TableName", ""), request.get("Key", {}), False, False))
    elif op == "BatchWriteItem":
        for name, entries in request.get("RequestItems", {}).items():
            for entry in entries:
                put = "PutRequest" in entry
                body = entry["PutRequest"]["Item"] if put else entry["DeleteRequest"]["Key"]
                touched.append((name, body, put, False))
    else:  # TransactWriteItems
        for entry in request.get("TransactItems", []):
            [(kind, body)] = entry.items()
            item = kind == "Put"
            touched.append(
                (
                    body["TableName"],
                    body["Item"] if item else body["Key"],
                    item,
                    kind == "ConditionCheck",
                )
            )
    for name, attrs, is_item, check in touched:
        table = _table(pending.backend, name)
        if table is not None:
            key = {k: attrs[k] for k in table.table_key_attrs if k in attrs} if is_item else attrs
            yield _Write(table, key, check)


def _gets(op: str, request: dict[str, Any]) -> Iterable[tuple[str, list[TypedItem], bool]]:
    if op == "BatchGetItem":
        for name, spec in request.get("RequestItems", {}).items():
            yield name, spec.get("Keys", []), bool(spec.get("ConsistentRead"))
    else:  # TransactGetItems: strongly consistent, twice the units
        for entry in request.get("TransactItems", []):
            get = entry.get("Get", {})
            yield get.get("TableName", ""), [get.get("Key", {})], True


def _page_units(request: dict[str, Any], body: bytes) -> float:
    """The read units of a Query or Scan page, from the items its reply carries."""
    reply = json.loads(body or b"{}")
    items = reply.get("Items", [])
    read = sum(typed_size(item) for item in items)
    partial = any(k in request for k in _UNFILTERED) or request.get("Select") in (
        "COUNT",
        "SPECIFIC_ATTRIBUTES",
    )
    scanned = int(reply.get("ScannedCount", len(items)))
    if partial and scanned > len(items):
        read = read * scanned // len(items) if items else scanned
    return read_units(read, consistent=bool(request.get("ConsistentRead")))
