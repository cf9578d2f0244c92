"""The worker's log lines read back (the fault tests' and the bench's audit)."""

from __future__ import annotations

import json

from paysys_tools.worker_log import parse_worker_log


def line(outcome: str, payment_id: str, level: str = "info") -> str:
    return json.dumps(
        {"event": "message.processed", "outcome": outcome, "payment_id": payment_id, "level": level}
    )


def test_finals_duplicates_and_retried_attempts_are_told_apart() -> None:
    lines = [
        line("approved", "a"),
        line("retry", "b", "warning"),
        line("duplicate", "b"),
        line("declined", "c"),
        line("approved", "a"),
        line("retry", "d", "warning")[:40],  # cut short by a SIGKILL: skipped
        # a retry in the worker, then the retry finds its first write committed
        json.dumps({"event": "worker.retry_scheduled", "payment_id": "e", "level": "warning"}),
        line("duplicate", "e"),
    ]
    parsed = parse_worker_log(lines)
    assert parsed.finals == {"a": 2, "c": 1}
    assert parsed.retried == {"b", "e"}
    assert (parsed.duplicates, parsed.failures) == (2, 1)
    assert parsed.warnings == 2  # the cut line lost its level with its end
