"""The worker's own JSON log lines, read back: which payments it approved, and how often.

A ``message.processed`` line is logged once per handled message with its ``outcome``; the
benchmark and the fault tests count approvals per payment from them to find double approvals.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class WorkerLog:
    # payment id -> "message.processed" lines that made it final (outcome approved or declined)
    finals: Counter[str]
    duplicates: int
    failures: int
    warnings: int
    # payment ids with an attempt that failed (a retry in the worker, or outcome retry): its
    # write may still have committed (a lost reply), and the payment is then logged as a
    # duplicate by the next attempt
    retried: frozenset[str] = frozenset()


def parse_worker_log(lines: Iterable[str]) -> WorkerLog:
    """Count the outcomes of ``message.processed`` lines (a line that is not JSON, such as
    one cut short by a SIGKILL, is skipped) and the warning or error lines."""
    finals: Counter[str] = Counter()
    retried: set[str] = set()
    duplicates = failures = warnings = 0
    for line in lines:
        if '"level": "warning"' in line or '"level": "error"' in line:
            warnings += 1
        if '"worker.retry_scheduled"' in line:
            with contextlib.suppress(ValueError):
                retried.add(str(json.loads(line).get("payment_id")))
            continue
        if '"message.processed"' not in line:
            continue
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            outcome = entry.get("outcome")
            if outcome in {"approved", "declined"}:
                finals[str(entry.get("payment_id"))] += 1
            elif outcome == "duplicate":
                duplicates += 1
            else:
                failures += 1
                if outcome == "retry":
                    retried.add(str(entry.get("payment_id")))
    return WorkerLog(finals, duplicates, failures, warnings, frozenset(retried))


def read_worker_logs(paths: Iterable[Path]) -> WorkerLog:
    """:func:`parse_worker_log` over every worker process's log file."""
    return parse_worker_log(_lines(paths))


def _lines(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            yield from lines
