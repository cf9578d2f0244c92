"""The raw ceilings: what paysys does, with the same clients and no paysys code in between.

The clients are aiodynamo and aiobotocore, opened by ``open_clients`` as paysys opens them.
The DynamoDB calls are the ones paysys makes per payment (``paysys.adapters.dynamodb``):
(a) a conditional PutItem of the full item (index keys included) + an SNS Publish; (b)
receive(10), per message a conditional UpdateItem (Pending -> Approved, REMOVE
``pending_shard``/``due_at``, nothing asked back), then one DeleteMessageBatch. Counts are
coalesced per process (``paysys.adapters.dynamodb_counts``): no counter write per payment.
Each ceiling is measured on its own resource set ("raw"), in the same run and at the same
concurrency as paysys.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from aiodynamo.errors import ConditionalCheckFailed
from aiodynamo.expressions import F

from paysys.runtime.resources import Clients, open_clients
from paysys_tools.bench.context import Bench
from paysys_tools.bench.data import (
    attributes,
    event_body,
    feed,
    new_item,
    seed,
    stamp,
    wait_drained,
)
from paysys_tools.bench.report import percentile

if TYPE_CHECKING:
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = structlog.get_logger(__name__)
_PENDING = F("status").equals("Pending")
_NEW = F("id").does_not_exist()


async def raw_pipeline(bench: Bench) -> dict[str, Any]:
    """Ceiling (a), with raw consumers draining the queue as the workers would."""
    opts, raw = bench.options, bench.raw
    log.info("bench.phase", phase="raw_pipeline", payments=opts.payments)
    async with open_clients(bench.measured_settings("raw")) as clients:
        producing = asyncio.create_task(
            raw_produce(clients, raw.table, raw.topic_arn, opts.payments, opts.concurrency)
        )
        finished = _finished_after(producing, opts.settle_seconds)
        consumed = await raw_consume(
            clients,
            raw.table,
            raw.queue_url,
            loops=opts.workers * opts.loops,
            max_in_flight=bench.max_in_flight,
            finished=finished,
        )
        produced = await producing
    await wait_drained(bench.raw_harness, raw.queue_url, opts.settle_seconds)
    return {
        "raw_api_ops_per_s": round(produced.rate, 1),
        "raw_api_p50_ms": percentile(produced.latencies_ms, 50),
        "raw_api_p99_ms": percentile(produced.latencies_ms, 99),
        "raw_api_errors": produced.errors + consumed.errors,
    }


def _finished_after(producing: asyncio.Task[Tally], grace: float) -> Callable[[int], bool]:
    deadline: list[float] = []

    def finished(consumed: int) -> bool:
        if not producing.done():
            return False
        if not deadline:
            deadline.append(time.monotonic() + grace)
        return consumed >= producing.result().done or time.monotonic() > deadline[0]

    return finished


async def raw_worker(bench: Bench, loops: int, count: int) -> dict[str, Any]:
    """Ceiling (b): receive(10) + conditional update each + batch delete, same loop count."""
    raw, harness, total_loops = bench.raw, bench.raw_harness, bench.options.workers * loops
    log.info("bench.phase", phase="raw_worker", loops=total_loops, payments=count)
    items = [new_item() for _ in range(count)]
    await seed(harness, raw.table, items)
    deadline = time.monotonic() + bench.options.guard_seconds(count)
    own_cpu, began = time.process_time(), time.perf_counter()
    async with open_clients(bench.measured_settings("raw", loops)) as clients:
        feeding = asyncio.create_task(feed(harness, raw.queue_url, items, bench.options.max_depth))
        consumed = await raw_consume(
            clients,
            raw.table,
            raw.queue_url,
            loops=total_loops,
            max_in_flight=bench.max_in_flight,
            finished=lambda n: n >= count or time.monotonic() > deadline,
        )
        await feeding
    # The raw consumers share this process with the feeder: if it nears 100 %, (b) is low.
    own_pct = 100 * (time.process_time() - own_cpu) / max(time.perf_counter() - began, 1e-9)
    return {
        "raw_worker_ops_per_s": round(consumed.rate, 1),
        "raw_worker_errors": consumed.errors,
        "bench_cpu_pct_raw_worker": round(own_pct, 1),
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


async def raw_produce(
    clients: Clients, table: str, topic_arn: str, count: int, concurrency: int
) -> Tally:
    """Ceiling (a): PutItem (condition: new id) + Publish per payment,
    ``concurrency`` at once."""
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
                    MessageAttributes=attributes(item),
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
    (a conditional UpdateItem per message, concurrently, then one
    DeleteMessageBatch) while
    the loop receives again; at most ``max_in_flight`` messages are held, as in the worker.
    Runs until ``finished(approved so far)``."""
    tally = Tally()
    approved: set[str] = set()
    batches = asyncio.Semaphore(max(1, max_in_flight // 10))
    running: set[asyncio.Task[None]] = set()

    async def update(body: str) -> None:
        payment_id = json.loads(body)["payment_id"]
        now = stamp()
        change = (
            F("status").set("Approved")
            & F("approved_at").set(now)
            & F("updated_at").set(now)
            & F("pending_shard").remove()
            & F("due_at").remove()
        )
        try:
            await clients.dynamodb.update_item(
                table,
                {"id": payment_id},
                change,
                condition=_PENDING,
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
