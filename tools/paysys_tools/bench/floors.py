"""The floors under paysys's CPU per payment, measured in the same run against the stub:

- the server: a bare aiohttp server (its own process, the roles' event loop) answering a JSON
  POST with JSON, one request at a time over a kept-alive connection: its CPU per request;
- each client call paysys makes, one at a time with the roles' own clients
  (:func:`paysys.runtime.resources.open_clients`): this process's CPU per call. Batch calls
  are measured at 1 and 10 entries and priced in between by entries.

A payment's floor is then the server floor (API only) plus, per operation, the calls per
payment the role itself counted (``paysys_aws_calls_total``) at that operation's floor for
the entries per call it counted. An operation without a floor of its own is priced as the
cheapest call of its service (a read). ``api_vs_floor``/``worker_vs_floor``: measured CPU per
payment over that floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
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
from paysys_tools.bench.procs import cpu_seconds
from paysys_tools.bench.scrape import CALLS, ENTRIES, RECEIVED, Scrape

SERVER = "server:POST"
BATCHED = ("sns:PublishBatch", "sqs:ReceiveMessage", "sqs:DeleteMessageBatch")
_POST = json.dumps({"amount": "12.50", "currency": "BRL", "description": "bench"}).encode()


async def server_floor_ms(log_path: Path | None, requests: int = 400) -> float:
    """CPU ms per JSON POST of a bare aiohttp server in its own process."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "paysys_tools.bench.floors", "-p", str(port)]
    child = await start_ready("floor-server", argv, f"{url}/ready", 30.0, log_path=log_path)
    try:
        async with aiohttp.ClientSession() as http:
            headers = {"Content-Type": "application/json"}
            for _ in range(50):  # warm up: imports, caches, the connection
                async with http.post(f"{url}/payments", data=_POST, headers=headers) as r:
                    await r.read()
            before = cpu_seconds(child.pid)
            for _ in range(requests):
                async with http.post(f"{url}/payments", data=_POST, headers=headers) as r:
                    await r.read()
            return (cpu_seconds(child.pid) - before) * 1000 / requests
    finally:
        await stop(child)


async def _per_call(call: Callable[[], Awaitable[object]], times: int) -> float:
    for _ in range(max(3, times // 10)):
        await call()
    began = time.process_time()
    for _ in range(times):
        await call()
    return (time.process_time() - began) * 1000 / times


async def client_floors(clients: Clients, raw: Provisioned, times: int = 200) -> dict[str, float]:
    """CPU ms per call of each client call paysys makes (batches at 1 and 10 entries), on the
    ``raw`` resources no role reads."""
    db, table, floors = clients.dynamodb, raw.table, {}
    items = [new_item() for _ in range(times * 2)]
    keys = iter(items)

    async def put() -> None:
        await db.put_item(table, next(keys), condition=F("id").does_not_exist())

    floors["dynamodb:PutItem"] = await _per_call(put, times)
    ids = iter(i["id"] for i in items)

    async def update() -> None:
        await db.update_item(
            table,
            {"id": next(ids)},
            F("status").set("Approved") & F("pending_shard").remove() & F("due_at").remove(),
            condition=F("status").equals("Pending"),
        )

    floors["dynamodb:UpdateItem"] = await _per_call(update, times)
    key = {"id": items[0]["id"]}
    floors["dynamodb:GetItem"] = await _per_call(lambda: db.get_item(table, key), times)
    sns, sqs, queue = clients.sns, clients.sqs, raw.queue_url
    body = event_body(items[0])
    entry: Any = {"Message": body, "MessageAttributes": attributes(items[0])}

    def publish(n: int) -> Callable[[], Awaitable[object]]:
        batch = _batch(entry, n)
        return lambda: sns.publish_batch(TopicArn=raw.topic_arn, PublishBatchRequestEntries=batch)

    def receive(n: int) -> Callable[[], Awaitable[object]]:
        async def call() -> None:
            await sns.publish_batch(
                TopicArn=raw.topic_arn,
                PublishBatchRequestEntries=_batch(entry, n),
            )
            receipts.clear()
            began = time.process_time()
            got = await sqs.receive_message(
                QueueUrl=queue,
                MaxNumberOfMessages=n,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
            spent.append(time.process_time() - began)
            receipts.extend(m["ReceiptHandle"] for m in got.get("Messages", []))
            began = time.process_time()
            await sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(receipts)],
            )
            deleted.append(time.process_time() - began)

        return call

    for n in (1, 10):
        floors[f"sns:PublishBatch@{n}"] = await _per_call(publish(n), times // 2)
    await sqs.purge_queue(QueueUrl=queue)
    receipts: list[str] = []
    for n in (1, 10):
        spent: list[float] = []
        deleted: list[float] = []
        await receive(n)()  # warm
        spent.clear()
        deleted.clear()
        for _ in range(times // 4):
            await receive(n)()
        floors[f"sqs:ReceiveMessage@{n}"] = sum(spent) * 1000 / len(spent)
        floors[f"sqs:DeleteMessageBatch@{n}"] = sum(deleted) * 1000 / len(deleted)
    floors["sqs:SendMessage"] = await _per_call(
        lambda: sqs.send_message(QueueUrl=raw.dlq_url, MessageBody=body), times // 2
    )
    return {k: round(v, 4) for k, v in floors.items()}


def _batch(entry: Mapping[str, Any], n: int) -> Any:
    return [{"Id": str(i), **entry} for i in range(n)]


def call_floor_ms(floors: Mapping[str, float], op: str, entries_per_call: float) -> float:
    """The floor of one ``op`` call carrying ``entries_per_call`` entries."""
    if op in BATCHED:
        one, ten = floors[f"{op}@1"], floors[f"{op}@10"]
        return one + (ten - one) * (max(1.0, min(10.0, entries_per_call)) - 1) / 9
    if op in floors:
        return floors[op]
    service = op.split(":", maxsplit=1)[0]
    same = [v for k, v in floors.items() if k.startswith(service + ":")]
    return min(same) if same else min(floors.values())


def role_floor_ms(floors: Mapping[str, float], calls: Scrape, payments: int) -> float:
    """A role's calls per payment (its own counters over the window) at their floors."""
    entries = calls.by_label(ENTRIES)
    entries["sqs:ReceiveMessage"] = calls.total(RECEIVED)  # messages, counted by the worker
    total = 0.0
    for op, count in calls.by_label(CALLS).items():
        if count > 0:
            total += count * call_floor_ms(floors, op, entries.get(op, count) / count)
    return total / payments if payments else 0.0


def floor_keys(
    floors: Mapping[str, float],
    window: tuple[Scrape, Scrape],
    payments: int,
    cpu_ms: tuple[float, float],
) -> dict[str, Any]:
    """The floor keys of a steady point: ``window`` the API's and the workers' counters over
    it, ``cpu_ms`` their measured CPU ms per payment."""
    api = floors[SERVER] + role_floor_ms(floors, window[0], payments)
    worker = role_floor_ms(floors, window[1], payments)
    return {
        "floor_api_ms": round(api, 3),
        "floor_worker_ms": round(worker, 3),
        "api_vs_floor": round(cpu_ms[0] / api, 3) if api else 0.0,
        "worker_vs_floor": round(cpu_ms[1] / worker, 3) if worker else 0.0,
    }


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
