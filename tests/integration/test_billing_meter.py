"""The emulator's billing meter over HTTP: small hand-made requests whose units AWS's
on-demand rules fix (paysys.local.metering)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from paysys.adapters.dynamodb_size import item_size
from paysys_tools.meter import dynamodb_client, read_meter

from ..backends import Backend

GSI = "by_g"
Units = tuple[float, float]  # (wru, rru) billed to the table


@pytest.fixture
async def ddb(backend: Backend) -> AsyncIterator[Any]:
    if backend.name == "localstack-docker":
        pytest.skip("the billing meter lives in paysys's embedded emulator")
    async with dynamodb_client(backend.dynamodb) as client:
        yield client


def padded(key: str, size: int, **attrs: str) -> dict[str, Any]:
    """An item ``{"id": key, **attrs, "filler": "xx..."}`` of exactly ``size`` bytes."""
    plain = {"id": key, **attrs, "filler": ""}
    plain["filler"] = "x" * (size - item_size(plain))
    assert item_size(plain) == size
    return {name: {"S": value} for name, value in plain.items()}


async def new_table(ddb: Any, *, range_key: bool = False, gsi: bool = False) -> str:
    name = f"meter-{uuid.uuid4().hex[:10]}"
    keys = [{"AttributeName": "id", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "id", "AttributeType": "S"}]
    extra: dict[str, Any] = {}
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    if gsi:  # keys g + gs; projects only "shown" beyond the keys
        attrs += [
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "gs", "AttributeType": "S"},
        ]
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": GSI,
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "gs", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["shown"]},
            }
        ]
    await ddb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name


async def billed(backend: Backend, table: str, call: Callable[[], Awaitable[Any]]) -> Units:
    """The (wru, rru) the meter bills ``table`` for ``call``."""

    async def now() -> Units:
        kinds = (await read_meter(backend.dynamodb))["tables"].get(table, {})
        return sum(kinds.get("wru", {}).values()), sum(kinds.get("rru", {}).values())

    before = await now()
    await call()
    after = await now()
    return after[0] - before[0], after[1] - before[1]


async def test_puts_cost_a_unit_per_kb(backend: Backend, ddb: Any) -> None:
    table = await new_table(ddb)
    small, large = padded("a", 900), padded("b", 1500)
    assert await billed(backend, table, lambda: ddb.put_item(TableName=table, Item=small)) == (1, 0)
    assert await billed(backend, table, lambda: ddb.put_item(TableName=table, Item=large)) == (2, 0)


async def test_an_update_costs_the_larger_of_before_and_after(backend: Backend, ddb: Any) -> None:
    table = await new_table(ddb)
    await ddb.put_item(TableName=table, Item=padded("a", 900))
    longer = padded("a", 1100)["filler"]

    async def grow() -> None:
        await ddb.update_item(
            TableName=table,
            Key={"id": {"S": "a"}},
            UpdateExpression="SET filler = :p",
            ExpressionAttributeValues={":p": longer},
        )

    assert await billed(backend, table, grow) == (2, 0)


async def test_a_failed_conditional_put_is_billed(backend: Backend, ddb: Any) -> None:
    table = await new_table(ddb)
    await ddb.put_item(TableName=table, Item=padded("a", 100))

    async def put_again() -> None:
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            await ddb.put_item(
                TableName=table,
                Item=padded("a", 200),
                ConditionExpression="attribute_not_exists(id)",
            )

    assert await billed(backend, table, put_again) == (1, 0)


async def test_index_writes_follow_the_index_keys(backend: Backend, ddb: Any) -> None:
    table = await new_table(ddb, gsi=True)

    def update(expression: str, **values: str) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            await ddb.update_item(
                TableName=table,
                Key={"id": {"S": "a"}},
                UpdateExpression=expression,
                **(
                    {"ExpressionAttributeValues": {k: {"S": v} for k, v in values.items()}}
                    if values
                    else {}
                ),
            )

        return call

    item = padded("a", 200, g="g1", gs="s1", shown="v1")
    put = billed(backend, table, lambda: ddb.put_item(TableName=table, Item=item))
    assert await put == (2, 0)  # the table and an index put
    assert await billed(backend, table, update("SET extra = :o", **{":o": "x"})) == (1, 0)
    assert await billed(backend, table, update("SET shown = :s", **{":s": "v2"})) == (2, 0)
    assert await billed(backend, table, update("SET gs = :s", **{":s": "s2"})) == (3, 0)
    assert await billed(backend, table, update("REMOVE g, gs")) == (2, 0)  # an index delete
    assert await billed(backend, table, update("SET extra = :o", **{":o": "y"})) == (1, 0)


async def test_a_transaction_costs_twice(backend: Backend, ddb: Any) -> None:
    table = await new_table(ddb)
    items = [{"Put": {"TableName": table, "Item": padded(k, 100)}} for k in ("a", "b")]
    token = uuid.uuid4().hex

    async def transact() -> None:
        await ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)

    assert await billed(backend, table, transact) == (4, 0)
    # The same token again is answered without applying it: AWS bills reading the items.
    assert await billed(backend, table, transact) == (0, 2)


async def test_reads_cost_a_unit_per_4kb(backend: Backend, ddb: Any) -> None:
    table = await new_table(ddb, range_key=True)
    for sk in ("1", "2", "3"):
        await ddb.put_item(TableName=table, Item={**padded("a", 300), "sk": {"S": sk}})
    key = {"id": {"S": "a"}, "sk": {"S": "1"}}

    def get(consistent: bool) -> Callable[[], Awaitable[Any]]:
        return lambda: ddb.get_item(TableName=table, Key=key, ConsistentRead=consistent)

    assert await billed(backend, table, get(True)) == (0, 1)
    assert await billed(backend, table, get(False)) == (0, 0.5)

    async def query() -> None:
        page = await ddb.query(
            TableName=table,
            KeyConditionExpression="id = :a",
            ExpressionAttributeValues={":a": {"S": "a"}},
            ConsistentRead=True,
        )
        assert page["Count"] == 3

    assert await billed(backend, table, query) == (0, 1)


async def test_the_meter_counts_calls_by_operation(backend: Backend, ddb: Any) -> None:
    table = await new_table(ddb)
    before = (await read_meter(backend.dynamodb))["calls"].get("PutItem", 0)
    await ddb.put_item(TableName=table, Item=padded("a", 100))
    after = await read_meter(backend.dynamodb)
    assert after["calls"]["PutItem"] == before + 1
    assert after["tables"][table]["wru"] == {"PutItem": 1}


async def test_an_exempt_client_is_not_metered(backend: Backend, ddb: Any) -> None:
    table = await new_table(ddb)
    await ddb.put_item(TableName=table, Item=padded("a", 100))
    async with dynamodb_client(backend.dynamodb, metered=False) as quiet:
        read = lambda: quiet.get_item(TableName=table, Key={"id": {"S": "a"}})  # noqa: E731
        assert await billed(backend, table, read) == (0, 0)
