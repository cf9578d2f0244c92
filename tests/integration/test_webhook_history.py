"""Delivery history, a delivery queued again, and secret rotation, end to end on the emulator
with a real receiver on loopback: what the merchant reads back is what was attempted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from paysys.adapters.webhook_history import history_id
from paysys.api.auth import new_key
from paysys.core.deliveries import DeliveryAttempt
from paysys.core.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER

from ..backends import Backend
from ..conftest import fresh_resources, make_app, serving, until
from .test_webhooks import (
    WEBHOOKS,
    Receiver,
    decide_and_deliver,
    delivering,
    documented_verify,
    pay,
    receiving,
    register,
)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def deliveries(api: Any, key: str, payment_id: str) -> list[dict[str, Any]]:
    async with api.get(f"/payments/{payment_id}/webhook-deliveries", headers=auth(key)) as got:
        assert got.status == 200, await got.text()
        listed: list[dict[str, Any]] = (await got.json())["webhook_deliveries"]
    return listed


async def test_the_history_shows_each_attempt_and_a_retry_queues_one_more(
    backend: Backend,
) -> None:
    (key, digest), (other, other_digest) = new_key("alice"), new_key("bob")
    receiver = Receiver(statuses=[500])
    overrides = {**WEBHOOKS, "webhook_retry_base_seconds": 1.0}
    async with (
        fresh_resources(backend, **overrides) as resources,
        receiving(receiver) as url,
    ):
        settings = resources.clients.settings
        app = make_app(settings, resources, api_keys=f"{digest},{other_digest}")
        async with serving(app) as api:
            endpoint = await register(api, url, key)
            payment_id = await pay(api, key)
            assert await deliveries(api, key, payment_id) == []  # not decided yet
            await decide_and_deliver(resources, guard_seconds=30)
            [delivery] = await deliveries(api, key, payment_id)
            assert delivery["endpoint_id"] == endpoint["id"]
            assert delivery["event_id"] == f"{payment_id}.PaymentApproved"
            assert delivery["state"] == "delivered"
            first, second = delivery["attempts"]
            assert (first["attempt"], first["status_code"], first["result"]) == (1, 500, "retry")
            assert first["next_retry_at"] is not None
            assert first["next_retry_at"] <= second["at"]
            assert (second["attempt"], second["status_code"]) == (2, 200)
            assert second["result"] == "delivered"
            assert second["next_retry_at"] is None

            # Another merchant sees neither the payment's deliveries nor can retry one.
            async with api.get(
                f"/payments/{payment_id}/webhook-deliveries", headers=auth(other)
            ) as hidden:
                assert hidden.status == 404
            retry = f"/webhook-deliveries/{delivery['id']}/retry"
            async with api.post(retry, headers=auth(other)) as refused:
                assert refused.status == 404
                assert (await refused.json())["error"]["code"] == "webhook_delivery_not_found"

            async with api.post(retry, headers=auth(key)) as queued:
                assert queued.status == 202, await queued.text()
                assert (await queued.json())["id"] == delivery["id"]
            async with delivering(resources) as deliverer:
                await until(lambda: deliverer.results["delivered"] == 1, guard_seconds=30)
            [again] = await deliveries(api, key, payment_id)
        assert [a["attempt"] for a in again["attempts"]] == [1, 2, 3]  # numbering goes on
        assert again["attempts"][-1]["result"] == "delivered"
        assert again["attempt_count"] == 3
        assert len(receiver.got) == 3
        assert {h[EVENT_ID_HEADER] for _, h, _ in receiver.got} == {f"{payment_id}.PaymentApproved"}
        assert receiver.got[2][2] == receiver.got[1][2]  # the same event body, rebuilt


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(backend: Backend) -> None:
    key, digest = new_key("alice")
    receiver = Receiver()
    async with (
        fresh_resources(backend, **WEBHOOKS) as resources,
        receiving(receiver) as url,
    ):
        settings = resources.clients.settings
        async with serving(make_app(settings, resources, api_keys=digest)) as api:
            old = await register(api, url, key)
            rotate = f"/webhook-endpoints/{old['id']}/rotate-secret"
            async with api.post(rotate, headers=auth(key)) as rotated:
                assert rotated.status == 200, await rotated.text()
                new = await rotated.json()
            assert new["id"] == old["id"]
            assert new["secret"] != old["secret"]
            await pay(api, key)
            await decide_and_deliver(resources)
            [(_, headers, body)] = receiver.got
            verify = documented_verify()
            assert verify(old["secret"], headers[SIGNATURE_HEADER], body)  # still in overlap
            assert verify(new["secret"], headers[SIGNATURE_HEADER], body)

            body_now = {"previous_secret_expires_in": 0}  # the replaced secret ends now
            async with api.post(rotate, json=body_now, headers=auth(key)) as rotated:
                assert rotated.status == 200
                newest = await rotated.json()
            await pay(api, key)
            await decide_and_deliver(resources)
            (_, headers, body) = receiver.got[1]
            assert verify(newest["secret"], headers[SIGNATURE_HEADER], body)
            assert not verify(new["secret"], headers[SIGNATURE_HEADER], body)
            # The first secret's day of overlap goes on: a rotation keeps earlier overlaps.
            assert verify(old["secret"], headers[SIGNATURE_HEADER], body)

            bad = {"previous_secret_expires_in": -1}
            async with api.post(rotate, json=bad, headers=auth(key)) as refused:
                assert refused.status == 422
                [detail] = (await refused.json())["error"]["fields"]
                assert detail["field"] == "previous_secret_expires_in"
            async with api.post(
                "/webhook-endpoints/we_000000000000000000000000/rotate-secret", headers=auth(key)
            ) as missing:
                assert missing.status == 404


async def test_an_attempt_written_twice_is_stored_once(backend: Backend) -> None:
    """A write whose reply was lost, sent again, finds its own attempt: the same place, the
    same value. A slot reused by another endpoint does not take the first one's attempts."""
    key, digest = new_key("alice")
    async with fresh_resources(backend, **WEBHOOKS) as resources:
        settings = resources.clients.settings
        assert resources.webhooks is not None
        assert resources.webhook_history is not None
        history = resources.webhook_history
        async with serving(make_app(settings, resources, api_keys=digest)) as api:
            created = await register(api, "http://127.0.0.1:9/hook", key)
            payment_id = await pay(api, key)
        [endpoint] = await resources.webhooks.list("alice")
        assert endpoint.endpoint_id == created["id"]
        at = datetime(2026, 12, 5, 4, 30, 1, 250_000, tzinfo=UTC)  # whole milliseconds
        attempt = DeliveryAttempt(1, at, 503, 12.5, "retry", at, error="HTTP 503")
        assert await history.record(payment_id, endpoint, "PaymentApproved", attempt)
        assert await history.record(payment_id, endpoint, "PaymentApproved", attempt)
        [stored] = await history.for_payment("alice", payment_id)
        assert stored.attempts == (attempt,)
        # The item `paysys capacity` prices is the item stored.
        raw = await resources.clients.dynamodb.get_item(
            settings.table_name, {"id": history_id(payment_id, endpoint.slot)}
        )
        assert raw == history.first_item(payment_id, endpoint, "PaymentApproved", attempt)
        other = replace(endpoint, endpoint_id="we_other")
        assert not await history.record(payment_id, other, "PaymentApproved", attempt)
        assert [d.endpoint_id for d in await history.for_payment("alice", payment_id)] == [
            endpoint.endpoint_id
        ]
        assert await history.for_payment("bob", payment_id) == []
