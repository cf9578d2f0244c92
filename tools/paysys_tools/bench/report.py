"""The benchmark's figures: the terminal table, percentiles, per-1,000 costs and ratios."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    ("lost", "lost (not final)", ""),
    ("final_approved", "  final: Approved", ""),
    ("final_declined", "  final: Declined", ""),
    ("final_canceled", "  final: Canceled", ""),
    ("double_final", "double final", ""),
    ("api_errors", "API errors", ""),
    ("worker_duplicates", "duplicate deliveries", ""),
)


STEADY_ROWS: tuple[tuple[str, str, str], ...] = (
    ("steady_target_rate", "arrivals (open loop)", "/s"),
    ("steady_rate", "  made final", "/s"),
    ("steady_payments", "  payments measured", ""),
    ("steady_api_p50_ms", "API latency p50 (from intended send)", "ms"),
    ("steady_api_p99_ms", "  p99", "ms"),
    ("steady_api_p999_ms", "  p99.9", "ms"),
    ("steady_e2e_p50_ms", "end-to-end (intended send -> final) p50", "ms"),
    ("steady_e2e_p99_ms", "  p99", "ms"),
    ("steady_e2e_p999_ms", "  p99.9", "ms"),
    ("steady_api_cpu_ms_per_payment", "API CPU per payment", "ms"),
    ("steady_worker_cpu_ms_per_payment", "worker CPU per payment", "ms"),
    ("steady_emulator_cpu_ms_per_payment", "emulator CPU per payment", "ms"),
    ("floor_api_ms", "API floor per payment (--backend stub)", "ms"),
    ("api_vs_floor", "  API CPU / floor", "x"),
    ("floor_worker_ms", "worker floor per payment", "ms"),
    ("worker_vs_floor", "  worker CPU / floor", "x"),
    ("steady_calls_per_payment", "AWS calls per payment", ""),
    ("steady_api_calls_per_payment", "  by the API", ""),
    ("steady_worker_calls_per_payment", "  by the workers", ""),
    ("messages_per_receive", "messages per ReceiveMessage", ""),
    ("entries_per_call_PublishBatch", "entries per PublishBatch", ""),
    ("entries_per_call_DeleteMessageBatch", "entries per DeleteMessageBatch", ""),
    ("driver_lag_max_ms", "driver lag, worst", "ms"),
    ("capacity_rate", "capacity (p99 e2e under the limit)", "/s"),
    ("steady_api_errors", "API errors", ""),
    ("lost", "lost (not final)", ""),
    ("double_final", "double final", ""),
)


def render_table(result: Mapping[str, Any]) -> str:
    if result.get("mode") == "steady":
        return _render_steady(result)
    title = (
        f"paysys bench: backend={result['backend']} payments={result['payments']} "
        f"concurrency={result['concurrency']} workers={result['workers']} "
        f"loops={result['loops']} latency={result['latency_ms']:g}ms"
    )
    lines = _titled_rows(title, ROWS, result)
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


def _render_steady(result: Mapping[str, Any]) -> str:
    title = (
        f"paysys bench (steady): backend={result['backend']} arrivals={result['arrivals']} "
        f"duration={result['duration_s']:g}s workers={result['workers']} loops={result['loops']}"
    )
    lines = _titled_rows(title, STEADY_ROWS, result)
    for role in ("api", "worker"):
        calls = result.get(f"{role}_calls_by_operation") or {}
        lines += [f"  {role} {op}: {n:.3f}/payment" for op, n in calls.items()]
    for p in result.get("sweep", ()):
        lines.append(
            f"  sweep {p['steady_target_rate']:>8.1f}/s: "
            f"e2e p99 {p['steady_e2e_p99_ms']:>8.1f} ms, "
            f"API p99 {p['steady_api_p99_ms']:>7.1f} ms, not final {p['steady_not_final']}, "
            f"errors {p['steady_api_errors']}"
        )
    return "\n".join(lines) + "\n"


def _titled_rows(
    title: str, rows: Sequence[tuple[str, str, str]], result: Mapping[str, Any]
) -> list[str]:
    """The title, its underline and one line per row whose key the result has."""
    lines = [title, "-" * len(title)]
    lines.extend(
        f"{label:<46} {_fmt(result[key]):>10} {unit}".rstrip()
        for key, label, unit in rows
        if key in result
    )
    return lines


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 1)


def per_1k(cpu_seconds_used: float, count: int) -> float:
    return round(cpu_seconds_used * 1000 * 1000 / count, 1) if count else 0.0


def ratio(ours: float, ceiling: float) -> float:
    return round(ours / ceiling, 3) if ceiling else 0.0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
