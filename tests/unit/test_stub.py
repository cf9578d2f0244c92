"""The stub backend's DynamoDB: the expressions aiodynamo encodes behave as DynamoDB's do,
conditional writes included."""

from __future__ import annotations

from typing import Any

import pytest
from aiodynamo.expressions import F, HashKey, Parameters, RangeKey

from paysys_tools.stub.dynamodb import DynamoError, DynamoStub
from paysys_tools.stub.expressions import apply_update, condition


def _encoded(expression: Any) -> tuple[str, dict[str, Any]]:
    params = Parameters()
    return expression.encode(params), params.to_request_payload()


def _holds(expression: Any, item: dict[str, Any]) -> bool:
    text, payload = _encoded(expression)
    names, values = (
        payload["ExpressionAttributeNames"],
        payload.get("ExpressionAttributeValues", {}),
    )
    return condition(text, names, values)(item)


def test_conditions() -> None:
    item = {"id": {"S": "a"}, "status": {"S": "Pending"}, "round": {"N": "3"}}
    assert _holds(F("status").equals("Pending") & F("id").exists(), item)
    assert not _holds(F("id").does_not_exist(), item)
    assert _holds(F("id").does_not_exist() | F("round").gte(3), item)
    assert not _holds(F("round").lt(3) | F("nope").exists(), item)
    assert _holds(F("round").gt(2) & F("status").not_equals("Approved"), item)
    assert _holds(F("status").begins_with("Pen"), item)
    assert _holds(~F("status").equals("Approved"), item)
    assert not _holds(F("missing").equals("x"), item)
    assert _holds(HashKey("id", "a") & RangeKey("status").lt("Z"), item)


def test_updates() -> None:
    item: dict[str, Any] = {"id": {"S": "a"}, "due_at": {"S": "t"}, "n": {"N": "2"}}
    update = (
        F("status").set("Approved")
        & F("due_at").remove()
        & F("n").add(3)
        & F("fresh").add(1)
        & F("first").set_if_not_exists("m1")
    )
    text, payload = _encoded(update)
    apply_update(
        item, text, payload["ExpressionAttributeNames"], payload["ExpressionAttributeValues"]
    )
    assert item == {
        "id": {"S": "a"},
        "status": {"S": "Approved"},
        "n": {"N": "5"},
        "fresh": {"N": "1"},
        "first": {"S": "m1"},
    }
    text, payload = _encoded(F("first").set_if_not_exists("m2"))
    apply_update(
        item, text, payload["ExpressionAttributeNames"], payload["ExpressionAttributeValues"]
    )
    assert item["first"] == {"S": "m1"}


def test_conditional_writes_behave() -> None:
    db = DynamoStub()
    db.handle(
        "CreateTable",
        {"TableName": "t", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]},
    )
    text, payload = _encoded(F("id").does_not_exist())
    put = {"TableName": "t", "Item": {"id": {"S": "a"}}, "ConditionExpression": text, **payload}
    db.handle("PutItem", put)
    with pytest.raises(DynamoError) as failed:
        db.handle("PutItem", put)
    assert failed.value.kind == "ConditionalCheckFailedException"
    text, payload = _encoded(F("id").exists())
    names = {**payload["ExpressionAttributeNames"], "#s": "status"}
    update = {
        "TableName": "t",
        "Key": {"id": {"S": "a"}},
        "UpdateExpression": "SET #s = :s",
        "ConditionExpression": text,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":s": {"S": "Approved"}},
        "ReturnValues": "ALL_NEW",
    }
    assert db.handle("UpdateItem", update)["Attributes"]["status"] == {"S": "Approved"}
    assert db.handle("GetItem", {"TableName": "t", "Key": {"id": {"S": "a"}}})["Item"]["status"]
