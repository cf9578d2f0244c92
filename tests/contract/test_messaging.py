"""EventPublisher and MessageQueue: SNS raw delivery into SQS, visibility, redelivery, DLQ."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from paysys.core.domain import EVENT_TYPE, PaymentCreated
from paysys.core.ports import QueueMessage
from paysys.errors import BackendUnavailable

from ..traces import TRACEPARENT, continuing
from .conftest import GUARD_SECONDS, Ports

EVENT = PaymentCreated(
    payment_id="6f1c1f8e-6d3a-4c55-9a51-0d5a3b7b1f00",
    amount=Decimal("12.50"),
    currency="BRL",
    created_at=datetime(2026, 3, 1, tzinfo=UTC),
)


def outgoing(body: str, **attributes: str) -> QueueMessage:
    """A message to ``send`` (only body and attributes are sent)."""
    return QueueMessage("", "", body, 0, None, attributes=attributes)


async def test_publish_delivers_the_raw_event_with_its_attributes(ports: Ports) -> None:
    with continuing(TRACEPARENT, "vendor=opaque"):
        assert await ports.events.publish(EVENT, "corr-1")
    [message] = await ports.receive_eventually(ports.queue)
    assert message.body == EVENT.to_message()
    assert PaymentCreated.from_message(message.body) == EVENT
    assert message.attributes == {
        "event_type": EVENT_TYPE,
        "merchant_id": EVENT.merchant_id,
        "correlation_id": "corr-1",
        "traceparent": TRACEPARENT,  # the current context (tracing off: the caller's)
        "tracestate": "vendor=opaque",
    }
    assert (message.correlation_id, message.traceparent) == ("corr-1", TRACEPARENT)
    assert message.receive_count == 1
    assert message.message_id
    assert message.receipt_handle
    assert message.sent_at_ms > 0


async def test_submit_delivers_the_event_without_waiting_for_it(ports: Ports) -> None:
    await ports.events.submit(EVENT, "corr-2")  # queued; the real adapter sends it later
    [message] = await ports.receive_eventually(ports.queue)
    assert PaymentCreated.from_message(message.body) == EVENT
    assert message.correlation_id == "corr-2"


async def test_publish_without_trace_context_sends_no_traceparent(ports: Ports) -> None:
    await ports.events.publish(EVENT, "corr-2")
    [message] = await ports.receive_eventually(ports.queue)
    assert message.traceparent is None
    assert set(message.attributes) == {"event_type", "merchant_id", "correlation_id"}


async def test_publish_with_an_empty_correlation_id_is_refused(ports: Ports) -> None:
    # SNS refuses an empty attribute value: a payment stored without a correlation id could
    # never be (re)published.
    with pytest.raises(BackendUnavailable):
        await ports.events.publish(EVENT, "")


async def test_send_copies_body_and_attributes(ports: Ports) -> None:
    batch = [outgoing(f"body-{i}", correlation_id=f"c-{i}", kind="test") for i in range(12)]
    assert await ports.queue.send(batch) == batch
    received = await ports.receive_eventually(ports.queue, 12)
    assert sorted((m.body, m.correlation_id) for m in received) == sorted(
        (f"body-{i}", f"c-{i}") for i in range(12)
    )
    assert all(m.attributes["kind"] == "test" for m in received)
    assert len({m.message_id for m in received}) == 12


async def test_receive_takes_at_most_max_messages_and_hides_them(ports: Ports) -> None:
    await ports.queue.send([outgoing(f"m{i}") for i in range(3)])
    first = await ports.receive_eventually(ports.queue, 2)
    assert len(first) == 2
    assert await ports.queue.depth() == (1, 2)
    rest = await ports.queue.receive(10, ports.poll_seconds)
    assert [m.body for m in rest] == sorted({"m0", "m1", "m2"} - {m.body for m in first})
    assert await ports.queue.depth() == (0, 3)
    assert await ports.queue.receive(10, 0) == []  # all in flight


async def test_delete_is_batched_and_acknowledges(ports: Ports) -> None:
    await ports.queue.send([outgoing(f"m{i}") for i in range(12)])
    received = await ports.receive_eventually(ports.queue, 12)
    await ports.queue.delete(received)  # more than one SQS batch of 10
    assert await ports.queue.depth() == (0, 0)


async def test_an_expired_visibility_redelivers_with_the_count_raised(ports: Ports) -> None:
    await ports.queue.send([outgoing("again")])
    [first] = await ports.receive_eventually(ports.queue, visibility_seconds=1)
    ports.pass_time(1.5)
    [second] = await ports.receive_eventually(ports.queue, visibility_seconds=30)
    assert (second.message_id, second.body) == (first.message_id, "again")
    assert second.receive_count == 2
    assert second.receipt_handle != first.receipt_handle


async def test_change_visibility_zero_hands_back_at_once(ports: Ports) -> None:
    await ports.queue.send([outgoing("back")])
    [first] = await ports.receive_eventually(ports.queue)
    await ports.queue.change_visibility([first], 0)
    assert await ports.queue.depth() == (1, 0)
    [second] = await ports.receive_eventually(ports.queue)
    assert (second.message_id, second.receive_count) == (first.message_id, 2)


async def test_change_visibility_extends_the_hold(ports: Ports) -> None:
    await ports.queue.send([outgoing("held")])
    [held] = await ports.receive_eventually(ports.queue, visibility_seconds=1)
    await ports.queue.change_visibility([held], 4)
    assert await ports.receives_nothing_for(ports.queue, 2)  # past the first 1 s
    assert await ports.queue.depth() == (0, 1)


async def test_a_stale_receipt_handle_deletes_silently(ports: Ports) -> None:
    await ports.queue.send([outgoing("stale")])
    [first] = await ports.receive_eventually(ports.queue, visibility_seconds=1)
    ports.pass_time(1.5)
    [second] = await ports.receive_eventually(ports.queue)
    await ports.queue.delete([first])  # the handle of an earlier receive: no error
    assert await ports.queue.depth() == (0, 0)
    await ports.queue.delete([second])  # already deleted: no error either


async def test_after_max_receive_count_the_message_moves_to_the_dlq(ports: Ports) -> None:
    limit = ports.settings.max_receive_count
    await ports.queue.send([outgoing("poison", correlation_id="p")])
    for count in range(1, limit + 1):
        [message] = await ports.receive_eventually(ports.queue, visibility_seconds=1)
        assert message.receive_count == count
        ports.pass_time(1.5)
    # The next receive that finds it visible moves it instead of delivering it.
    async with asyncio.timeout(GUARD_SECONDS):
        while (await ports.dlq.depth())[0] == 0:
            assert await ports.queue.receive(10, ports.poll_seconds, 1) == []
    assert await ports.queue.depth() == (0, 0)
    [dead] = await ports.receive_eventually(ports.dlq)
    assert (dead.message_id, dead.body, dead.correlation_id) == (message.message_id, "poison", "p")
    assert dead.receive_count == limit + 1


async def test_a_long_poll_returns_as_soon_as_a_message_arrives(ports: Ports) -> None:
    polling = asyncio.create_task(ports.queue.receive(10, 10))
    await asyncio.sleep(0.2)  # let the long poll begin (it may also start after the send)
    await ports.events.publish(EVENT, "late")
    async with asyncio.timeout(GUARD_SECONDS / 2):  # well before the poll's own 10 s
        [message] = await polling
    assert json.loads(message.body)["payment_id"] == EVENT.payment_id


async def test_depth_of_an_empty_queue_and_ping(ports: Ports) -> None:
    assert await ports.queue.depth() == (0, 0)
    assert await ports.dlq.depth() == (0, 0)
    await ports.queue.ping()
    await ports.dlq.ping()
    await ports.events.ping()
