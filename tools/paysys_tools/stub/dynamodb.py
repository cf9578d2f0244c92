"""The stub's DynamoDB: tables of items in dicts, the JSON 1.0 operations paysys (and the
bench's harness and provisioning) make, conditional writes evaluated as DynamoDB does."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paysys_tools.stub.expressions import Item, apply_update, condition

Json = dict[str, Any]
_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class DynamoError(Exception):
    """A DynamoDB error reply: ``__type`` and message, HTTP 400."""

    def __init__(self, kind: str, message: str, item: Item | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.item = item

    def body(self) -> Json:
        body: Json = {"__type": _PREFIX + self.kind, "message": str(self)}
        if self.item is not None:
            body["Item"] = self.item
        return body


@dataclass(slots=True)
class Table:
    description: Json
    hash_key: str
    range_key: str | None = None
    items: dict[tuple[Any, ...], Item] = field(default_factory=dict)
    ttl: str | None = None

    def key(self, key: Item) -> tuple[Any, ...]:
        try:
            hashed = tuple(key[self.hash_key].items())
            ranged = tuple(key[self.range_key].items()) if self.range_key else ()
        except KeyError as exc:
            raise DynamoError("ValidationException", f"missing key {exc}") from None
        return hashed + ranged


class DynamoStub:
    """All tables of one stub process."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.ops: dict[str, Callable[[Json], Json]] = {
            "CreateTable": self.create_table,
            "DescribeTable": self.describe_table,
            "DeleteTable": self.delete_table,
            "DescribeTimeToLive": self.describe_ttl,
            "UpdateTimeToLive": self.update_ttl,
            "PutItem": self.put_item,
            "GetItem": self.get_item,
            "UpdateItem": self.update_item,
            "DeleteItem": self.delete_item,
            "BatchGetItem": self.batch_get,
            "BatchWriteItem": self.batch_write,
            "Query": self.query,
            "Scan": self.query,  # a query without a key condition
        }

    def handle(self, operation: str, request: Json) -> Json:
        op = self.ops.get(operation)
        if op is None:
            raise DynamoError("UnknownOperationException", operation)
        return op(request)

    def table(self, request: Json) -> Table:
        table = self.tables.get(request["TableName"])
        if table is None:
            raise DynamoError("ResourceNotFoundException", "Requested resource not found")
        return table

    def create_table(self, request: Json) -> Json:
        name = request["TableName"]
        if name in self.tables:
            raise DynamoError("ResourceInUseException", f"Table already exists: {name}")
        keys = {k["KeyType"]: k["AttributeName"] for k in request["KeySchema"]}
        description = {
            **{k: v for k, v in request.items() if k != "GlobalSecondaryIndexes"},
            "TableStatus": "ACTIVE",
            "TableArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}",
            "ItemCount": 0,
            "TableSizeBytes": 0,
            "CreationDateTime": 0,
        }
        if request.get("GlobalSecondaryIndexes"):
            description["GlobalSecondaryIndexes"] = [
                {**g, "IndexStatus": "ACTIVE"} for g in request["GlobalSecondaryIndexes"]
            ]
        self.tables[name] = Table(description, keys["HASH"], keys.get("RANGE"))
        return {"TableDescription": description}

    def describe_table(self, request: Json) -> Json:
        return {"Table": self.table(request).description}

    def delete_table(self, request: Json) -> Json:
        table = self.table(request)
        del self.tables[request["TableName"]]
        return {"TableDescription": table.description}

    def describe_ttl(self, request: Json) -> Json:
        ttl = self.table(request).ttl
        if ttl is None:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl}}

    def update_ttl(self, request: Json) -> Json:
        spec = request["TimeToLiveSpecification"]
        self.table(request).ttl = spec["AttributeName"] if spec.get("Enabled") else None
        return {"TimeToLiveSpecification": spec}

    def _check(self, request: Json, old: Item | None) -> None:
        predicate = condition(
            request.get("ConditionExpression"),
            request.get("ExpressionAttributeNames", {}),
            request.get("ExpressionAttributeValues", {}),
        )
        if not predicate(old or {}):
            returned = (
                old if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
            )
            raise DynamoError(
                "ConditionalCheckFailedException", "The conditional request failed", returned
            )

    def put_item(self, request: Json) -> Json:
        table = self.table(request)
        item: Item = request["Item"]
        key = table.key(item)
        old = table.items.get(key)
        self._check(request, old)
        table.items[key] = item
        return {"Attributes": old} if old and request.get("ReturnValues") == "ALL_OLD" else {}

    def get_item(self, request: Json) -> Json:
        table = self.table(request)
        item = table.items.get(table.key(request["Key"]))
        return {} if item is None else {"Item": item}

    def update_item(self, request: Json) -> Json:
        table = self.table(request)
        key = table.key(request["Key"])
        old = table.items.get(key)
        self._check(request, old)
        new = copy.deepcopy(old) if old else dict(request["Key"])
        if request.get("UpdateExpression"):
            apply_update(
                new,
                request["UpdateExpression"],
                request.get("ExpressionAttributeNames", {}),
                request.get("ExpressionAttributeValues", {}),
            )
        table.items[key] = new
        returns = request.get("ReturnValues", "NONE")
        if returns in ("ALL_NEW", "UPDATED_NEW"):
            return {"Attributes": new}
        if returns in ("ALL_OLD", "UPDATED_OLD") and old:
            return {"Attributes": old}
        return {}

    def delete_item(self, request: Json) -> Json:
        table = self.table(request)
        key = table.key(request["Key"])
        old = table.items.get(key)
        self._check(request, old)
        table.items.pop(key, None)
        return {"Attributes": old} if old and request.get("ReturnValues") == "ALL_OLD" else {}

    def batch_get(self, request: Json) -> Json:
        responses: dict[str, list[Item]] = {}
        for name, spec in request["RequestItems"].items():
            table = self.table({"TableName": name})
            found = (table.items.get(table.key(k)) for k in spec["Keys"])
            responses[name] = [item for item in found if item is not None]
        return {"Responses": responses, "UnprocessedKeys": {}}

    def batch_write(self, request: Json) -> Json:
        for name, writes in request["RequestItems"].items():
            table = self.table({"TableName": name})
            for write in writes:
                if "PutRequest" in write:
                    item = write["PutRequest"]["Item"]
                    table.items[table.key(item)] = item
                else:
                    table.items.pop(table.key(write["DeleteRequest"]["Key"]), None)
        return {"UnprocessedItems": {}}

    def query(self, request: Json) -> Json:
        """Every item matching the key condition (a scan: the stub's tables stay small),
        ordered by the index's range key, up to ``Limit``."""
        table = self.table(request)
        names = request.get("ExpressionAttributeNames", {})
        values = request.get("ExpressionAttributeValues", {})
        keyed = condition(request.get("KeyConditionExpression"), names, values)
        filtered = condition(request.get("FilterExpression"), names, values)
        range_key = self._range_key(table, request.get("IndexName"))
        matches = [i for i in table.items.values() if keyed(i) and filtered(i)]
        if range_key is not None:
            matches.sort(key=lambda i: str(next(iter(i.get(range_key, {"S": ""}).values()))))
        if request.get("ScanIndexForward") is False:
            matches.reverse()
        limit = request.get("Limit")
        page = matches[:limit] if limit else matches
        if request.get("Select") == "COUNT":
            return {"Count": len(page), "ScannedCount": len(page)}
        return {"Items": page, "Count": len(page), "ScannedCount": len(page)}

    @staticmethod
    def _range_key(table: Table, index: str | None) -> str | None:
        if index is None:
            return table.range_key
        for gsi in table.description.get("GlobalSecondaryIndexes", []):
            if gsi["IndexName"] == index:
                keys = {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
                return keys.get("RANGE")
        raise DynamoError("ValidationException", f"no index {index}")
