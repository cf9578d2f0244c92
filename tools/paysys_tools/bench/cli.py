"""``paysys bench``: throughput, latency and CPU cost of paysys against raw ceilings.

Starts the emulator (or attaches to ``--endpoint``), provisions fresh resources, runs the API
and ``--workers`` worker processes and drives ``--payments`` payments through the real HTTP API
at ``--concurrency``; every figure is reported beside a raw ceiling measured in the same run
with the same clients. Logs go to stderr; stdout gets a table and, with ``--json``, one JSON
object on its last line. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence

import structlog

from paysys.config import Settings
from paysys.devtools.bench.options import bench_options, build_parser
from paysys.devtools.bench.phases import run_bench
from paysys.devtools.bench.report import render_table
from paysys.errors import PaysysError
from paysys.logging import configure_logging
from paysys.runtime.eventloop import loop_factory

log = structlog.get_logger(__name__)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser(__doc__.split("\n\n")[0] if __doc__ else None).parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        settings = Settings.from_env(env)
    except PaysysError as exc:
        sys.stderr.write(f"paysys: {exc}\n")
        return 2
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
    return 0
