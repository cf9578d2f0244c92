"""An alternated A/B of two revisions with ``paysys bench``: base, change, base, change, ...

    python -m paysys_tools.bench.ab --base main~1 --change main --pairs 2 -- \\
        --backend keepalive --rate 60 --duration 20

Each revision is checked out once into a detached git worktree (under ``--trees``, default
``$TMPDIR/paysys-ab``); each run is ``python -m paysys bench <args> --json`` with
``PYTHONPATH=<worktree>/src:<worktree>/tools``, so the bench and the roles it starts run that
revision's code (with this interpreter's installed dependencies). Alternating spreads the
machine's drift over both sides. Prints one JSON line per run (``variant``, ``rev`` and the
headline figures) and then the median of each headline figure per variant and their ratio
(change / base); ``--raw FILE`` appends every run's whole JSON object too, and the runs are
drawn, A against B, into ``--plot FILE`` (default: the ``--raw`` file with ``.svg``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paysys_tools.bench.plot import plot_ab

HEADLINE = (
    "steady_rate",
    "steady_api_p99_ms",
    "steady_e2e_p50_ms",
    "steady_e2e_p99_ms",
    "steady_api_cpu_ms_per_payment",
    "steady_worker_cpu_ms_per_payment",
    "steady_emulator_cpu_ms_per_payment",
    "api_vs_floor",  # --backend stub: measured CPU over the floor
    "worker_vs_floor",
    "steady_calls_per_payment",
    "messages_per_receive",
    "lost",
    "loadavg_1m_start",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paysys_tools.bench.ab")
    parser.add_argument("--base", required=True, help="git revision A")
    parser.add_argument("--change", required=True, help="git revision B")
    parser.add_argument("--pairs", type=int, default=2, help="base+change pairs (2)")
    parser.add_argument("--trees", default=str(Path(tempfile.gettempdir()) / "paysys-ab"))
    parser.add_argument("--raw", help="append each run's whole JSON line to this file")
    parser.add_argument(
        "--plot", help="draw A against B into this .svg/.png (default: --raw's file with .svg)"
    )
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then bench flags")
    args = parser.parse_args(argv)
    bench_args = [a for a in args.bench_args if a != "--"]
    trees = {v: _worktree(rev, Path(args.trees)) for v, rev in _variants(args).items()}
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in trees}
    for _ in range(args.pairs):
        for variant, tree in trees.items():
            result = {"variant": variant, "rev": _rev(tree), **_bench(tree, bench_args)}
            line = {k: result.get(k) for k in ("variant", "rev", *HEADLINE)}
            sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
            sys.stdout.flush()
            runs[variant].append(result)
            if args.raw:
                with Path(args.raw).open("a", encoding="utf-8") as raw:
                    raw.write(json.dumps(result) + "\n")
    for key in HEADLINE:
        base, change = (_median(runs[v], key) for v in ("base", "change"))
        ratio = f"{change / base:.3f}" if base else "-"
        sys.stdout.write(f"{key:<36} base {base:>10.3f}  change {change:>10.3f}  x{ratio}\n")
    plot = args.plot or (str(Path(args.raw).with_suffix(".svg")) if args.raw else None)
    if plot:
        plot_ab([*runs["base"], *runs["change"]], Path(plot))
        sys.stdout.write(f"plot: {plot}\n")
    return 0


def _variants(args: argparse.Namespace) -> dict[str, str]:
    return {"base": args.base, "change": args.change}


def _worktree(rev: str, root: Path) -> Path:
    sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tree = root / sha[:12]
    if not (tree / "src" / "paysys").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        _git("worktree", "add", "--detach", str(tree), sha)
    return tree


def _rev(tree: Path) -> str:
    return tree.name


def _bench(tree: Path, bench_args: Sequence[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}:{tree / 'tools'}"}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "paysys", "bench", *bench_args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-3000:])
        raise SystemExit(f"bench failed in {tree} (exit {completed.returncode})")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _median(runs: Sequence[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in runs if isinstance(r.get(key), int | float)]
    return statistics.median(values) if values else 0.0


def _git(*args: str) -> str:
    completed = subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
