"""The benchmark's phases, in order, on fresh uniquely named resources:

1. raw pipeline: ceiling (a) (PutItem + Publish at concurrency C) while raw consumers keep the
   queue drained, as the workers do while the API is driven;
2. raw worker: ceiling (b) on a seeded table, its events fed to the queue at a bounded depth;
3. API: P payments POSTed through the real API at concurrency C, the workers running; then
   wait until every one is Approved and read them back (end-to-end latency);
4. worker: P payments seeded and their events fed exactly as in 2, approved by the workers;
5. optional loops sweep: 2 and 4 again for every loop count.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from paysys.config import Settings
from paysys.devtools.bench.procs import (
    Backend,
    Endpoints,
    Role,
    cpu_seconds,
    drive_api,
    emulator_pids,
    read_worker_logs,
    start_backend,
    start_role,
    stop_roles,
    with_latency,
)
from paysys.devtools.bench.raw import (
    Tally,
    feed,
    new_item,
    raw_consume,
    raw_produce,
    read_items,
    remove,
    seed,
    wait_drained,
)
from paysys.runtime.provision import Provisioned, provision
from paysys.runtime.resources import Clients, open_clients

log = structlog.get_logger(__name__)

Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BenchOptions:
    payments: int = 1000
    concurrency: int = 16
    workers: int = 1
    loops: int = 4
    latency_ms: float = 0.0
    backend: Backend = "moto"
    endpoint: str | None = None
    dynamodb_endpoint: str | None = None
    sweep_loops: tuple[int, ...] = ()
    sweep_payments: int = 0  # 0: --payments
    max_depth: int = 100  # moto's SQS slows with depth: 320 waiting halved throughput
    settle_seconds: float = 30.0
    progress: bool = False
    log_dir: str | None = None

    def guard_seconds(self, count: int) -> float:
        """How long a phase may take before it is given up (a hang guard, not a target)."""
        return self.settle_seconds + count / 5


@dataclass(frozen=True, slots=True)
class Names:
    """Builds the settings of one resource set ("paysys" or "raw") of this run."""

    base: Settings
    options: BenchOptions
    suffix: str

    def settings(self, kind: str, ends: Endpoints, loops: int | None = None) -> Settings:
        return self.base.replace(
            aws_endpoint_url=ends.aws,
            dynamodb_endpoint_url=ends.dynamodb,
            table_name=f"bench-{kind}-{self.suffix}",
            idempotency_table_name=f"bench-{kind}-idem-{self.suffix}",
            topic_name=f"bench-{kind}-{self.suffix}",
            queue_name=f"bench-{kind}-{self.suffix}",
            dlq_name=f"bench-{kind}-dlq-{self.suffix}",
            worker_loops=self.options.workers * (loops or self.options.loops),
        )


@dataclass(slots=True)
class Bench:
    """What a run shares between its phases."""

    options: BenchOptions
    names: Names
    environ: Mapping[str, str]
    measured: Endpoints  # what paysys and the raw ceilings use (through the proxy, if any)
    log_dir: Path
    harness: Clients  # direct clients for seeding, feeding and reading back
    raw_harness: Clients
    paysys: Provisioned
    raw: Provisioned
    workers: list[Role] = field(default_factory=list)
    worker_logs: list[Path] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    worker_loops: int = 0  # loops of each running worker process

    def measured_settings(self, kind: str, loops: int | None = None) -> Settings:
        return self.names.settings(kind, self.measured, loops)

    def role_env(self, loops: int) -> dict[str, str]:
        s = self.measured_settings("paysys")
        env = dict(self.environ)
        env.update(
            PAYSYS_AWS_ENDPOINT_URL=self.measured.aws,
            PAYSYS_DYNAMODB_ENDPOINT_URL=self.measured.dynamodb,
            PAYSYS_TABLE_NAME=s.table_name,
            PAYSYS_IDEMPOTENCY_TABLE_NAME=s.idempotency_table_name,
            PAYSYS_TOPIC_NAME=s.topic_name,
            PAYSYS_TOPIC_ARN=self.paysys.topic_arn,
            PAYSYS_QUEUE_NAME=s.queue_name,
            PAYSYS_QUEUE_URL=self.paysys.queue_url,
            PAYSYS_DLQ_NAME=s.dlq_name,
            PAYSYS_API_HOST="127.0.0.1",
            PAYSYS_WORKER_HOST="127.0.0.1",
            PAYSYS_WORKER_LOOPS=str(loops),
            PAYSYS_LOG_FORMAT="json",
            PAYSYS_AUTH="open",  # the benchmark sends no API key
        )
        return env


async def run_bench(options: BenchOptions, environ: Mapping[str, str]) -> dict[str, Any]:
    log_dir = Path(options.log_dir or tempfile.mkdtemp(prefix="paysys-bench-"))
    suffix = uuid.uuid4().hex[:8]
    log_dir = log_dir / f"run-{suffix}"
    log_dir.mkdir(parents=True)
    names = Names(Settings.from_env(environ), options, suffix)
    async with AsyncExitStack() as stack:
        direct = await stack.enter_async_context(
            start_backend(options.backend, options.endpoint, options.dynamodb_endpoint)
        )
        measured = await stack.enter_async_context(with_latency(direct, options.latency_ms))
        harness = await stack.enter_async_context(open_clients(names.settings("paysys", direct)))
        raw_harness = await stack.enter_async_context(open_clients(names.settings("raw", direct)))
        bench = Bench(
            options,
            names,
            environ,
            measured,
            log_dir,
            harness,
            raw_harness,
            paysys=await provision(harness),
            raw=await provision(raw_harness),
        )
        try:
            return await _phases(bench)
        finally:
            await stop_roles(bench.workers)
            log.info("bench.logs", directory=str(log_dir))
            if options.backend == "endpoint":  # the emulators we start die with their data
                await remove(harness, bench.paysys)
                await remove(raw_harness, bench.raw)


async def _phases(bench: Bench) -> dict[str, Any]:
    opts = bench.options
    result: dict[str, Any] = {
        "backend": opts.backend,
        "payments": opts.payments,
        "concurrency": opts.concurrency,
        "workers": opts.workers,
        "loops": opts.loops,
        "latency_ms": opts.latency_ms,
        # other load on the machine skews every figure: report it
        "loadavg_1m_start": round(os.getloadavg()[0], 2),
    }
    result.update(await _raw_pipeline(bench))
    result.update(await _raw_worker(bench, opts.loops, opts.payments))
    api = await start_role("api", "api", bench.role_env(opts.loops), bench.log_dir)
    try:
        await _start_workers(bench, opts.loops)
        result.update(await _api_phase(bench, api))
    finally:
        await stop_roles([api])
    result.update(await _worker_phase(bench, opts.payments))
    sweep = []
    for loops in opts.sweep_loops:
        count = opts.sweep_payments or opts.payments
        point: dict[str, Any] = {"loops": loops}
        point.update(await _raw_worker(bench, loops, count))
        await stop_roles(bench.workers)
        await _start_workers(bench, loops)
        point.update(await _worker_phase(bench, count))
        log.info("bench.sweep_point", **point)
        sweep.append(point)
    await stop_roles(bench.workers)
    result.update(await _correctness(bench))
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    result["api_ratio"] = _ratio(result["api_posts_per_s"], result["raw_api_ops_per_s"])
    result["worker_ratio"] = _ratio(
        result["worker_approvals_per_s"], result["raw_worker_ops_per_s"]
    )
    if sweep:
        result["sweep"] = sweep
    return result


async def _start_workers(bench: Bench, loops: int) -> None:
    env = bench.role_env(loops)
    bench.worker_loops = loops
    start = len(bench.worker_logs)
    bench.workers = list(
        await asyncio.gather(
            *(
                start_role("worker", f"worker-{start + i}", env, bench.log_dir)
                for i in range(bench.options.workers)
            )
        )
    )
    bench.worker_logs.extend(w.log_path for w in bench.workers)


# --- phases ----------------------------------------------------------------------------------


async def _raw_pipeline(bench: Bench) -> dict[str, Any]:
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
            max_in_flight=opts.workers * bench.names.base.worker_max_in_flight,
            finished=finished,
        )
        produced = await producing
    await wait_drained(bench.raw_harness, raw.queue_url, opts.settle_seconds)
    return {
        "raw_api_ops_per_s": round(produced.rate, 1),
        "raw_api_p50_ms": _pct(produced.latencies_ms, 50),
        "raw_api_p99_ms": _pct(produced.latencies_ms, 99),
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


async def _raw_worker(bench: Bench, loops: int, count: int) -> dict[str, Any]:
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
            max_in_flight=bench.options.workers * bench.names.base.worker_max_in_flight,
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


async def _api_phase(bench: Bench, api: Role) -> dict[str, Any]:
    opts, paysys, harness = bench.options, bench.paysys, bench.harness
    log.info("bench.phase", phase="api", payments=opts.payments, concurrency=opts.concurrency)
    cpu = _CpuWindow([api, *bench.workers])
    drive = await drive_api(api.base_url, opts.payments, opts.concurrency, opts.progress)
    api_cpu = cpu.used(api)
    emulator_pct = cpu.emulator_pct()
    await wait_drained(harness, paysys.queue_url, opts.settle_seconds)
    items = await _until_approved(harness, paysys.table, drive.ids, opts.settle_seconds)
    bench.ids.extend(drive.ids)
    e2e = [
        (_when(i["approved_at"]) - _when(i["created_at"])).total_seconds() * 1000
        for i in items.values()
        if i.get("status") == "Approved"
    ]
    accepted = len(drive.ids)
    return {
        "api_posts_per_s": round(accepted / drive.elapsed, 1) if drive.elapsed else 0.0,
        "api_p50_ms": _pct(drive.latencies_ms, 50),
        "api_p99_ms": _pct(drive.latencies_ms, 99),
        "api_errors": drive.errors,
        "e2e_p50_ms": _pct(e2e, 50),
        "e2e_p99_ms": _pct(e2e, 99),
        "api_cpu_ms_per_1k": _per_1k(api_cpu, accepted),
        "emulator_cpu_pct_api_phase": emulator_pct,
    }


async def _worker_phase(bench: Bench, count: int) -> dict[str, Any]:
    """Seed ``count`` Pending payments, feed their events, let the workers approve them."""
    paysys, harness = bench.paysys, bench.harness
    loops = bench.options.workers * bench.worker_loops
    log.info("bench.phase", phase="worker", loops=loops, payments=count)
    items = [new_item() for _ in range(count)]
    await seed(harness, paysys.table, items)
    ids = [i["id"] for i in items]
    bench.ids.extend(ids)
    cpu = _CpuWindow(bench.workers)
    started = datetime.now(UTC)
    await feed(harness, paysys.queue_url, items, bench.options.max_depth)
    await wait_drained(harness, paysys.queue_url, bench.options.guard_seconds(count))
    worker_cpu = sum(cpu.used(w) for w in bench.workers)
    emulator_pct = cpu.emulator_pct()
    found = await _until_approved(harness, paysys.table, ids, bench.options.settle_seconds)
    stamps = [_when(i["approved_at"]) for i in found.values() if i.get("status") == "Approved"]
    elapsed = (max(stamps) - started).total_seconds() if stamps else 0.0
    return {
        "worker_approvals_per_s": round(len(stamps) / elapsed, 1) if elapsed > 0 else 0.0,
        "worker_cpu_ms_per_1k": _per_1k(worker_cpu, len(stamps)),
        "emulator_cpu_pct_worker_phase": emulator_pct,
    }


async def _correctness(bench: Bench) -> dict[str, Any]:
    items = await read_items(bench.harness, bench.paysys.table, bench.ids)
    approved = {i for i, item in items.items() if item.get("status") == "Approved"}
    logs = read_worker_logs(bench.worker_logs)
    return {
        "lost": len(set(bench.ids) - approved),
        "double_approved": sum(1 for n in logs.approvals.values() if n > 1),
        "approvals_logged": sum(logs.approvals.values()),
        "approvals_unlogged": len(approved - set(logs.approvals)),
        "worker_duplicates": logs.duplicates,
        "worker_failures": logs.failures,
        "worker_warnings": logs.warnings,
    }


async def _until_approved(
    harness: Clients, table: str, ids: Sequence[str], settle_seconds: float
) -> dict[str, Item]:
    """Read the items back until all are Approved or ``settle_seconds`` pass."""
    found = await read_items(harness, table, ids)
    deadline = time.monotonic() + settle_seconds
    while time.monotonic() < deadline:
        missing = [i for i in ids if found.get(i, {}).get("status") != "Approved"]
        if not missing:
            break
        await asyncio.sleep(0.5)
        found.update(await read_items(harness, table, missing))
    return found


# --- small helpers ---------------------------------------------------------------------------


class _CpuWindow:
    """CPU seconds used by some processes (and the emulators) from now on."""

    def __init__(self, roles: Sequence[Role]) -> None:
        self._start = {r.process.pid: r.cpu_seconds() for r in roles}
        self._emulators = {p: cpu_seconds(p) for p in emulator_pids()}
        self._began = time.perf_counter()

    def used(self, role: Role) -> float:
        return role.cpu_seconds() - self._start[role.process.pid]

    def emulator_pct(self) -> float:
        """CPU of the emulator processes over the window, in % of one core."""
        used = sum(cpu_seconds(p) - c for p, c in self._emulators.items())
        return round(100 * used / max(time.perf_counter() - self._began, 1e-9), 1)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _pct(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 1)


def _per_1k(cpu_seconds_used: float, count: int) -> float:
    return round(cpu_seconds_used * 1000 * 1000 / count, 1) if count else 0.0


def _ratio(ours: float, ceiling: float) -> float:
    return round(ours / ceiling, 3) if ceiling else 0.0
