"""Idempotency-Key on POST /payments (Stripe semantics), against the real emulator."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from paysys.adapters.dynamodb_size import item_size
from paysys.core.domain import fingerprint, new_payment_id, parse_new_payment, utcnow
from paysys.core.limits import IDEMPOTENCY_KEY_MAX_BYTES
from paysys.runtime.resources import Clients, Resources

BODY = {"amount": "42.00", "currency": "BRL", "description": "book"}


async def post(api: TestClient[Any, Any], key: str, body: dict[str, str] = BODY) -> Any:
    return await api.post("/payments", json=body, headers={"Idempotency-Key": key})


async def test_retry_with_same_key_and_body_replays_the_first_answer(
    api: TestClient[Any, Any], resources: Resources
) -> None:
    first = await post(api, "order-1")
    second = await post(api, "order-1")
    assert (first.status, second.status) == (202, 202)
    assert await first.json() == await second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Location"] == first.headers["Location"]
    # One payment, one event (the API queues it for a batch: send what is queued first; SNS
    # delivers to SQS asynchronously).
    await resources.events.flush()
    async with asyncio.timeout(10):
        while await resources.queue.depth() == (0, 0):  # noqa: ASYNC110 - polling SQS
            await asyncio.sleep(0.1)
    assert await resources.queue.depth() == (1, 0)


async def test_same_body_without_key_makes_two_payments(api: TestClient[Any, Any]) -> None:
    first = await api.post("/payments", json=BODY)
    second = await api.post("/payments", json=BODY)
    assert (await first.json())["id"] != (await second.json())["id"]


async def test_same_key_with_other_body_is_422(api: TestClient[Any, Any]) -> None:
    assert (await post(api, "order-2")).status == 202
    other = await post(api, "order-2", {**BODY, "amount": "43.00"})
    assert other.status == 422
    assert (await other.json())["error"]["code"] == "idempotency_key_reused"


async def test_key_equivalence_is_by_value_not_bytes(api: TestClient[Any, Any]) -> None:
    first = await post(api, "order-3", {"amount": "42", "currency": "BRL", "description": "book"})
    second = await post(api, "order-3", BODY)  # "42" and "42.00" are the same amount
    assert (await first.json())["id"] == (await second.json())["id"]


async def test_racing_requests_with_one_key_make_one_payment(api: TestClient[Any, Any]) -> None:
    responses = await asyncio.gather(*(post(api, "order-race") for _ in range(6)))
    statuses = sorted(r.status for r in responses)
    assert set(statuses) <= {202, 409}
    assert statuses.count(202) >= 1
    ids = {(await r.json())["id"] for r in responses if r.status == 202}
    assert len(ids) == 1
    for r in responses:
        if r.status == 409:
            assert (await r.json())["error"]["code"] == "idempotency_conflict"


async def test_request_in_progress_is_409(api: TestClient[Any, Any], resources: Resources) -> None:
    new = parse_new_payment(BODY, max_amount=resources.clients.settings.max_amount)
    await resources.service.idempotency.claim(
        "default:held", fingerprint(new), new_payment_id(), utcnow()
    )
    response = await post(api, "held")
    assert response.status == 409


async def test_dead_holder_is_resumed_with_its_payment_id(
    api: TestClient[Any, Any], resources: Resources
) -> None:
    new = parse_new_payment(BODY, max_amount=resources.clients.settings.max_amount)
    payment_id = new_payment_id()
    long_ago = utcnow() - timedelta(minutes=5)  # its lease ran out long ago
    await resources.service.idempotency.claim(
        "default:crashed", fingerprint(new), payment_id, long_ago
    )
    response = await post(api, "crashed")
    assert response.status == 202
    assert (await response.json())["id"] == payment_id


@pytest.mark.parametrize("key", ["k" * 256, ""])
async def test_bad_keys_are_rejected(api: TestClient[Any, Any], key: str) -> None:
    response = await post(api, key)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_idempotency_key"


async def test_a_key_is_limited_in_bytes_and_the_error_names_the_header(
    api: TestClient[Any, Any],
) -> None:
    response = await post(api, "k" * IDEMPOTENCY_KEY_MAX_BYTES)
    assert response.status == 202
    response = await post(api, "k" * (IDEMPOTENCY_KEY_MAX_BYTES + 1))
    assert response.status == 400
    assert (await response.json())["error"] == {
        "code": "invalid_idempotency_key",
        "message": f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX_BYTES} bytes in "
        f"UTF-8 (got {IDEMPOTENCY_KEY_MAX_BYTES + 1})",
    }


async def test_the_record_holds_the_payment_id_not_the_response(
    api: TestClient[Any, Any], clients: Clients
) -> None:
    body = {**BODY, "description": "\N{GRINNING FACE}" * 50}
    first = await post(api, "order-small", body)
    again = await post(api, "order-small", body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()  # read from the payment itself
    record = await clients.dynamodb.get_item(
        clients.settings.idempotency_table_name, {"key": "default:order-small"}
    )
    assert record["payment_id"] == (await first.json())["id"]
    assert "response" not in record
    assert item_size(record) < 300


async def test_keys_are_stored_with_an_expiry(api: TestClient[Any, Any], clients: Clients) -> None:
    await post(api, "order-ttl")
    settings = clients.settings
    ttl = await clients.dynamodb.describe_time_to_live(settings.idempotency_table_name)
    assert ttl.attribute == "expires_at"
    record = await clients.dynamodb.get_item(
        settings.idempotency_table_name, {"key": "default:order-ttl"}
    )
    remaining = int(record["expires_at"]) - int(utcnow().timestamp())
    assert settings.idempotency_ttl_seconds - 60 < remaining <= settings.idempotency_ttl_seconds
    assert record["state"] == "done"
