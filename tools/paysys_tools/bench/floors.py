"""The floors under paysys's CPU per payment, measured in the same run against the stub,
before the roles start (:mod:`paysys_tools.bench.pricing` prices a payment's calls at them):

- the server: a bare aiohttp server (its own process, the roles' event loop) answering a JSON
  POST with JSON over kept-alive connections: its CPU per request;
- each client call paysys makes, with the roles' own clients
  (:func:`paysys.runtime.resources.open_clients`): this process's CPU per call. Batch calls
  at 1 and 10 entries, ``ReceiveMessage`` also empty (``@0``: an idle long poll's answer).

Each is measured both one call at a time and ``INFLIGHT`` calls in flight on the same client,
as the roles make them (the worker's receive loops, webhook loops, coalesced deletes and
concurrent decisions overlap their calls, so one event loop wake-up and one syscall round
serve several sockets: up to a quarter less CPU per call than one at a time, DynamoDB's the
most), in ``ROUNDS`` interleaved rounds of short samples. An operation's floor is the lowest
sample of either: other load on the machine, a collection pause and the first calls' warm-up
only ever add CPU to a sample, and the cheaper way of calling is one a role can reach, so
the lower is the floor. ``floors_serial_ms`` keeps the lowest one-at-a-time samples.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiodynamo.expressions import F
from aiohttp import web

from paysys.local.procs import LOOPBACK, free_port, start_ready, stop
from paysys.ops.provision import Provisioned
from paysys.runtime.eventloop import loop_factory
from paysys.runtime.resources import Clients
from paysys_tools.bench.data import attributes, event_body, new_item
from paysys_tools.bench.pricing import SERVER
from paysys_tools.bench.procs import cpu_seconds

INFLIGHT = 8  # calls in flight in the concurrent samples (4 receive loops, 2 webhook, ...)
ROUNDS = 3
_POST = json.dumps({"amount": "12.50", "currency": "BRL", "description": "bench"}).encode()

Call = Callable[[], Awaitable[object]]


async def server_floor_ms(log_path: Path | None, requests: int = 400) -> tuple[float, float]:
    """CPU ms per JSON POST of a bare aiohttp server in its own process, over ``requests``
    requests one at a time and ``INFLIGHT`` at a time, two rounds of each: the lowest sample,
    and the lowest one at a time."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "paysys_tools.bench.floors", "-p", str(port)]
    child = await start_ready("floor-server", argv, f"{url}/ready", 30.0, log_path=log_path)
    try:
        async with aiohttp.ClientSession() as http:
            headers = {"Content-Type": "application/json"}

            async def post() -> None:
                async with http.post(f"{url}/payments", data=_POST, headers=headers) as r:
                    await r.read()

            await _in_flight(post, 50, INFLIGHT)  # warm up: imports, caches, the connections
            samples: dict[tuple[str, int], list[float]] = defaultdict(list)
            for _ in range(2):
                for inflight in (1, INFLIGHT):
                    before = cpu_seconds(child.pid)  # in clock ticks: hence long samples
                    await _in_flight(post, requests, inflight)
                    ms = (cpu_seconds(child.pid) - before) * 1000 / requests
                    samples[SERVER, inflight].append(ms)
            return lowest(samples)[SERVER], lowest(samples, serial=True)[SERVER]
    finally:
        await stop(child)


async def _in_flight(call: Call, calls: int, inflight: int) -> None:
    """``calls`` calls, ``inflight`` at a time: as many tasks, each making its share in turn
    (``calls`` a multiple of ``inflight``)."""

    async def share() -> None:
        for _ in range(calls // inflight):
            await call()

    await asyncio.gather(*(share() for _ in range(inflight)))


async def _sample(call: Call, calls: int, inflight: int) -> float:
    """CPU ms per call of this process over ``calls`` calls, ``inflight`` at a time."""
    began = time.process_time()
    await _in_flight(call, calls, inflight)
    return (time.process_time() - began) * 1000 / calls


async def client_floors(
    clients: Clients, raw: Provisioned, calls: int = 24, rounds: int = ROUNDS
) -> tuple[dict[str, float], dict[str, float]]:
    """CPU ms per call of each client call paysys makes, on the ``raw`` resources no role
    reads: the floors, and the lowest one-at-a-time samples. ``calls`` per SNS and SQS
    sample (twice that per DynamoDB sample), a multiple of ``INFLIGHT``."""
    probe = _Probe(clients, raw, calls, rounds)
    simple = probe.simple_calls()
    for _ in range(rounds):  # interleaved: a burst of other load spoils one round, not an op
        for inflight in (1, INFLIGHT):
            for op, (call, count) in simple.items():
                probe.add(op, inflight, await _sample(call, count, inflight))
            for n in (0, 1, 10):
                await probe.receives(n, inflight)
    return probe.lowest(), probe.lowest(serial=True)


def lowest(
    samples: Mapping[tuple[str, int], Sequence[float]], *, serial: bool = False
) -> dict[str, float]:
    """Each operation's lowest sample (``samples``: ``(op, calls in flight) -> [ms]``),
    of all or (``serial``) of those taken one call at a time."""
    out: dict[str, float] = {}
    for (op, inflight), values in samples.items():
        if not serial or inflight == 1:
            out[op] = round(min(*values, out.get(op, float("inf"))), 4)
    return out


class _Probe:
    """The calls measured, and the samples taken of each: ``(op, in flight) -> [ms]``."""

    def __init__(self, clients: Clients, raw: Provisioned, calls: int, rounds: int) -> None:
        self.clients, self.raw, self.calls = clients, raw, calls
        self.items = [new_item() for _ in range(rounds * 4 * calls)]  # each put, then updated
        self.entry: Any = {
            "Message": event_body(self.items[0]),
            "MessageAttributes": attributes(self.items[0]),
        }
        self.samples: defaultdict[tuple[str, int], list[float]] = defaultdict(list)

    def add(self, op: str, inflight: int, ms: float) -> None:
        self.samples[op, inflight].append(ms)

    def lowest(self, *, serial: bool = False) -> dict[str, float]:
        return lowest(self.samples, serial=serial)

    def publish(self, n: int) -> Call:
        batch: Any = [{"Id": str(i), **self.entry} for i in range(n)]
        sns, topic = self.clients.sns, self.raw.topic_arn
        return lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=batch)

    def simple_calls(self) -> dict[str, tuple[Call, int]]:
        """Each call that needs nothing set up, and the calls of its samples."""
        db, table, sqs = self.clients.dynamodb, self.raw.table, self.clients.sqs
        keys, ids = iter(self.items), iter(i["id"] for i in self.items)

        async def put() -> None:
            await db.put_item(table, next(keys), condition=F("id").does_not_exist())

        async def update() -> None:
            await db.update_item(
                table,
                {"id": next(ids)},
                F("status").set("Approved") & F("pending_shard").remove() & F("due_at").remove(),
                condition=F("status").equals("Pending"),
            )

        key, body, dlq = {"id": self.items[0]["id"]}, self.entry["Message"], self.raw.dlq_url
        return {
            "dynamodb:PutItem": (put, 2 * self.calls),
            "dynamodb:UpdateItem": (update, 2 * self.calls),
            "dynamodb:GetItem": (lambda: db.get_item(table, key), 2 * self.calls),
            "sns:PublishBatch@1": (self.publish(1), self.calls),
            "sns:PublishBatch@10": (self.publish(10), self.calls),
            "sqs:SendMessage": (
                lambda: sqs.send_message(QueueUrl=dlq, MessageBody=body),
                self.calls,
            ),
        }

    async def receives(self, n: int, inflight: int) -> None:
        """Samples of receives of ``n`` messages each (``n`` = 0: of an empty queue), then
        of their deletes, batched as received; the queue filled beforehand, unmeasured."""
        sqs, queue, fill = self.clients.sqs, self.raw.queue_url, self.publish(10)
        await sqs.purge_queue(QueueUrl=queue)
        for _ in range(-(-self.calls * n // 10)):  # fanned out to the queue at once
            await fill()
        received: list[list[str]] = []

        async def receive() -> None:
            got = await sqs.receive_message(
                QueueUrl=queue,
                MaxNumberOfMessages=max(1, n),
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
            received.append([m["ReceiptHandle"] for m in got.get("Messages", [])])

        self.add(f"sqs:ReceiveMessage@{n}", inflight, await _sample(receive, self.calls, inflight))
        if n == 0:
            return
        batches = iter(received)

        async def delete() -> None:
            entries: Any = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(next(batches))]
            await sqs.delete_message_batch(QueueUrl=queue, Entries=entries)

        ms = await _sample(delete, self.calls, inflight)
        self.add(f"sqs:DeleteMessageBatch@{n}", inflight, ms)


def _bare_app() -> web.Application:
    async def create(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        return web.json_response({"id": str(uuid.uuid4()), **body}, status=201)

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/payments", create)
    app.router.add_get("/ready", ready)
    return app


async def _serve(port: int) -> None:
    runner = web.AppRunner(_bare_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, port).start()
    await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """The bare server (``-p PORT``), in the event loop the roles use."""
    parser = argparse.ArgumentParser(prog="python -m paysys_tools.bench.floors")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
