"""Steady mode of ``paysys bench`` (``--rate R --duration S``): open-loop arrivals through the
real API, the worker processes deciding them, as traffic arrives in production.

One point: ``--warmup`` seconds of arrivals at R (not measured), then ``--duration`` seconds
at R, measured: each payment's API latency and end-to-end time (intended send time -> the
stored final-state time), and, from a snapshot taken at the end of the warm-up and another
once every payment is final, the CPU seconds of the API and of the workers and their AWS calls
by operation (the roles count them on ``/metrics``). Everything the window's payments caused is
inside the window; so are the background calls of the workers (reconciler, idle long polls)
while it lasts, which is their honest share.

``--sweep-rate`` repeats the point at x1.5 the rate while it holds (p99 e2e under
``--sweep-e2e-ms``, every payment accepted and final): the last point that held is the capacity.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime
from typing import Any

import aiohttp
import structlog

from paysys_tools.bench.context import Bench
from paysys_tools.bench.data import FINAL, until_final, wait_drained
from paysys_tools.bench.floors import client_floors, server_floor_ms
from paysys_tools.bench.openloop import OpenLoop, drive_open_loop, schedule
from paysys_tools.bench.pricing import SERVER, floor_keys
from paysys_tools.bench.procs import Role, start_role, stop_roles
from paysys_tools.bench.report import percentile
from paysys_tools.bench.scrape import CALLS, ENTRIES, RECEIVED, Snapshot
from paysys_tools.bench.verify import correctness

log = structlog.get_logger(__name__)

SWEEP_STEP = 1.5
_BATCHES = ("sns:PublishBatch", "sqs:DeleteMessageBatch")


async def run_steady(bench: Bench, rate: float) -> dict[str, Any]:
    opts = bench.options
    result: dict[str, Any] = {
        "mode": "steady",
        "backend": opts.backend,
        "arrivals": opts.arrivals,
        "duration_s": opts.duration,
        "warmup_s": opts.warmup,
        "workers": opts.workers,
        "loops": opts.loops,
        "loadavg_1m_start": round(os.getloadavg()[0], 2),
    }
    floors: dict[str, float] = {}
    if opts.backend == "stub":  # the floors: each call and the bare server
        began = time.monotonic()
        floors, serial = await client_floors(bench.raw_harness, bench.raw)
        log.info("bench.client_floors", seconds=round(time.monotonic() - began, 1))
        floors[SERVER], serial[SERVER] = await server_floor_ms(bench.log_dir / "floor-server.log")
        log.info("bench.floors", seconds=round(time.monotonic() - began, 1))
        result["floors_ms"] = floors
        result["floors_serial_ms"] = serial
    api = await start_role("api", "api", bench.role_env(opts.loops), bench.log_dir)
    points: list[dict[str, Any]] = []
    try:
        await bench.start_workers(opts.loops)
        async with aiohttp.ClientSession() as http:
            while True:
                points.append(await _point(bench, http, api, rate, floors))
                if not (opts.sweep_rate and _holds(points[-1], opts.sweep_e2e_p99_ms)):
                    break
                rate = round(rate * SWEEP_STEP, 1)
    finally:
        await stop_roles([api, *bench.workers])
    held = [p for p in points if _holds(p, opts.sweep_e2e_p99_ms)]
    result.update((held or points)[-1] if opts.sweep_rate else points[0])
    if opts.sweep_rate:
        result["capacity_rate"] = held[-1]["steady_target_rate"] if held else 0.0
        result["sweep"] = [{k: v for k, v in p.items() if not isinstance(v, dict)} for p in points]
    result.update(await correctness(bench))
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    return result


def _holds(point: dict[str, Any], e2e_p99_limit_ms: float) -> bool:
    return bool(
        point["steady_e2e_p99_ms"] < e2e_p99_limit_ms
        and point["steady_api_errors"] == 0
        and point["steady_not_final"] == 0
    )


async def _point(
    bench: Bench, http: aiohttp.ClientSession, api: Role, rate: float, floors: dict[str, float]
) -> dict[str, Any]:
    opts = bench.options
    offsets = schedule(rate, opts.warmup + opts.duration, opts.arrivals, seed=round(rate * 1000))
    log.info("bench.steady", rate=rate, seconds=opts.duration, warmup=opts.warmup)

    async def at_warmup_end() -> Snapshot:
        await asyncio.sleep(opts.warmup)  # a point of the schedule, not a wait for a condition
        return await Snapshot.take(http, api, bench.workers)

    begin = asyncio.create_task(at_warmup_end())
    drive = await drive_open_loop(api.base_url, offsets)
    before = await begin
    ids = [s.payment_id for s in drive.accepted if s.payment_id]
    bench.ids.extend(ids)
    await wait_drained(bench.harness, bench.paysys.queue_url, opts.settle_seconds)
    items = await until_final(bench.harness, bench.paysys.table, ids, opts.settle_seconds)
    after = await Snapshot.take(http, api, bench.workers)
    point = _figures(bench, rate, drive, items=items, window=(before, after), api=api)
    if floors:
        cpu = (point["steady_api_cpu_ms_per_payment"], point["steady_worker_cpu_ms_per_payment"])
        calls = (after.api - before.api, after.workers - before.workers)
        point.update(floor_keys(floors, calls, point["steady_payments"], cpu))
    return point


def _figures(
    bench: Bench,
    rate: float,
    drive: OpenLoop,
    *,
    items: dict[str, dict[str, Any]],
    window: tuple[Snapshot, Snapshot],
    api: Role,
) -> dict[str, Any]:
    opts, (before, after) = bench.options, window
    measured = [s for s in drive.sent if s.offset >= opts.warmup]
    accepted = [s for s in measured if s.payment_id]
    e2e: list[float] = []
    for sent in accepted:
        item = items.get(sent.payment_id or "", {})
        if item.get("status") in FINAL:
            final_at = datetime.fromisoformat(item["updated_at"])
            e2e.append((final_at - sent.intended).total_seconds() * 1000)
    n = len(accepted) or 1
    api_calls, worker_calls = after.api - before.api, after.workers - before.workers
    api_by_op, worker_by_op = api_calls.by_label(CALLS), worker_calls.by_label(CALLS)
    receives = worker_by_op.get("sqs:ReceiveMessage", 0.0)
    entries = {**worker_calls.by_label(ENTRIES)}
    for op, count in api_calls.by_label(ENTRIES).items():
        entries[op] = entries.get(op, 0.0) + count
    calls = {op: api_by_op.get(op, 0.0) + worker_by_op.get(op, 0.0) for op in _BATCHES}
    worker_pids = [w.pid for w in bench.workers]
    emulators = [p for p in after.cpu if p != api.pid and p not in worker_pids]
    return {
        "steady_target_rate": rate,
        "steady_rate": round(len(e2e) / opts.duration, 1),
        "steady_payments": len(accepted),
        "steady_api_errors": len(measured) - len(accepted),
        "steady_not_final": len(accepted) - len(e2e),
        "steady_api_p50_ms": percentile([s.latency_ms for s in accepted], 50),
        "steady_api_p99_ms": percentile([s.latency_ms for s in accepted], 99),
        "steady_api_p999_ms": percentile([s.latency_ms for s in accepted], 99.9),
        "steady_e2e_p50_ms": percentile(e2e, 50),
        "steady_e2e_p99_ms": percentile(e2e, 99),
        "steady_e2e_p999_ms": percentile(e2e, 99.9),
        "steady_api_cpu_ms_per_payment": _per(after.cpu_since(before, [api.pid]) * 1000, n),
        "steady_worker_cpu_ms_per_payment": _per(after.cpu_since(before, worker_pids) * 1000, n),
        "steady_emulator_cpu_ms_per_payment": _per(after.cpu_since(before, emulators) * 1000, n),
        "steady_calls_per_payment": _per(sum(api_by_op.values()) + sum(worker_by_op.values()), n),
        "steady_api_calls_per_payment": _per(sum(api_by_op.values()), n),
        "steady_worker_calls_per_payment": _per(sum(worker_by_op.values()), n),
        "messages_per_receive": _per(worker_calls.total(RECEIVED), receives),
        **{
            f"entries_per_call_{op.split(':')[1]}": _per(entries.get(op, 0.0), calls[op])
            for op in _BATCHES
        },
        "driver_lag_max_ms": round(drive.lag_max_ms, 1),
        "api_calls_by_operation": {op: _per(c, n) for op, c in sorted(api_by_op.items())},
        "worker_calls_by_operation": {op: _per(c, n) for op, c in sorted(worker_by_op.items())},
    }


def _per(amount: float, count: float) -> float:
    return round(amount / count, 3) if count else 0.0
