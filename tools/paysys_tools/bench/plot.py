"""Plots of the bench's JSON (matplotlib, Agg backend: no display needed; SVG or PNG by the
file's suffix). Dev tooling only: matplotlib is in paysys[dev], never in the runtime wheel.

- ``plot_sweep``: a ``--sweep-rate`` result, against the offered rate: API and end-to-end
  latency p50/p99 (ms, log scale), and the API's and the workers' CPU per payment.
- ``plot_ab``: the runs of ``paysys_tools.bench.ab``, base against change, one small chart per
  headline figure: every run a dot, the median a bar.

Written by ``paysys bench --sweep-rate --plot FILE`` and ``python -m paysys_tools.bench.ab``
(``--plot FILE``, or next to ``--raw FILE``); again from saved JSON with

    python -m paysys_tools.bench.plot sweep RESULT.json -o sweep.svg
    python -m paysys_tools.bench.plot ab RAW.jsonl -o ab.svg
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # before pyplot: never a display
from matplotlib import pyplot as plt

_METADATA: dict[str, dict[str, Any]] = {".svg": {"Date": None}, ".png": {}}

LATENCY = (
    ("steady_api_p50_ms", "API p50", "tab:blue", "--"),
    ("steady_api_p99_ms", "API p99", "tab:blue", "-"),
    ("steady_e2e_p50_ms", "end-to-end p50", "tab:red", "--"),
    ("steady_e2e_p99_ms", "end-to-end p99", "tab:red", "-"),
)
CPU = (
    ("steady_api_cpu_ms_per_payment", "API CPU", "tab:blue"),
    ("steady_worker_cpu_ms_per_payment", "worker CPU", "tab:green"),
)
AB_FIGURES = (
    ("steady_rate", "payments/s"),
    ("steady_api_p99_ms", "API p99 ms"),
    ("steady_e2e_p50_ms", "e2e p50 ms"),
    ("steady_e2e_p99_ms", "e2e p99 ms"),
    ("steady_api_cpu_ms_per_payment", "API CPU ms/payment"),
    ("steady_worker_cpu_ms_per_payment", "worker CPU ms/payment"),
    ("steady_calls_per_payment", "AWS calls/payment"),
    ("messages_per_receive", "messages/receive"),
    ("loadavg_1m_start", "load average at start"),
)


def plot_sweep(result: Mapping[str, Any], path: Path) -> Path:
    """Draw a ``--sweep-rate`` result's points against the offered rate into ``path``."""
    points = sorted(result.get("sweep") or (), key=lambda p: float(p["steady_target_rate"]))
    if not points:
        raise ValueError("no sweep in this result: run paysys bench with --sweep-rate")
    rates = [float(p["steady_target_rate"]) for p in points]
    with _style():
        figure, (latency, cpu) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
        for key, label, color, style in LATENCY:
            (line,) = latency.plot(
                rates, [p[key] for p in points], style, color=color, marker="o", label=label
            )
            line.set_gid(key)
        latency.set(yscale="log", xlabel="offered rate (payments/s)", ylabel="latency (ms)")
        latency.set_title("Latency against offered rate")
        for key, label, color in CPU:
            (line,) = cpu.plot(
                rates, [p[key] for p in points], color=color, marker="o", label=label
            )
            line.set_gid(key)
        cpu.set(xlabel="offered rate (payments/s)", ylabel="CPU ms per payment", ylim=(0, None))
        cpu.set_title("CPU per payment against offered rate")
        capacity = result.get("capacity_rate")
        if capacity:
            latency.axvline(capacity, color="grey", linestyle=":", label="capacity (last held)")
        for axes in (latency, cpu):
            axes.grid(visible=True, alpha=0.3)
            axes.legend()
        figure.suptitle(_sweep_title(result))
        return _save(figure, path)


def plot_ab(runs: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Draw base against change, one chart per headline figure, into ``path``; each run is a
    mapping with ``variant`` ("base" or "change") and the bench's JSON figures."""
    variants = ("base", "change")
    by_variant = {v: [r for r in runs if r.get("variant") == v] for v in variants}
    if not all(by_variant.values()):
        raise ValueError("an A/B plot needs runs of both base and change")
    revs = {v: by_variant[v][0].get("rev", v) for v in variants}
    with _style():
        figure, grid = plt.subplots(3, 3, figsize=(10, 8), layout="constrained")
        for axes, (key, label) in zip(grid.flat, AB_FIGURES, strict=True):
            for x, variant in enumerate(variants):
                values = [float(r[key]) for r in by_variant[variant] if _number(r.get(key))]
                color = "tab:grey" if variant == "base" else "tab:orange"
                if values:
                    bars = axes.bar(x, statistics.median(values), color=color, alpha=0.5)
                    bars.patches[0].set_gid(f"{key}-{variant}-median")
                    axes.plot([x] * len(values), values, "o", color="black", markersize=3)
            axes.set_xticks((0, 1), [f"A {revs['base']}", f"B {revs['change']}"])
            axes.set_title(label)
            axes.grid(visible=True, axis="y", alpha=0.3)
        pairs = min(len(by_variant[v]) for v in variants)
        figure.suptitle(f"A/B: base (A) against change (B), {pairs} alternated pairs; bar: median")
        return _save(figure, path)


def _style() -> Any:
    """Reproducible SVG: text kept as text (the series' names are searchable), fixed ids."""
    return mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "paysys", "font.size": 9})


def _sweep_title(result: Mapping[str, Any]) -> str:
    parts = [f"paysys bench --sweep-rate: backend {result.get('backend', '?')}"]
    if "workers" in result:
        parts.append(f"{result['workers']} worker(s) x {result.get('loops', '?')} loops")
    if "duration_s" in result:
        parts.append(f"{result['duration_s']:g} s a point")
    if result.get("capacity_rate"):
        parts.append(f"capacity {result['capacity_rate']:g}/s")
    if "loadavg_1m_start" in result:
        parts.append(f"load {result['loadavg_1m_start']}")
    return ", ".join(parts)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _save(figure: Any, path: Path) -> Path:
    suffix = path.suffix.lower()
    if suffix not in _METADATA:
        plt.close(figure)
        raise ValueError(f"{path}: a plot is .svg or .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata=_METADATA[suffix], dpi=100)
    plt.close(figure)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paysys_tools.bench.plot")
    parser.add_argument("kind", choices=("sweep", "ab"))
    parser.add_argument("source", type=Path, help="sweep: the bench's JSON; ab: --raw's lines")
    parser.add_argument("-o", "--output", type=Path, help="(default: SOURCE with .svg)")
    args = parser.parse_args(argv)
    output = args.output or args.source.with_suffix(".svg")
    lines = [json.loads(line) for line in args.source.read_text().splitlines() if line.strip()]
    if args.kind == "sweep":
        plot_sweep(lines[-1], output)
    else:
        plot_ab(lines, output)
    print(output)  # noqa: T201 - the command's one output: where the plot went
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
