"""What ``paysys bench`` is asked to do: its flags, the options they make, and the names of
the resources a run creates."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import cast

from paysys.config import Settings
from paysys_tools.bench.openloop import ARRIVALS, Arrivals
from paysys_tools.bench.procs import BACKENDS, Backend, Endpoints
from paysys_tools.names import per_run


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
    otlp_sink: bool = False
    # steady mode (--rate): open-loop arrivals instead of the closed-loop phases
    rate: float | None = None
    duration: float = 20.0
    warmup: float = 2.0
    arrivals: Arrivals = "constant"
    sweep_rate: bool = False
    sweep_e2e_p99_ms: float = 1000.0

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
        return per_run(self.base, f"bench-{kind}-{self.suffix}").replace(
            aws_endpoint_url=ends.aws,
            dynamodb_endpoint_url=ends.dynamodb,
            worker_loops=self.options.workers * (loops or self.options.loops),
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``paysys bench``'s flags, on the parser the CLI gives it."""
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
    add("--otlp-sink", action="store_true", help="trace the roles, exporting to a local sink")
    steady = parser.add_argument_group(
        "steady mode", "open-loop arrivals at a fixed rate; latency from the intended send time"
    )
    steady.add_argument("--rate", type=_positive_float, help="payments/s (turns steady mode on)")
    steady.add_argument("--duration", type=_positive_float, default=20.0, help="seconds (20)")
    steady.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first (2)")
    steady.add_argument("--arrivals", choices=ARRIVALS, default="constant", help="(constant)")
    steady.add_argument(
        "--sweep-rate",
        action="store_true",
        help="from --rate up (x1.5 a step), find the highest rate whose p99 e2e stays under "
        "--sweep-e2e-ms",
    )
    steady.add_argument("--sweep-e2e-ms", type=_positive_float, default=1000.0, help="(1000)")
    add("--json", action="store_true", help="print one JSON object as the last stdout line")
    add(
        "--plot",
        metavar="FILE",
        help="with --sweep-rate: draw latency and CPU per payment against the rate into FILE "
        "(.svg or .png) and write the JSON object beside it (FILE with .json)",
    )


def bench_options(args: argparse.Namespace, *, progress: bool) -> BenchOptions:
    """The options of parsed ``args`` (``progress``: draw a progress bar on stderr)."""
    return BenchOptions(
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
        progress=progress,
        log_dir=args.log_dir,
        otlp_sink=args.otlp_sink,
        rate=args.rate,
        duration=args.duration,
        warmup=max(0.0, args.warmup),
        arrivals=cast(Arrivals, args.arrivals),
        sweep_rate=args.sweep_rate,
        sweep_e2e_p99_ms=args.sweep_e2e_ms,
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _loop_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(_positive(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,2,4,8: {exc}") from exc
