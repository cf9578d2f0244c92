"""`paysys bench --backend stub`: payments flow end to end through the stub, and the run
reports the floors and the ratios to them (their values are never asserted, only present)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.system.test_bench import run_bench

FLOOR_KEYS = ("floor_api_ms", "floor_worker_ms", "api_vs_floor", "worker_vs_floor")


@pytest.mark.timeout(240)
def test_stub_bench_reports_floors(tmp_path: Path) -> None:
    lines = run_bench(
        tmp_path, "--backend", "stub", "--rate", "20", "--duration", "3", "--warmup", "1"
    )
    result = json.loads(lines[-1])
    assert result["backend"] == "stub"
    assert result["steady_payments"] > 0
    assert result["lost"] == 0
    assert result["double_final"] == 0
    for key in FLOOR_KEYS:
        assert result[key] > 0, key
    floors, serial = result["floors_ms"], result["floors_serial_ms"]
    for op in (
        "dynamodb:PutItem",
        "sns:PublishBatch@1",
        "sqs:ReceiveMessage@0",
        "sqs:ReceiveMessage@10",
        "sqs:DeleteMessageBatch@10",
        "server:POST",
    ):
        assert 0 < floors[op] <= serial[op], op  # the lowest sample, serial or in flight
    assert result["steady_emulator_cpu_ms_per_payment"] > 0  # the stub's CPU, apart
