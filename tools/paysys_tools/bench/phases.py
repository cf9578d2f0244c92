"""The benchmark's phases, in order, on fresh uniquely named resources:

1. raw pipeline: ceiling (a) (PutItem + Publish at concurrency C) while raw consumers keep the
   queue drained, as the workers do while the API is driven;
2. raw worker: ceiling (b) on a seeded table, its events fed to the queue at a bounded depth;
3. API: P payments POSTed through the real API at concurrency C, the workers running; then
   wait until every one is Approved and read them back (end-to-end latency);
4. worker: P payments seeded and their events fed exactly as in 2, approved by the workers;
5. optional loops sweep: 2 and 4 again for every loop count.

The raw phases (1, 2) live in :mod:`paysys_tools.bench.raw`, beside their ceilings.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from paysys.config import Settings
from paysys.ops.provision import provision
from paysys.runtime.resources import open_clients
from paysys_tools.bench.context import Bench
from paysys_tools.bench.data import (
    feed,
    new_item,
    remove,
    seed,
    until_final,
    wait_drained,
)
from paysys_tools.bench.driver import drive_api
from paysys_tools.bench.options import BenchOptions, Names
from paysys_tools.bench.procs import (
    CpuWindow,
    Role,
    start_backend,
    start_role,
    stop_roles,
    with_latency,
)
from paysys_tools.bench.raw import raw_pipeline, raw_worker
from paysys_tools.bench.report import per_1k, percentile, ratio
from paysys_tools.bench.steady import run_steady
from paysys_tools.bench.verify import correctness
from paysys_tools.otlp_sink import otlp_sink

log = structlog.get_logger(__name__)


async def run_bench(options: BenchOptions, environ: Mapping[str, str]) -> dict[str, Any]:
    log_dir = Path(options.log_dir or tempfile.mkdtemp(prefix="paysys-bench-"))
    suffix = uuid.uuid4().hex[:8]
    log_dir = log_dir / f"run-{suffix}"
    log_dir.mkdir(parents=True)
    names = Names(Settings.from_env(environ), options, suffix)
    async with AsyncExitStack() as stack:
        sink = await stack.enter_async_context(otlp_sink()) if options.otlp_sink else None
        if sink is not None:  # the roles trace, exporting to the sink (OTLP/HTTP)
            environ = {**environ, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url}
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
            if options.rate:
                result = await run_steady(bench, options.rate)
            else:
                result = await _phases(bench)
        finally:
            await stop_roles(bench.workers)
            log.info("bench.logs", directory=str(log_dir))
            if options.backend == "endpoint":  # the emulators we start die with their data
                await remove(harness, bench.paysys)
                await remove(raw_harness, bench.raw)
        if sink is not None:
            result["otlp"] = sink.summary()
        return result


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
    result.update(await raw_pipeline(bench))
    result.update(await raw_worker(bench, opts.loops, opts.payments))
    api = await start_role("api", "api", bench.role_env(opts.loops), bench.log_dir)
    try:
        await bench.start_workers(opts.loops)
        result.update(await _api_phase(bench, api))
    finally:
        await stop_roles([api])
    result.update(await _worker_phase(bench, opts.payments))
    sweep = []
    for loops in opts.sweep_loops:
        count = opts.sweep_payments or opts.payments
        point: dict[str, Any] = {"loops": loops}
        point.update(await raw_worker(bench, loops, count))
        await stop_roles(bench.workers)
        await bench.start_workers(loops)
        point.update(await _worker_phase(bench, count))
        log.info("bench.sweep_point", **point)
        sweep.append(point)
    await stop_roles(bench.workers)
    result.update(await correctness(bench))
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    result["api_ratio"] = ratio(result["api_posts_per_s"], result["raw_api_ops_per_s"])
    result["worker_ratio"] = ratio(result["worker_approvals_per_s"], result["raw_worker_ops_per_s"])
    if sweep:
        result["sweep"] = sweep
    return result


async def _api_phase(bench: Bench, api: Role) -> dict[str, Any]:
    opts, paysys, harness = bench.options, bench.paysys, bench.harness
    log.info("bench.phase", phase="api", payments=opts.payments, concurrency=opts.concurrency)
    cpu = CpuWindow([api, *bench.workers])
    drive = await drive_api(api.base_url, opts.payments, opts.concurrency, opts.progress)
    api_cpu = cpu.used(api)
    emulator_pct = cpu.emulator_pct()
    await wait_drained(harness, paysys.queue_url, opts.settle_seconds)
    items = await until_final(harness, paysys.table, drive.ids, opts.settle_seconds)
    bench.ids.extend(drive.ids)
    e2e = [
        (_when(i["approved_at"]) - _when(i["created_at"])).total_seconds() * 1000
        for i in items.values()
        if i.get("status") == "Approved"
    ]
    accepted = len(drive.ids)
    return {
        "api_posts_per_s": round(accepted / drive.elapsed, 1) if drive.elapsed else 0.0,
        "api_p50_ms": percentile(drive.latencies_ms, 50),
        "api_p99_ms": percentile(drive.latencies_ms, 99),
        "api_errors": drive.errors,
        "e2e_p50_ms": percentile(e2e, 50),
        "e2e_p99_ms": percentile(e2e, 99),
        "api_cpu_ms_per_1k": per_1k(api_cpu, accepted),
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
    cpu = CpuWindow(bench.workers)
    started = datetime.now(UTC)
    await feed(harness, paysys.queue_url, items, bench.options.max_depth)
    await wait_drained(harness, paysys.queue_url, bench.options.guard_seconds(count))
    worker_cpu = sum(cpu.used(w) for w in bench.workers)
    emulator_pct = cpu.emulator_pct()
    found = await until_final(harness, paysys.table, ids, bench.options.settle_seconds)
    stamps = [_when(i["approved_at"]) for i in found.values() if i.get("status") == "Approved"]
    elapsed = (max(stamps) - started).total_seconds() if stamps else 0.0
    return {
        "worker_approvals_per_s": round(len(stamps) / elapsed, 1) if elapsed > 0 else 0.0,
        "worker_cpu_ms_per_1k": per_1k(worker_cpu, len(stamps)),
        "emulator_cpu_pct_worker_phase": emulator_pct,
    }


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)
