"""LeaseStore over DynamoDB: leases as items in the payments table (the reconciler's shards)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiodynamo.client import Client
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F

from paysys.adapters.dynamodb_items import dynamo_translated


@dataclass(frozen=True, slots=True)
class DynamoLeases:
    """Leases as items ``#lease#<name>`` in the payments table (no index key: in no index)."""

    client: Client
    table: str

    async def acquire(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        epoch = now.timestamp()
        item = lease_item(name, owner, epoch + seconds)
        # Free, run out, or already this owner's (a retry whose reply was lost, or its own
        # lease from the last pass): an owner never locks itself out.
        free = F("id").does_not_exist() | F("until").lt(epoch) | F("owner").equals(owner)
        try:
            async with dynamo_translated("PutItem"):
                await self.client.put_item(self.table, item, condition=free)
        except ConditionalCheckFailed:
            return False
        return True


def lease_item(name: str, owner: str, until: float) -> dict[str, Any]:
    """The item of lease ``name`` held by ``owner`` until ``until`` (epoch seconds)."""
    return {"id": f"#lease#{name}", "kind": "lease", "owner": owner, "until": until}
