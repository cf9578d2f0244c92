"""`paysys bench`: a short run asserting correctness only (never a speed), and its parts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paysys_tools.bench.procs import cpu_seconds, read_worker_logs
from paysys_tools.latency_proxy import serve

REQUIRED_KEYS = (
    "payments",
    "api_posts_per_s",
    "api_p50_ms",
    "api_p99_ms",
    "raw_api_ops_per_s",
    "api_ratio",
    "worker_approvals_per_s",
    "raw_worker_ops_per_s",
    "worker_ratio",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "api_cpu_ms_per_1k",
    "worker_cpu_ms_per_1k",
    "lost",
    "double_final",
    "final_approved",
    "final_declined",
    "final_canceled",
)
PAYMENTS = 150


def run_bench(log_dir: Path, *args: str) -> list[str]:
    """``paysys bench ARGS --json`` in a clean environment: asserts it succeeded, returns the
    lines of its stdout (the table, then the JSON object)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSYS_")}
    completed = subprocess.run(
        [sys.executable, "-m", "paysys", "bench", *args, "--json", "--log-dir", str(log_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=230,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.strip().splitlines()


@pytest.mark.timeout(240)
def test_short_bench_is_correct(tmp_path: Path) -> None:
    lines = run_bench(tmp_path, "--payments", str(PAYMENTS))
    assert "paysys bench: backend=moto" in lines[0]  # the table comes first
    result = json.loads(lines[-1])
    for key in REQUIRED_KEYS:
        assert isinstance(result[key], int | float), key
        assert not isinstance(result[key], bool), key
    assert result["backend"] == "moto"
    assert result["payments"] == PAYMENTS
    assert result["lost"] == 0
    assert result["double_final"] == 0
    # the default rules approve every payment (API phase and worker phase)
    assert result["final_approved"] >= PAYMENTS
    assert result["final_declined"] == result["final_canceled"] == 0
    assert result["api_errors"] == 0
    # every decision in DynamoDB has its log line, so double_final is really counted
    assert result["finals_unlogged"] == 0
    assert result["finals_logged"] >= 2 * PAYMENTS  # API phase + worker phase


STEADY_KEYS = (
    "steady_rate",
    "steady_api_p99_ms",
    "steady_e2e_p99_ms",
    "steady_api_cpu_ms_per_payment",
    "steady_worker_cpu_ms_per_payment",
    "steady_calls_per_payment",
    "messages_per_receive",
)


@pytest.mark.timeout(240)
def test_short_steady_bench_reports_its_figures(tmp_path: Path) -> None:
    rate, seconds = 20, 3
    lines = run_bench(tmp_path, "--rate", str(rate), "--duration", str(seconds), "--warmup", "1")
    assert "paysys bench (steady): backend=moto" in lines[0]
    result = json.loads(lines[-1])
    for key in STEADY_KEYS:
        assert isinstance(result[key], int | float), key
    assert result["steady_payments"] == rate * seconds  # the warm-up's are not measured
    assert result["lost"] == 0
    assert result["double_final"] == 0
    assert result["final_approved"] == rate * (seconds + 1)
    assert result["steady_api_errors"] == result["steady_not_final"] == 0
    assert result["steady_e2e_p50_ms"] > 0
    assert result["steady_api_cpu_ms_per_payment"] > 0
    assert result["steady_worker_cpu_ms_per_payment"] > 0
    # every payment costs its PutItem (a payment or two may straddle the window's start,
    # whose snapshot is taken as arrivals go on), and the workers' receives return messages
    assert result["api_calls_by_operation"]["dynamodb:PutItem"] == pytest.approx(1, abs=0.1)
    assert result["worker_calls_by_operation"]["sqs:ReceiveMessage"] > 0
    assert result["messages_per_receive"] > 0


def test_double_finals_are_counted_from_worker_logs(tmp_path: Path) -> None:
    def line(payment_id: str, outcome: str) -> str:
        return json.dumps(
            {"event": "message.processed", "outcome": outcome, "payment_id": payment_id}
        )

    (tmp_path / "w0.log").write_text(
        "\n".join([line("a", "approved"), line("b", "approved"), "not json"]) + "\n"
    )
    (tmp_path / "w1.log").write_text(
        "\n".join([line("a", "declined"), line("b", "duplicate"), line("c", "retry")]) + "\n"
    )
    logs = read_worker_logs([tmp_path / "w0.log", tmp_path / "w1.log"])
    assert logs.finals == {"a": 2, "b": 1}  # "a": approved and declined: double final
    assert sum(1 for n in logs.finals.values() if n > 1) == 1
    assert logs.duplicates == 1
    assert logs.failures == 1


def test_cpu_seconds_reads_proc() -> None:
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert cpu_seconds(os.getpid()) > 0


async def test_latency_proxy_delays_each_request() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    proxy = await serve(f"http://127.0.0.1:{port}", delay_ms=50)
    proxy_port = proxy.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
        for payload in (b"one", b"two"):  # two round trips on one connection
            began = time.perf_counter()
            writer.write(payload)
            assert await reader.readexactly(len(payload)) == payload
            assert time.perf_counter() - began >= 0.045
        writer.close()
    finally:
        proxy.close()
        upstream.close()
