"""What a benchmark run proves besides speed: every payment ended in one final state, once."""

from __future__ import annotations

from typing import Any

from paysys_tools.bench.context import Bench
from paysys_tools.bench.data import read_items
from paysys_tools.worker_log import read_worker_logs


async def correctness(bench: Bench) -> dict[str, Any]:
    items = await read_items(bench.harness, bench.paysys.table, bench.ids)
    kinds = ("Approved", "Declined", "Canceled")
    final = {i: item["status"] for i, item in items.items() if item.get("status") in kinds}
    decided = {i for i, status in final.items() if status != "Canceled"}
    logs = read_worker_logs(bench.worker_logs)
    return {
        "lost": len(set(bench.ids) - set(final)),  # not final: neither decided nor canceled
        **{f"final_{kind.lower()}": sum(1 for s in final.values() if s == kind) for kind in kinds},
        # made final twice (two approvals, or an approval and a decline) by the workers
        "double_final": sum(1 for n in logs.finals.values() if n > 1),
        "finals_logged": sum(logs.finals.values()),
        "finals_unlogged": len(decided - set(logs.finals)),
        "worker_duplicates": logs.duplicates,
        "worker_failures": logs.failures,
        "worker_warnings": logs.warnings,
    }
