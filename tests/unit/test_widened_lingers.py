"""The widened linger where it is applied: a partial PublishBatch (``SnsPublisher``) and a
partial DeleteMessageBatch (``AckBuffer``) wait the time a full batch is expected to take,
within [linger, max linger]; ``close`` still sends everything, and the publisher's backlog
bound still holds. Times are read from the timer each sets (``due``), not slept through: the
lingers here are so long that only ``close`` ends them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from paysys.adapters.sns import SnsPublisher
from paysys.core.domain import PaymentCreated
from paysys.core.lingers import ArrivalGap
from paysys.core.ports import QueueMessage
from paysys.errors import BackendUnavailable
from paysys.worker.acks import AckBuffer
from paysys.worker.options import WorkerStats

from ..conftest import until

LINGER = 10.0
WIDEST = 3600.0
BUSY = 5.0  # seconds between arrivals: company within two lingers, 10 expected within 45 s
THIN = 25.0  # more than two lingers apart


class RecordingSns:
    """An SNS client that answers every PublishBatch entry and records each call's size."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def publish_batch(self, **request: Any) -> dict[str, Any]:
        entries = request["PublishBatchRequestEntries"]
        self.calls.append(len(entries))
        return {"Successful": [{"Id": e["Id"], "MessageId": f"m{e['Id']}"} for e in entries]}


class RecordingQueue:
    """A queue whose deletes only record each call's size."""

    def __init__(self) -> None:
        self.deletes: list[int] = []

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        self.deletes.append(len(messages))


def event(i: int) -> PaymentCreated:
    return PaymentCreated(f"p{i}", Decimal("1.00"), "BRL", datetime(2026, 1, 1, tzinfo=UTC))


def message(i: int) -> QueueMessage:
    return QueueMessage(f"m{i}", f"r{i}", "{}", 1, None)


def publisher(sns: RecordingSns, average: float, **settings: float) -> SnsPublisher:
    lingers = {"linger_seconds": LINGER, "max_linger_seconds": WIDEST} | settings
    client: Any = sns
    return SnsPublisher(
        client, "arn:aws:sns:us-east-1:0:t", arrivals=ArrivalGap(average), **lingers
    )


async def test_a_partial_publish_batch_waits_as_long_as_ten_events_are_expected_to_take() -> None:
    sns, loop = RecordingSns(), asyncio.get_running_loop()
    events = publisher(sns, BUSY)
    before = loop.time()
    for i in range(3):
        await events.submit(event(i), f"c{i}")
    after = loop.time()
    # Armed at the first event, when the gap was still BUSY: 9 gaps, not the 10 s linger.
    assert events.due is not None
    assert before + 9 * BUSY <= events.due <= after + 9 * BUSY
    assert sns.calls == []

    await events.close()  # sends what lingers, widened or not
    assert sns.calls == [3]


@pytest.mark.parametrize(("average", "widest"), [(BUSY, LINGER), (BUSY, 0.0), (0.1, WIDEST)])
async def test_without_room_or_need_to_widen_a_batch_waits_the_linger(
    average: float, widest: float
) -> None:
    sns, loop = RecordingSns(), asyncio.get_running_loop()
    events = publisher(sns, average, max_linger_seconds=widest)
    before = loop.time()
    await events.submit(event(0), "c0")
    assert events.due is not None
    assert before + LINGER <= events.due <= loop.time() + LINGER
    await events.close()
    assert sns.calls == [1]


async def test_at_thin_traffic_an_event_still_goes_at_once() -> None:
    sns = RecordingSns()
    events = publisher(sns, THIN)
    assert await asyncio.wait_for(events.publish(event(0), "c0"), 5) == "m0"  # a hang guard
    assert (sns.calls, events.due) == ([1], None)


async def test_a_widened_linger_keeps_the_backlog_bound() -> None:
    sns = RecordingSns()
    events = publisher(sns, BUSY, max_pending=3)
    for i in range(3):
        await events.submit(event(i), f"c{i}")
    with pytest.raises(BackendUnavailable, match="backlog full"):
        await events.publish(event(3), "c3")
    assert events.shed == 1
    await events.close()
    assert sns.calls == [3]


async def test_a_partial_delete_waits_as_long_as_ten_acks_are_expected_to_take() -> None:
    queue, loop = RecordingQueue(), asyncio.get_running_loop()
    stats = WorkerStats()
    acks = AckBuffer(queue, stats, LINGER, max_linger_seconds=WIDEST)  # type: ignore[arg-type]
    acks.arrivals = ArrivalGap(BUSY)
    before = loop.time()
    await acks.ack([message(0)])
    await acks.ack([message(1)])
    after = loop.time()
    assert acks.due is not None
    assert before + 9 * BUSY <= acks.due <= after + 9 * BUSY
    assert (queue.deletes, acks.pending) == ([], 2)

    await acks.close()
    assert (queue.deletes, stats.deleted, acks.pending) == ([2], 2, 0)


async def test_thin_acks_wait_the_linger_and_ten_are_deleted_at_once() -> None:
    queue, loop = RecordingQueue(), asyncio.get_running_loop()
    stats = WorkerStats()
    acks = AckBuffer(queue, stats, LINGER, max_linger_seconds=WIDEST)  # type: ignore[arg-type]
    acks.arrivals = ArrivalGap(THIN)
    before = loop.time()
    await acks.ack([message(0)])
    assert acks.due is not None
    assert before + LINGER <= acks.due <= loop.time() + LINGER

    await acks.ack([message(i) for i in range(1, 10)])  # the tenth: a full delete, no wait
    await until(lambda: queue.deletes == [10])
    await acks.close()
    assert (queue.deletes, stats.deleted) == ([10], 10)
