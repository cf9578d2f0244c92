"""One seed's run: the system behind the fault proxy, webhook endpoints for some merchants,
the clients' load with process faults and the webhook receiver's down windows on the way,
then (faults off) quiescence, every webhook delivery owed, and the truth the checker needs.

The seed decides the workload (:func:`paysys_tools.chaos.clients.intents`), the velocity
shards, the fault of the n-th call of each AWS operation (:mod:`paysys_tools.chaos.plan`) and
the order and times of the process faults; the timing of concurrent requests and processes
is not seeded (see the package's docstring).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import aiohttp

from paysys.adapters.counter_rollup import CounterRollup
from paysys.config import Settings
from paysys.core.velocity import Velocity
from paysys.errors import BackendUnavailable
from paysys_tools.chaos.checker import check
from paysys_tools.chaos.clients import Client, intents
from paysys_tools.chaos.collect import (
    counters_of,
    drain,
    payments_of,
    scan,
    subscribe_outcomes,
    wait_quiescent,
)
from paysys_tools.chaos.faults import HttpFaults
from paysys_tools.chaos.history import History, Violation
from paysys_tools.chaos.plan import FaultPlan
from paysys_tools.chaos.system import System, system_for
from paysys_tools.chaos.webhook_check import expected_deliveries
from paysys_tools.chaos.webhooks import (
    Receiver,
    down_windows,
    register_all,
    run_windows,
    wait_delivered,
)

MERCHANTS = ["m0", "m1", "m2", "mx-deny"]
DENIED = "mx-deny"
PER_MINUTE = 6
BRL_PER_MINUTE = "500.00"
STATS_SECONDS = 12.0  # how long /stats may take to show what the table holds
ROLLUP_SECONDS = 60.0  # how long the rollup may take to apply every journalled count


@dataclass(frozen=True, slots=True)
class Options:
    payments: int = 60
    load_seconds: float = 30.0
    workers: int = 2
    rate: float = 0.1
    process_faults: bool = True
    quiesce_seconds: float = 90.0
    deliver_seconds: float = 90.0  # after quiescence, for every webhook delivery owed


@dataclass(slots=True)
class SeedResult:
    seed: int
    plan: FaultPlan
    history: History
    violations: list[Violation]
    events: list[str] = field(default_factory=list)


def campaign_settings(seed: int) -> tuple[Settings, Velocity]:
    """Short timeouts and windows, so a lost reply costs seconds and the reconciler acts."""
    shards = random.Random(f"{seed}:rules").choice((1, 2))  # noqa: S311 - not a secret
    velocity = {
        "payments_per_minute": PER_MINUTE,
        "amount_per_minute": {"BRL": BRL_PER_MINUTE},
        "shards": shards,
    }
    rules = json.dumps({"deny_merchants": [DENIED], "velocity": velocity})
    settings = Settings(
        aws_timeout_seconds=2.0,
        aws_max_attempts=3,
        dynamodb_retry_seconds=3.0,
        worker_wait_seconds=1,
        worker_loops=2,
        worker_max_in_flight=16,
        worker_retry_base_seconds=0.5,
        visibility_timeout_seconds=5,
        reconcile_after_seconds=3,
        reconcile_interval_seconds=1.0,
        reconcile_max_backoff_seconds=5.0,
        counter_flush_seconds=0.5,
        counter_rollup_seconds=1.0,
        idempotency_lock_seconds=6,
        shutdown_timeout_seconds=5.0,
        rules=rules,
        # Webhooks to the campaign's receiver on loopback (local mode), retried every 1-2 s
        # (not every 60 s doubling): quiescence in seconds after the receiver is back up.
        webhook_key=f"chaos-{seed}",
        webhook_mode="local",
        webhook_retry_base_seconds=1.0,
        webhook_retry_max_seconds=2,
        webhook_breaker_seconds=1.0,
        webhook_connect_timeout_seconds=1.0,
        webhook_read_timeout_seconds=2.0,
    )
    return settings, Velocity(PER_MINUTE, {"BRL": Decimal(BRL_PER_MINUTE)}, shards)


async def run_seed(seed: int, options: Options, emulator: str, log_dir: Path) -> SeedResult:
    plan = FaultPlan(seed, options.rate)
    settings, velocity = campaign_settings(seed)
    history = History(seed, velocity=velocity, deny_merchants=frozenset({DENIED}))
    delay = settings.aws_timeout_seconds / 2
    async with (
        HttpFaults(emulator, plan, delay_seconds=delay) as proxy,
        system_for(emulator, proxy.url, settings, MERCHANTS, log_dir / f"seed-{seed}") as system,
    ):
        outcomes_arn = f"{system.provisioned.topic_arn.rpartition(':')[0]}:"
        outcomes_arn += system.settings.outcomes_topic_name
        subscriber = await subscribe_outcomes(
            system.clients, outcomes_arn, f"{system.settings.queue_name}-outcomes-sub"
        )
        await system.start_api()
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(timeout=timeout) as http, Receiver() as receiver:
            history.endpoints = await register_all(http, system.base, receiver, system.merchants)
            await asyncio.gather(*(system.start_worker() for _ in range(options.workers)))
            client = Client(http, system.base, history.answers)
            began = time.monotonic()
            work = intents(seed, options.payments, options.load_seconds, system.merchants)
            probes = asyncio.create_task(_probe(http, system))
            windows = down_windows(seed, options.load_seconds)
            await asyncio.gather(
                *(client.run(intent, began) for intent in work),
                _process_faults(system, seed, options, began),
                run_windows(receiver, windows, began, system.events),
            )
            probes.cancel()
            plan.active = False
            history.quiescent, items = await wait_quiescent(
                system.clients,
                system.settings.table_name,
                system.provisioned.queue_url,
                options.quiesce_seconds,
            )
            history.outcomes = await drain(subscriber)
            history.payments = payments_of(items)
            owed = expected_deliveries(history.endpoints, history.payments)
            history.delivered_in_time = await wait_delivered(
                receiver, owed, options.deliver_seconds
            )
            history.deliveries = list(receiver.deliveries)
            await counts_rolled_up(system)
            history.stats = await _stats(client, system, history)
        system.events += await system.stop_all()
        items = await scan(system.clients.dynamodb, system.settings.table_name)
        history.counters = counters_of(items)
    history.injected = list(plan.log)
    history.killed = sum(e.startswith("SIGKILL ") and ": exit" in e for e in system.events)
    _keep(history, log_dir / f"seed-{seed}")
    return SeedResult(seed, plan, history, check(history), system.events)


def _keep(history: History, where: Path) -> None:
    """The seed's answers, table and events as JSON lines beside its role logs."""
    with (where / "history.jsonl").open("w") as out:
        for kind, rows in (
            ("answer", history.answers),
            ("payment", history.payments),
            ("outcome", history.outcomes),
            ("counter", history.counters),
            ("injected", history.injected),
            ("delivery", history.deliveries),
        ):
            for row in rows:
                fields = {f: getattr(row, f) for f in type(row).__slots__}
                out.write(json.dumps({"kind": kind, **fields}, default=str) + "\n")


async def _process_faults(system: System, seed: int, options: Options, began: float) -> None:
    """SIGKILL one worker, SIGTERM another (each replaced at once), restart the API: in a
    seeded order at seeded times within the load."""
    if not options.process_faults:
        return
    draw = random.Random(f"{seed}:process")  # noqa: S311 - a schedule, not a secret
    faults = ["SIGKILL", "SIGTERM", "api"]
    draw.shuffle(faults)
    times = sorted(draw.uniform(0.15, 0.85) * options.load_seconds for _ in faults)
    for fault, at in zip(faults, times, strict=True):
        await asyncio.sleep(max(0.0, began + at - time.monotonic()))
        system.events.append(f"{fault} at {time.monotonic() - began:.1f}s")
        if fault == "api":
            await system.restart_api()
        else:
            await system.kill_worker(draw.randrange(100), signal.Signals[fault])


async def _probe(http: aiohttp.ClientSession, system: System) -> None:
    """Each role's /readyz once a second during the load (the answers are not judged: a 503
    there is how readiness reports a failing backend)."""
    while True:
        for url in system.ready_urls():
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with asyncio.timeout(5), http.get(url) as response:
                    await response.read()
        await asyncio.sleep(1.0)


async def counts_rolled_up(system: System) -> bool:
    """Wait until the workers' rollup has applied every journalled count (a killed rollup
    owner's shards wait for its lease to run out), or the time is up: whether it did."""
    settings = system.settings
    rollup = CounterRollup(system.clients.dynamodb, settings.table_name, settings.counter_shards)
    deadline = time.monotonic() + ROLLUP_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(BackendUnavailable):
            behind = [await rollup.behind(s) for s in range(rollup.shards)]
            if not any(behind):
                return True
        await asyncio.sleep(0.5)
    return False


async def _stats(client: Client, system: System, history: History) -> dict[str, Mapping[str, int]]:
    """``GET /stats`` per merchant, read again until it shows the table's counts (counts are
    flushed and cached for a few seconds) or the time is up: the last reading."""
    truth = {
        m.id: Counter(p.status for p in history.payments if p.merchant_id == m.id)
        for m in system.merchants
    }
    shown: dict[str, Mapping[str, int]] = {}
    deadline = time.monotonic() + STATS_SECONDS
    while True:
        for merchant in system.merchants:
            reading = await client.stats(merchant)
            if reading is not None:
                shown[merchant.id] = reading
        agree = all(
            m.id in shown and all(n == truth[m.id][s] for s, n in shown[m.id].items())
            for m in system.merchants
        )
        if agree or time.monotonic() > deadline:
            return shown
        await asyncio.sleep(1.0)
