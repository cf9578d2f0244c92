"""The benchmark's direct AWS operations: raw ceilings, seeding, feeding and reading back.

The raw ceilings do what paysys does with the same clients (aiodynamo, aiobotocore, opened by
``open_clients``) and no paysys code in between: (a) a conditional PutItem + an SNS Publish per
payment; (b) receive(10), a conditional UpdateItem per message, one DeleteMessageBatch. The
harness helpers (seed, feed, depth, read back) talk to the emulator directly, not through the
latency proxy, because they are not what is measured.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F
from aiodynamo.models import (
    BatchGetRequest,
    BatchWriteRequest,
)

from paysys.adapters.sqs import SqsQueue
from paysys.runtime.provision import Provisioned
from paysys.runtime.resources import Clients

if TYPE_CHECKING:
    from types_aiobotocore_sqs.type_defs import (
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

AMOUNT = Decimal("12.50")
CURRENCY = "BRL"
log = structlog.get_logger(__name__)
_PENDING = F("status").equals("Pending")
_NEW = F("id").does_not_exist()


def stamp(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_item() -> dict[str, Any]:
    """A ``Pending`` payment item, field for field what paysys stores."""
    now = stamp()
    return {
        "id": str(uuid.uuid4()),
        "amount": AMOUNT,
        "currency": CURRENCY,
        "description": "bench",
        "status": "Pending",
        "created_at": now,
        "updated_at": now,
        "correlation_id": str(uuid.uuid4()),
    }


def event_body(item: dict[str, Any]) -> str:
    """The ``PaymentCreated`` message body paysys publishes for ``item``."""
    return json.dumps(
        {
            "type": "PaymentCreated",
            "payment_id": item["id"],
            "amount": f"{item['amount']:.2f}",
            "currency": item["currency"],
            "created_at": item["created_at"],
        },
        separators=(",", ":"),
    )


def attributes(correlation_id: str) -> dict[str, Any]:
    return {
        "event_type": {"DataType": "String", "StringValue": "PaymentCreated"},
        "correlation_id": {"DataType": "String", "StringValue": correlation_id},
    }


@dataclass(slots=True)
class Tally:
    """Completed operations, their latencies and when the last one finished."""

    started: float = field(default_factory=time.perf_counter)
    done: int = 0
    errors: int = 0
    last: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, began: float) -> None:
        self.last = time.perf_counter()
        self.done += 1
        self.latencies_ms.append((self.last - began) * 1000)

    @property
    def rate(self) -> float:
        elapsed = (self.last or time.perf_counter()) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


# --- raw ceilings ------------------------------------------------------------------------------


async def raw_produce(
    clients: Clients, table: str, topic_arn: str, count: int, concurrency: int
) -> Tally:
    """Ceiling (a): PutItem (condition: new id) + Publish per payment, ``concurrency`` at once."""
    tally = Tally()
    remaining = iter(range(count))

    async def producer() -> None:
        for _ in remaining:
            began = time.perf_counter()
            item = new_item()
            try:
                await clients.dynamodb.put_item(table, item, condition=_NEW)
                await clients.sns.publish(
                    TopicArn=topic_arn,
                    Message=event_body(item),
                    MessageAttributes=attributes(item["correlation_id"]),
                )
            except Exception:  # noqa: BLE001 - counted, the ceiling keeps going
                tally.errors += 1
                continue
            tally.add(began)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, count)):
            group.create_task(producer())
    return tally


async def raw_consume(
    clients: Clients,
    table: str,
    queue_url: str,
    *,
    loops: int,
    max_in_flight: int,
    finished: Callable[[int], bool],
    wait_seconds: int = 1,
) -> Tally:
    """Ceiling (b): ``loops`` loops of receive(10), each batch then handled in its own task
    (a conditional UpdateItem per message, concurrently, then one DeleteMessageBatch) while
    the loop receives again; at most ``max_in_flight`` messages are held, as in the worker.
    Runs until ``finished(approved so far)``."""
    tally = Tally()
    approved: set[str] = set()
    batches = asyncio.Semaphore(max(1, max_in_flight // 10))
    running: set[asyncio.Task[None]] = set()

    async def update(body: str) -> None:
        payment_id = json.loads(body)["payment_id"]
        now = stamp()
        change = F("status").set("Approved") & F("approved_at").set(now) & F("updated_at").set(now)
        try:
            await clients.dynamodb.update_item(
                table, {"id": payment_id}, change, condition=_PENDING
            )
        except ConditionalCheckFailed:
            return  # a duplicate delivery: already approved
        approved.add(payment_id)

    async def handle(messages: list[MessageTypeDef], began: float) -> None:
        try:
            await asyncio.gather(*(update(m.get("Body", "")) for m in messages))
            await clients.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        except Exception:  # noqa: BLE001 - counted, the ceiling keeps going
            tally.errors += 1
        else:
            for _ in messages:
                tally.add(began)
        finally:
            batches.release()

    async def loop() -> None:
        while not finished(len(approved)):
            await batches.acquire()
            began = time.perf_counter()
            try:
                response = await clients.sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=wait_seconds,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception:  # noqa: BLE001 - counted, the ceiling keeps going
                batches.release()
                tally.errors += 1
                await asyncio.sleep(0.1)
                continue
            messages = response.get("Messages", [])
            if not messages:
                batches.release()
                continue
            task = asyncio.create_task(handle(messages, began))
            running.add(task)
            task.add_done_callback(running.discard)

    async with asyncio.TaskGroup() as group:
        for _ in range(loops):
            group.create_task(loop())
    if running:
        await asyncio.wait(set(running))
    tally.done = len(approved)
    return tally


# --- harness -----------------------------------------------------------------------------------


async def seed(clients: Clients, table: str, items: Sequence[dict[str, Any]]) -> None:
    """Store ``items`` with BatchWriteItem (25 a call, a few calls at once)."""
    chunks = [list(items[i : i + 25]) for i in range(0, len(items), 25)]
    gate = asyncio.Semaphore(4)

    async def write(chunk: list[dict[str, Any]]) -> None:
        async with gate:
            while chunk:
                result = await clients.dynamodb.batch_write(
                    {table: BatchWriteRequest(items_to_put=chunk)}
                )
                unput = result.get(table)
                chunk = unput.unput_items if unput else []

    await asyncio.gather(*(write(c) for c in chunks))


async def feed(
    clients: Clients, queue_url: str, items: Sequence[dict[str, Any]], max_depth: int
) -> None:
    """Send the events of ``items`` straight to the queue, never letting more than
    ``max_depth`` wait (moto's SQS slows down with queue depth)."""
    entries: list[SendMessageBatchRequestEntryTypeDef] = [
        {
            "Id": str(i),
            "MessageBody": event_body(item),
            "MessageAttributes": attributes(item["correlation_id"]),
        }
        for i, item in enumerate(items)
    ]
    sent = 0
    while sent < len(entries):
        visible, _ = await SqsQueue(clients.sqs, queue_url).depth()
        room = min(max_depth - visible, len(entries) - sent)
        if room < min(10, len(entries) - sent):
            await asyncio.sleep(0.05)
            continue
        batches = [entries[sent + i : sent + min(i + 10, room)] for i in range(0, room, 10)]
        await asyncio.gather(
            *(clients.sqs.send_message_batch(QueueUrl=queue_url, Entries=b) for b in batches)
        )
        sent += room


async def wait_drained(clients: Clients, queue_url: str, within_s: float) -> bool:
    """Wait until the queue holds no message, visible or in flight; False after ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await SqsQueue(clients.sqs, queue_url).depth() == (0, 0):
            return True
        await asyncio.sleep(0.1)
    return False


async def read_items(clients: Clients, table: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Read the items back (consistent BatchGetItem, 100 keys a call)."""
    found: dict[str, dict[str, Any]] = {}
    gate = asyncio.Semaphore(4)

    async def get(keys: list[dict[str, Any]]) -> None:
        async with gate:
            while keys:
                response = await clients.dynamodb.batch_get(
                    {table: BatchGetRequest(keys=keys, consistent_read=True)}
                )
                for item in response.items.get(table, []):
                    found[str(item["id"])] = item
                keys = response.unprocessed_keys.get(table, [])

    chunks = [[{"id": i} for i in ids[n : n + 100]] for n in range(0, len(ids), 100)]
    await asyncio.gather(*(get(c) for c in chunks))
    return found


async def remove(clients: Clients, provisioned: Provisioned) -> None:
    """Delete what ``provision`` created for the run (best effort: an attached endpoint such
    as LocalStack or a real account must not collect benchmark resources)."""
    calls: list[Coroutine[Any, Any, Any]] = [
        clients.sns.delete_topic(TopicArn=provisioned.topic_arn),
        clients.sqs.delete_queue(QueueUrl=provisioned.queue_url),
        clients.sqs.delete_queue(QueueUrl=provisioned.dlq_url),
        clients.dynamodb.delete_table(provisioned.table),
        clients.dynamodb.delete_table(provisioned.idempotency_table),
    ]
    for failure in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(failure, BaseException):
            log.warning("bench.cleanup_failed", error=repr(failure))
