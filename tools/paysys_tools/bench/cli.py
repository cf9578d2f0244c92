"""``paysys bench``: throughput, latency and CPU cost of paysys against raw ceilings.

Starts the emulator (or attaches to ``--endpoint``), provisions fresh resources, runs the API
and ``--workers`` worker processes and drives ``--payments`` payments through the real HTTP API
at ``--concurrency``; every figure is reported beside a raw ceiling measured in the same run
with the same clients. Logs go to stderr; stdout gets a table and, with ``--json``, one JSON
object on its last line. See ``benchmarks/README.md``.

Dev tooling: the ``paysys-tools`` distribution plugs this command into ``paysys`` through the
``paysys.commands`` entry point (see :func:`register`); the shipped image has no bench.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from paysys.config import Settings
from paysys.errors import PaysysError
from paysys.observability.logging import configure_logging
from paysys.runtime.eventloop import loop_factory
from paysys_tools.bench.options import add_arguments, bench_options
from paysys_tools.bench.phases import run_bench
from paysys_tools.bench.plot import plot_sweep
from paysys_tools.bench.report import render_table

log = structlog.get_logger(__name__)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``bench`` to the ``paysys`` command line (the ``paysys.commands`` entry point)."""
    summary = "throughput, latency and CPU per payment against raw ceilings (dev tooling)"
    parser = commands.add_parser("bench", help=summary, description=summary)
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)
    options = bench_options(args, progress=sys.stderr.isatty())
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
    if args.plot:
        return _plot(result, Path(args.plot))
    return 0


def _plot(result: Mapping[str, Any], path: Path) -> int:
    """The sweep's plot at ``path`` and its JSON beside it (``path`` with ``.json``)."""
    if not result.get("sweep"):
        log.error("bench.plot_needs_sweep", hint="--plot draws a --sweep-rate run")
        return 2
    path.with_suffix(".json").write_text(json.dumps(result, separators=(",", ":")) + "\n")
    plot_sweep(result, path)
    log.info("bench.plot_written", plot=str(path), json=str(path.with_suffix(".json")))
    return 0
