"""The per-merchant webhook index on the emulator: the worker's lookup of a merchant without
endpoints is one GetItem; registration and delete keep the index equal to the slots, also
when a registration's reply is lost and it is sent again; ``paysys provision`` builds the
index of endpoints registered before it existed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paysys.adapters.webhook_index import index_id, slots_of
from paysys.adapters.webhook_store import DynamoWebhookEndpoints, endpoint_item
from paysys.config import Settings
from paysys.core.service import new_token
from paysys.core.webhooks import NewEndpoint, WebhookEndpoint
from paysys.errors import WebhookEndpointNotFound
from paysys.ops.migrate_webhooks import build_webhook_index
from paysys.ops.provision import provision
from paysys.runtime.resources import Clients, Resources, open_clients

from ..backends import Backend
from ..http_faults import Fault, HttpFaults
from .test_velocity_faults import first_take

NOW = datetime(2026, 12, 5, 5, 0, tzinfo=UTC)
NEW = NewEndpoint("http://127.0.0.1:9/hook", ("PaymentApproved",))


def store(clients: Clients) -> DynamoWebhookEndpoints:
    return DynamoWebhookEndpoints(clients.dynamodb, clients.settings.table_name)


async def indexed(clients: Clients, merchant: str) -> frozenset[int]:
    items = [
        item
        async for item in clients.dynamodb.scan(clients.settings.table_name)
        if item["id"] == index_id(merchant)
    ]
    return slots_of(items[0] if items else None)


async def test_a_merchant_without_endpoints_costs_one_get_item(resources: Resources) -> None:
    webhooks = store(resources.clients)
    calls = resources.clients.calls.calls
    before = calls.copy()
    assert await webhooks.cached("nobody") == []
    assert calls - before == {"dynamodb:GetItem": 1}


async def test_only_the_indexed_slots_are_read_and_a_delete_unlists_its_slot(
    resources: Resources,
) -> None:
    webhooks = store(resources.clients)
    first = await webhooks.add("alice", NEW, NOW, new_token())
    second = await webhooks.add("alice", NEW, NOW, new_token())
    assert await indexed(resources.clients, "alice") == {first.slot, second.slot}
    await webhooks.delete("alice", first.endpoint_id)
    assert await indexed(resources.clients, "alice") == {second.slot}
    calls = resources.clients.calls.calls
    before = calls.copy()
    assert [e.endpoint_id for e in await webhooks.cached("alice")] == [second.endpoint_id]
    assert calls - before == {"dynamodb:GetItem": 1, "dynamodb:BatchGetItem": 1}
    await webhooks.delete("alice", second.endpoint_id)
    with pytest.raises(WebhookEndpointNotFound):  # deleted again: gone, nothing changes
        await webhooks.delete("alice", second.endpoint_id)
    assert await indexed(resources.clients, "alice") == set()
    assert await webhooks.cached("alice") == []
    third = await webhooks.add("alice", NEW, NOW, new_token())
    assert third.slot == first.slot  # the freed slot is taken again
    assert await indexed(resources.clients, "alice") == {third.slot}


@pytest.mark.parametrize("fault", [Fault.DROP_REPLY, Fault.RESET])
async def test_a_registration_whose_reply_is_lost_is_stored_once(
    settings: Settings, resources: Resources, backend: Backend, fault: Fault
) -> None:
    """aiodynamo sends the transaction again with its token (the emulator, as DynamoDB,
    answers it from the first commit); the store called again with the request's token
    finds the endpoint it stored."""
    token = new_token()
    faulted = settings.replace(aws_timeout_seconds=1.0, dynamodb_retry_seconds=3.0)
    async with HttpFaults(backend.dynamodb, first_take(fault)) as proxy:  # type: ignore[arg-type]
        async with open_clients(faulted.replace(dynamodb_endpoint_url=proxy.url)) as opened:
            added = await store(opened).add("bob", NEW, NOW, token)
        assert proxy.seen[fault] == 1  # the first send committed, its reply was lost
    again = await store(resources.clients).add("bob", NEW, NOW, token)
    assert again == added
    assert [e.endpoint_id for e in await store(resources.clients).list("bob")] == [
        added.endpoint_id
    ]
    assert await indexed(resources.clients, "bob") == {added.slot}


async def test_provision_indexes_the_endpoints_registered_before_the_index(
    resources: Resources,
) -> None:
    """Endpoint items written as an earlier paysys wrote them (no index) are indexed once."""
    clients = resources.clients
    table = clients.settings.table_name
    for merchant, slot in [("carol", 0), ("carol", 3), ("dave", 1)]:
        endpoint = WebhookEndpoint(f"we_{merchant}{slot}", merchant, NEW.url, (), "s", NOW, slot)
        await clients.dynamodb.put_item(table, endpoint_item(endpoint, slot, new_token()))
    assert await store(clients).cached("carol") == []  # not indexed yet: the worker misses it
    assert "webhook_index:2" in (await provision(clients)).created
    assert await indexed(clients, "carol") == {0, 3}
    assert await indexed(clients, "dave") == {1}
    assert len(await store(clients).cached("carol")) == 2
    assert not [c for c in (await provision(clients)).created if c.startswith("webhook")]
    await store(clients).add("carol", NEW, NOW, new_token())
    assert await build_webhook_index(clients.dynamodb, table) == 0  # registered: indexed


async def test_a_delete_whose_reply_is_lost_unlists_its_slot_once(
    settings: Settings, resources: Resources, backend: Backend
) -> None:
    endpoint = await store(resources.clients).add("erin", NEW, NOW, new_token())
    faulted = settings.replace(aws_timeout_seconds=1.0, dynamodb_retry_seconds=3.0)
    rule = first_take(Fault.DROP_REPLY)
    async with HttpFaults(backend.dynamodb, rule) as proxy:  # type: ignore[arg-type]
        async with open_clients(faulted.replace(dynamodb_endpoint_url=proxy.url)) as opened:
            await store(opened).delete("erin", endpoint.endpoint_id)
        assert proxy.seen[Fault.DROP_REPLY] == 1
    assert await store(resources.clients).list("erin") == []
    assert await indexed(resources.clients, "erin") == set()
