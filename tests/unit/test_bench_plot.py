"""The bench's plots (tools/paysys_tools/bench/plot.py) from recorded runs, real figures of
this machine (tests/unit/data/): bench_sweep.json is the --sweep-rate run benchmarks/README.md
tabulates and plots; bench_ab.jsonl the --raw lines of a 2-pair A/B (moto, 10/s for 6 s, load
4-5). Only that a plot is written and draws its series: how it looks is a reader's judgement."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from paysys_tools.bench import plot

DATA = Path(__file__).parent / "data"


def sweep() -> dict:
    return json.loads((DATA / "bench_sweep.json").read_text())


def ab_runs() -> list[dict]:
    lines = (DATA / "bench_ab.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_the_sweep_plot_draws_latency_and_cpu_against_the_rate(tmp_path: Path) -> None:
    result = sweep()
    path = plot.plot_sweep(result, tmp_path / "sweep.svg")
    svg = path.read_text()
    assert svg.startswith("<?xml")
    assert svg.rstrip().endswith("</svg>")
    for key, label, *_ in (*plot.LATENCY, *plot.CPU):
        assert f'id="{key}"' in svg, key  # the series, drawn
        assert label in svg, label  # and named in the legend
    assert "offered rate (payments/s)" in svg
    assert f"capacity {result['capacity_rate']:g}/s" in svg
    assert len(svg) > 20_000


def test_the_ab_plot_draws_base_against_change(tmp_path: Path) -> None:
    path = plot.plot_ab(ab_runs(), tmp_path / "ab.svg")
    svg = path.read_text()
    for key, label in plot.AB_FIGURES:
        assert f'id="{key}-base-median"' in svg, key
        assert f'id="{key}-change-median"' in svg, key
        assert label in svg, label


def test_a_png_has_the_figures_size(tmp_path: Path) -> None:
    path = plot.plot_sweep(sweep(), tmp_path / "sweep.png")
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1000, 400)  # 10 x 4 inches at 100 dpi


def test_the_plots_refuse_what_they_cannot_draw(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sweep-rate"):
        plot.plot_sweep({"mode": "steady"}, tmp_path / "x.svg")
    with pytest.raises(ValueError, match="both"):
        plot.plot_ab([r for r in ab_runs() if r["variant"] == "base"], tmp_path / "x.svg")
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        plot.plot_sweep(sweep(), tmp_path / "x.pdf")


def test_the_command_plots_saved_json(tmp_path: Path) -> None:
    source = tmp_path / "sweep.json"
    source.write_text(json.dumps(sweep()))
    assert plot.main(["sweep", str(source)]) == 0
    assert (tmp_path / "sweep.svg").stat().st_size > 20_000
