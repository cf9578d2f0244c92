# ruff: noqa - a measurement script, kept beside its output
"""CPU per worker decision, ALL_NEW (main before issue 25's lean write) against this tree's
``DynamoPayments.decide`` (ReturnValues NONE), replayed one at a time against the embedded
emulator (moto's server, a child process, started as ``paysys local`` and the bench start it).

    PYTHONPATH=src:tools python benchmarks/emulator/decision.py --blocks 6 --per-block 200

Provisions a fresh table, puts ``2 * blocks * per_block`` Pending payments, then decides
them in blocks of ``per_block``, alternating the variants (A B A B ...): each decision is
the same conditional UpdateItem (the prepared decision update, condition status = Pending,
a token); ``all_new`` asks ALL_NEW and builds the outcome from the returned item as main
did (``from_item`` then ``PaymentOutcome.of``), ``none`` is ``DynamoPayments.decide``.
Counts stay buffered (no journal write), so the emulator serves the decisions alone. Per
block: the emulator process's CPU (/proc utime + stime) and this process's CPU
(``time.process_time``: aiodynamo's request, reply parsing and ours), per decision.
"""

import argparse, asyncio, json, os, statistics, sys, time, uuid
from decimal import Decimal

from aiodynamo.expressions import F
from aiodynamo.models import ReturnValues

from paysys.adapters.dynamodb import DECIDED_BY, DynamoPayments
from paysys.adapters.dynamodb_counts import CounterWriter
from paysys.adapters.dynamodb_items import dynamo_translated, from_item
from paysys.adapters.dynamodb_prepared import decision_update
from paysys.config import Settings
from paysys.core.domain import NewPayment, Payment, PaymentCreated, PaymentStatus, format_time, utcnow
from paysys.core.outcomes import PaymentOutcome
from paysys.local.emulator import MOTO_MODULE, local_server
from paysys.local.procs import LOOPBACK, free_port
from paysys.ops.provision import provision
from paysys.runtime.resources import layout, open_clients

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def all_new(payments: DynamoPayments, created: PaymentCreated) -> PaymentOutcome:
    """main's decision write: ALL_NEW, the outcome from the returned item."""
    now, token = utcnow(), uuid.uuid4().hex
    update = decision_update(PaymentStatus.APPROVED, format_time(now), None, token, token_attribute=DECIDED_BY)
    async with dynamo_translated("UpdateItem"):
        item = await payments.client.update_item(
            payments.table, {"id": created.payment_id}, update,
            condition=F("status").equals(PaymentStatus.PENDING.value),
            return_values=ReturnValues.all_new,
        )
    moved = from_item(item)
    await payments._count_move(token, moved.merchant_id, moved.id, moved.created_at, moved.status)
    return PaymentOutcome.of(moved)


async def none(payments: DynamoPayments, created: PaymentCreated) -> PaymentOutcome:
    outcome = await payments.decide(created, PaymentStatus.APPROVED, utcnow(), token=uuid.uuid4().hex)
    assert outcome is not None
    return outcome


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=6, help="blocks per variant")
    parser.add_argument("--per-block", type=int, default=200)
    args = parser.parse_args()
    variants = {"all_new": all_new, "none": none}
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", MOTO_MODULE, "-H", LOOPBACK, "-p", str(port)]  # as moto_server
    async with local_server("emulator", argv, f"{endpoint}/moto-api/data.json", 30.0) as child:
        pid = child.pid
        suffix = uuid.uuid4().hex[:8]
        settings = Settings(
            aws_endpoint_url=endpoint, dynamodb_endpoint_url=endpoint,
            table_name=f"dec-{suffix}", idempotency_table_name=f"dec-idem-{suffix}",
        )
        async with open_clients(settings) as clients:
            await provision(clients)
            counters = CounterWriter(clients.dynamodb, settings.table_name, 4, flush_seconds=3600)
            payments = DynamoPayments(clients.dynamodb, settings.table_name, layout(settings), counters)
            total = 2 * args.blocks * args.per_block + 40  # and the warm-up
            new = NewPayment(Decimal("12.50"), "BRL", "a coffee and a slice of cake")
            created = []
            for i in range(total):
                p = Payment.create(new, utcnow(), correlation_id=f"c-{i}", merchant_id=f"m-{i % 20}")
                await payments.add(p, uuid.uuid4().hex)
                created.append(PaymentCreated.from_message(PaymentCreated.of(p).to_message()))
            for name in variants:  # warm-up: a few of each, not measured
                for _ in range(20):
                    await variants[name](payments, created.pop())
            load = os.getloadavg()[0]
            rows = []
            for block in range(2 * args.blocks):
                name = list(variants)[block % 2]
                batch = [created.pop() for _ in range(args.per_block)]
                emu0, own0, wall0 = proc_cpu(pid), time.process_time(), time.perf_counter()
                for c in batch:
                    await variants[name](payments, c)
                emu, own, wall = proc_cpu(pid) - emu0, time.process_time() - own0, time.perf_counter() - wall0
                n = len(batch)
                row = {"variant": name, "block": block, "decisions": n,
                       "emulator_cpu_ms_per_decision": round(1000 * emu / n, 3),
                       "client_cpu_ms_per_decision": round(1000 * own / n, 3),
                       "wall_ms_per_decision": round(1000 * wall / n, 3),
                       "loadavg_1m": round(os.getloadavg()[0], 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    for name in variants:
        mine = [r for r in rows if r["variant"] == name]
        print(json.dumps({"variant": name, "median_emulator_cpu_ms": statistics.median(r["emulator_cpu_ms_per_decision"] for r in mine),
                          "median_client_cpu_ms": statistics.median(r["client_cpu_ms_per_decision"] for r in mine),
                          "median_wall_ms": statistics.median(r["wall_ms_per_decision"] for r in mine),
                          "loadavg_1m_start": round(load, 2)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
