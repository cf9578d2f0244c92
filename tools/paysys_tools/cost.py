"""What a payment costs in DynamoDB request units, measured on the embedded emulator's
billing meter (:mod:`paysys.local.metering`).

``python -m paysys_tools.cost --payments 1000 [--keyed] [--json]`` starts the emulator,
provisions fresh resources, starts one API and one worker as real ``python -m paysys --role``
processes, zeroes the meter, creates N payments over HTTP (``--keyed``: each with an
Idempotency-Key), waits until every one is final and owes no outcome (no key of a work index
left: pending, outbox), stops the roles (a stop journals the buffered counts), rolls the
journals up into the counters as the worker would, and reads the meter (``--merchants N``
spreads the payments over N merchants). Its own waiting reads go through a client the meter
does not bill. The reconciler is off: its passes cost per second, not per payment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from paysys.adapters.dynamodb_items import INDEXES, LIST_INDEX
from paysys.api.handlers import IDEMPOTENCY_KEY_HEADER
from paysys.config import Settings
from paysys.local.emulator import moto_server
from paysys.observability.logging import configure_logging
from paysys.ops.provision import provision
from paysys.runtime.resources import open_clients, open_resources
from paysys_tools.bench.procs import Role, start_role, stop_roles
from paysys_tools.chaos.system import Merchant, merchants_for, role_env
from paysys_tools.meter import dynamodb_client, read_meter, reset_meter
from paysys_tools.names import per_run

WORK_KEYS = tuple(index.hash_key for index in INDEXES if index.name != LIST_INDEX)
BODY = {"amount": "12.50", "currency": "BRL", "description": "cost"}
WAIT_SECONDS = 600.0


async def create(
    base: str, merchants: list[Merchant], count: int, concurrency: int, keyed: bool
) -> int:
    """POST ``count`` payments, the merchants taking turns; how many were not accepted."""
    errors = 0
    remaining = iter(range(count))
    async with aiohttp.ClientSession() as http:

        async def client() -> None:
            nonlocal errors
            for n in remaining:
                headers = {"Authorization": f"Bearer {merchants[n % len(merchants)].api_key}"}
                if keyed:
                    headers[IDEMPOTENCY_KEY_HEADER] = uuid.uuid4().hex
                async with http.post(f"{base}/payments", json=BODY, headers=headers) as reply:
                    errors += reply.status != 202

        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, count)):
                group.create_task(client())
    return errors


async def settled(endpoint: str, table: str) -> tuple[int, int]:
    """(payments in ``table``, those final with nothing left to publish), read unmetered."""
    total = done = 0
    async with dynamodb_client(endpoint, metered=False) as ddb:
        pages = ddb.get_paginator("scan").paginate(TableName=table)
        async for page in pages:
            for item in page["Items"]:
                if "status" not in item:
                    continue  # a counter or a lease
                total += 1
                done += item["status"]["S"] != "Pending" and not any(k in item for k in WORK_KEYS)
    return total, done


async def wait_settled(endpoint: str, table: str, count: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while (found := await settled(endpoint, table)) != (count, count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"payments (stored, settled) {found}, expected {count}")
        await asyncio.sleep(0.5)


def per_payment(totals: dict[str, float], count: int) -> dict[str, float]:
    return {op: round(n / count, 3) for op, n in sorted(totals.items()) if n}


def summary(meter: dict[str, Any], count: int, keyed: bool, errors: int) -> dict[str, Any]:
    return {
        "payments": count,
        "keyed": keyed,
        "errors": errors,
        "wru_per_payment": round(sum(meter["wru"].values()) / count, 3),
        "rru_per_payment": round(sum(meter["rru"].values()) / count, 3),
        "index_wru_per_payment": round(sum(meter["index_wru"].values()) / count, 3),
        "wru_by_operation": per_payment(meter["wru"], count),
        "rru_by_operation": per_payment(meter["rru"], count),
        "calls_per_payment": per_payment(meter["calls"], count),
        "wru_by_table": {
            table: round(sum(kinds.get("wru", {}).values()) / count, 3)
            for table, kinds in sorted(meter["tables"].items())
        },
    }


async def roll_up(settings: Settings) -> None:
    """Fold the journals the stopped roles flushed into the counters, as the worker's rollup
    would at its next rounds (metered: the counters are part of what a payment costs)."""
    async with open_resources(settings) as resources:
        for _ in range(2):  # a round bounds what it finds; the second finds nothing more
            for shard in range(resources.rollup.shards):
                await resources.rollup.shard_pass(shard)


async def measure(
    count: int, *, keyed: bool = False, concurrency: int = 16, merchants: int = 1
) -> dict[str, Any]:
    """Run ``count`` payments through a fresh system; what they cost, per payment."""
    async with moto_server() as endpoint:
        base = Settings(aws_endpoint_url=endpoint, dynamodb_endpoint_url=endpoint)
        settings = per_run(base, f"cost{uuid.uuid4().hex[:8]}")
        async with open_clients(settings) as clients:
            await provision(clients)
        names = [f"cost-merchant-{n}" for n in range(merchants)]
        accounts = merchants_for(names)
        env = role_env(settings, accounts, reconcile_interval_seconds=0)
        with tempfile.TemporaryDirectory(prefix="paysys-cost-") as logs:
            roles: list[Role] = []
            try:
                roles.append(await start_role("api", "api", env, Path(logs)))
                roles.append(await start_role("worker", "worker", env, Path(logs)))
                await reset_meter(endpoint)
                errors = await create(roles[0].base_url, accounts, count, concurrency, keyed)
                await wait_settled(endpoint, settings.table_name, count - errors)
            finally:
                await stop_roles(roles)
        await roll_up(settings)
        return summary(await read_meter(endpoint), count, keyed, errors) | {"merchants": merchants}


def parser() -> argparse.ArgumentParser:
    described = argparse.ArgumentParser(
        prog="python -m paysys_tools.cost",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    described.add_argument("--payments", type=int, default=1000)
    described.add_argument("--keyed", action="store_true", help="an Idempotency-Key on each")
    described.add_argument("--concurrency", type=int, default=16)
    described.add_argument("--merchants", type=int, default=1, help="payments spread over N")
    described.add_argument("--json", action="store_true", help="print only the JSON object")
    return described


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_logging("auto", "WARNING", stream=sys.stderr)  # stdout: the result alone
    result = asyncio.run(
        measure(
            args.payments, keyed=args.keyed, concurrency=args.concurrency,
            merchants=args.merchants,
        )
    )  # fmt: skip
    if args.json:
        print(json.dumps(result))  # noqa: T201 - the tool's output
        return
    sys.stdout.write(
        f"{result['payments']} payments{' (keyed)' if args.keyed else ''}: "
        f"{result['wru_per_payment']} WRU and {result['rru_per_payment']} RRU per payment "
        f"({result['index_wru_per_payment']} WRU of it in indexes)\n"
        f"  WRU by operation: {result['wru_by_operation']}\n"
        f"  RRU by operation: {result['rru_by_operation']}\n"
        f"  calls per payment: {result['calls_per_payment']}\n"
    )


if __name__ == "__main__":
    main()
