"""``paysys bench``: throughput, latency and CPU cost of paysys against raw ceilings.

Starts the emulator (or attaches to ``--endpoint``), provisions fresh resources, runs the API
and ``--workers`` worker processes and drives ``--payments`` payments through the real HTTP API
at ``--concurrency``; every figure is reported beside a raw ceiling measured in the same run
with the same clients. Logs go to stderr; stdout gets a table and, with ``--json``, one JSON
object on its last line. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, cast

import structlog

from paysys.config import Settings
from paysys.devtools.bench.procs import BACKENDS, Backend
from paysys.devtools.bench.run import BenchOptions, run_bench
from paysys.errors import PaysysError
from paysys.logging import configure_logging
from paysys.runtime.eventloop import loop_factory

log = structlog.get_logger(__name__)

# (key, label, unit) of the terminal table, in order.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("api_posts_per_s", "API POST /payments", "/s"),
    ("raw_api_ops_per_s", "  raw ceiling (a): put + publish", "/s"),
    ("api_ratio", "  api_ratio", ""),
    ("api_p50_ms", "  API latency p50", "ms"),
    ("api_p99_ms", "  API latency p99", "ms"),
    ("raw_api_p50_ms", "  raw (a) latency p50", "ms"),
    ("worker_approvals_per_s", "worker approvals", "/s"),
    ("raw_worker_ops_per_s", "  raw ceiling (b): receive + update + delete", "/s"),
    ("worker_ratio", "  worker_ratio", ""),
    ("bench_cpu_pct_raw_worker", "  bench process CPU during (b)", "% core"),
    ("e2e_p50_ms", "end-to-end (approved - created) p50", "ms"),
    ("e2e_p99_ms", "end-to-end p99", "ms"),
    ("api_cpu_ms_per_1k", "API CPU per 1,000 payments", "ms"),
    ("worker_cpu_ms_per_1k", "worker CPU per 1,000 payments", "ms"),
    ("emulator_cpu_pct_api_phase", "emulator CPU, API phase", "% core"),
    ("emulator_cpu_pct_worker_phase", "emulator CPU, worker phase", "% core"),
    ("lost", "lost (not Approved)", ""),
    ("double_approved", "double approved", ""),
    ("api_errors", "API errors", ""),
    ("worker_duplicates", "duplicate deliveries", ""),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paysys bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add = parser.add_argument
    add("--payments", type=_positive, default=1000, help="payments per phase (default 1000)")
    add("--concurrency", type=_positive, default=16, help="concurrent POSTs (default 16)")
    add("--workers", type=_positive, default=1, help="worker processes (default 1)")
    add("--loops", type=_positive, default=4, help="receive loops per worker (default 4)")
    add("--latency-ms", type=float, default=0.0, help="delay added to every AWS request")
    add("--backend", choices=BACKENDS, default="moto", help="emulator setup (default moto)")
    add("--endpoint", help="--backend endpoint: the AWS endpoint URL to use")
    add("--dynamodb-endpoint", help="--backend endpoint: a separate DynamoDB endpoint")
    add("--sweep-loops", type=_loop_list, default=(), help="e.g. 1,2,4,8,16,64")
    add("--sweep-payments", type=_positive, default=None, help="payments per sweep point")
    add("--max-depth", type=_positive, default=100, help="most messages the feeder lets wait")
    add("--settle-seconds", type=float, default=30.0, help="wait for stragglers (default 30)")
    add("--log-dir", help="keep the processes' logs here (default: a temporary directory)")
    add("--json", action="store_true", help="print one JSON object as the last stdout line")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        settings = Settings.from_env(env)
    except PaysysError as exc:
        sys.stderr.write(f"paysys: {exc}\n")
        return 2
    configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)
    options = BenchOptions(
        payments=args.payments,
        concurrency=args.concurrency,
        workers=args.workers,
        loops=args.loops,
        latency_ms=args.latency_ms,
        backend=cast(Backend, args.backend),
        endpoint=args.endpoint,
        dynamodb_endpoint=args.dynamodb_endpoint,
        sweep_loops=args.sweep_loops,
        sweep_payments=args.sweep_payments or 0,
        max_depth=args.max_depth,
        settle_seconds=args.settle_seconds,
        progress=sys.stderr.isatty(),
        log_dir=args.log_dir,
    )
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(run_bench(options, env))
    except PaysysError as exc:
        log.error("bench.failed", error=str(exc), code=exc.code)
        return 1
    sys.stdout.write(render_table(result))
    if args.json:
        sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


def render_table(result: Mapping[str, Any]) -> str:
    title = (
        f"paysys bench: backend={result['backend']} payments={result['payments']} "
        f"concurrency={result['concurrency']} workers={result['workers']} "
        f"loops={result['loops']} latency={result['latency_ms']:g}ms"
    )
    lines = [title, "-" * len(title)]
    lines.extend(
        f"{label:<46} {_fmt(result[key]):>10} {unit}".rstrip()
        for key, label, unit in ROWS
        if key in result
    )
    sweep = result.get("sweep")
    if sweep:
        lines += ["", f"loops sweep (per worker process, latency={result['latency_ms']:g}ms)"]
        lines.append(
            f"{'loops':>6} {'approvals/s':>12} {'raw (b)/s':>10} {'ratio':>6} {'cpu/1k':>8}"
        )
        for p in sweep:
            ratio = (
                p["worker_approvals_per_s"] / p["raw_worker_ops_per_s"]
                if p["raw_worker_ops_per_s"]
                else 0.0
            )
            lines.append(
                f"{p['loops']:>6} {p['worker_approvals_per_s']:>12.1f} "
                f"{p['raw_worker_ops_per_s']:>10.1f} {ratio:>6.2f} "
                f"{p['worker_cpu_ms_per_1k']:>8.0f}"
            )
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _loop_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(_positive(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,2,4,8: {exc}") from exc
