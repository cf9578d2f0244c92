"""``python -m paysys_tools.chaos`` (and ``paysys chaos``): a campaign of seeds, one JSON line.

``--seeds N --seed S`` runs seeds S .. S+N-1 (``--seeds 1 --seed 7`` replays seed 7). The line
has ``seeds``, ``requests`` (HTTP exchanges the clients made), ``faults_by_kind``,
``faults_by_operation``, ``faults_by_operation_kind``, ``calls_by_operation`` (every AWS
request the proxy saw), ``process_faults`` per seed (with the webhook receiver's down
windows), ``webhooks`` (endpoints kept, deliveries owed, POSTs the receiver got by its answer,
seeds whose deliveries were not all in by the deadline) and ``violations`` (empty when clean);
the exit status is 1 when there are violations. Role logs are kept under ``logs`` then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from paysys.config import Settings
from paysys.local.emulator import moto_server
from paysys.observability.logging import configure_logging
from paysys_tools.chaos.checker import KILLED_BOUND
from paysys_tools.chaos.driver import Options, SeedResult, run_seed
from paysys_tools.chaos.webhook_check import expected_deliveries

log = structlog.get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--payments", type=int, default=60, help="create intents per seed")
    parser.add_argument("--seconds", type=float, default=30.0, help="load time per seed")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (>= 2)")
    parser.add_argument("--rate", type=float, default=0.1, help="share of AWS calls faulted")
    parser.add_argument(
        "--no-process-faults", action="store_true", help="no SIGKILL, SIGTERM, API restart"
    )
    parser.add_argument("--log-dir", type=Path, help="keep the role logs here")


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``chaos`` to the ``paysys`` command line (the ``paysys.commands`` entry point)."""
    summary = "seeded fault campaign on the emulator, checked (dev tooling)"
    parser = commands.add_parser("chaos", help=summary, description=summary)
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, _env: Mapping[str, str]) -> int:
    configure_logging(settings.log_format, "WARNING", stream=sys.stderr)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    options = Options(
        payments=args.payments,
        load_seconds=args.seconds,
        workers=args.workers,
        rate=args.rate,
        process_faults=not args.no_process_faults,
    )
    seeds = list(range(args.seed, args.seed + args.seeds))
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="paysys-chaos-"))
    began = time.monotonic()
    results = asyncio.run(campaign(seeds, options, log_dir))
    report = summary(results, round(time.monotonic() - began, 1))
    if report["violations"] or args.log_dir:
        report["logs"] = str(log_dir)
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    sys.stdout.write(json.dumps(report, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()
    return 1 if report["violations"] else 0


async def campaign(seeds: Sequence[int], options: Options, log_dir: Path) -> list[SeedResult]:
    results = []
    async with moto_server() as emulator:
        for seed in seeds:
            result = await run_seed(seed, options, emulator, log_dir)
            bounded = sum(v.property == KILLED_BOUND for v in result.violations)
            sys.stderr.write(
                f"chaos: seed {seed}: {len(result.history.answers)} requests, "
                f"{sum(result.plan.injected.values())} faults, "
                f"{len(result.violations) - bounded} violations, {bounded} bounded\n"
            )
            results.append(result)
    return results


def summary(results: Sequence[SeedResult], seconds: float) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    operations: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    per_operation: dict[str, Counter[str]] = defaultdict(Counter)
    statuses: Counter[str] = Counter()
    posts: Counter[str] = Counter()
    for r in results:
        posts.update(str(d.answered) for d in r.history.deliveries)
        kinds.update(r.plan.by_kind())
        operations.update(r.plan.by_operation())
        calls.update(r.plan.calls)
        for (name, fault), n in r.plan.injected.items():
            per_operation[name][fault.value] += n
        statuses.update(f"{a.op} {a.status}" for a in r.history.answers)
    found = [v.to_json() for r in results for v in r.violations]
    violations = [v for v in found if v["property"] != KILLED_BOUND]
    bounded = [v for v in found if v["property"] == KILLED_BOUND]
    return {
        "seeds": [r.seed for r in results],
        "requests": sum(len(r.history.answers) for r in results),
        "payments": sum(len(r.history.payments) for r in results),
        "faults_by_kind": dict(sorted(kinds.items())),
        "faults_by_operation": dict(sorted(operations.items())),
        "faults_by_operation_kind": {
            k: dict(sorted(v.items())) for k, v in sorted(per_operation.items())
        },
        "calls_by_operation": dict(sorted(calls.items())),
        "answers": dict(sorted(statuses.items())),
        "process_faults": {str(r.seed): r.events for r in results},
        "not_quiescent": [r.seed for r in results if not r.history.quiescent],
        "webhooks": {
            "endpoints": sum(len(r.history.endpoints) for r in results),
            "owed": sum(
                len(expected_deliveries(r.history.endpoints, r.history.payments)) for r in results
            ),
            "posts_by_answer": dict(sorted(posts.items())),
            "late": [r.seed for r in results if not r.history.delivered_in_time],
        },
        "violations_by_property": dict(Counter(v["property"] for v in violations)),
        "violations": violations,
        "bounded": bounded,  # documented bounds met (a SIGKILLed worker's unflushed counts)
        "seconds": seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paysys_tools.chaos", description=__doc__)
    add_arguments(parser)
    configure_logging("json", "WARNING", stream=sys.stderr)
    return _run(parser.parse_args(argv))
