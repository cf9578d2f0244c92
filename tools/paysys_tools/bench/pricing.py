"""A payment's calls priced at their floors (:mod:`paysys_tools.bench.floors`): the keys
``floor_api_ms``, ``floor_worker_ms``, ``api_vs_floor`` and ``worker_vs_floor``.

A role's floor per payment is, per operation, the calls the role itself counted over the
window (``paysys_aws_calls_total``) at that operation's floor, divided by the payments:

- a batch call (``PublishBatch``, ``DeleteMessageBatch``) at its floor for the entries per
  call the role counted, between the floors at 1 and at 10 entries (linear in entries, so the
  average over calls of different sizes, and over both queues, prices them exactly);
- a ``ReceiveMessage`` by the messages it brought, queue by queue: an empty one (an idle long
  poll) at the empty receive's floor (``@0``), the others between ``@1`` and ``@10``. The
  payment queue's receives, empty ones and messages are the worker's own counters; the other
  receives are the webhook delivery queue's, carrying the messages its deliveries handled,
  with the fewest empty receives those counts allow (a long poll returns at the first
  message, so non-empty receives of several messages and empty ones rarely share a window);
- an operation without a floor of its own at the cheapest call of its service.

The API's floor adds the bare server's per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paysys_tools.bench.scrape import (
    CALLS,
    ENTRIES,
    NON_EMPTY,
    RECEIVED,
    RECEIVES,
    WEBHOOK_HANDLED,
    Scrape,
)

SERVER = "server:POST"
RECEIVE = "sqs:ReceiveMessage"
BATCHED = ("sns:PublishBatch", RECEIVE, "sqs:DeleteMessageBatch")


def call_floor_ms(floors: Mapping[str, float], op: str, entries_per_call: float) -> float:
    """The floor of one ``op`` call carrying ``entries_per_call`` entries (at least 1)."""
    if op in BATCHED:
        one, ten = floors[f"{op}@1"], floors[f"{op}@10"]
        return one + (ten - one) * (max(1.0, min(10.0, entries_per_call)) - 1) / 9
    if op in floors:
        return floors[op]
    service = op.split(":", maxsplit=1)[0]
    same = [v for k, v in floors.items() if k.startswith(service + ":")]
    return min(same) if same else min(floors.values())


def receive_floor_ms(
    floors: Mapping[str, float], calls: float, messages: float, empty: float
) -> float:
    """The floor of ``calls`` receives of one queue bringing ``messages`` in all, ``empty``
    of them with none."""
    empty = max(0.0, min(calls, empty))
    full = calls - empty
    total = empty * floors[f"{RECEIVE}@0"]
    if full > 0:
        total += full * call_floor_ms(floors, RECEIVE, messages / full)
    return total


def queue_receives(calls: Scrape) -> list[tuple[float, float, float]]:
    """``(calls, messages, empty)`` of the payment queue, then of the other receives (the
    webhook delivery queue's), from a role's counters over a window."""
    total = calls.by_label(CALLS).get(RECEIVE, 0.0)
    main = min(total, calls.total(RECEIVES))
    main_full = min(main, calls.total(NON_EMPTY))
    other = total - main
    other_messages = calls.total(WEBHOOK_HANDLED)
    return [
        (main, calls.total(RECEIVED), main - main_full),
        (other, other_messages, max(0.0, other - other_messages)),
    ]


def role_floor_ms(floors: Mapping[str, float], calls: Scrape, payments: int) -> float:
    """A role's calls per payment (its own counters over the window) at their floors."""
    entries = calls.by_label(ENTRIES)
    total = 0.0
    for op, count in calls.by_label(CALLS).items():
        if count <= 0:
            continue
        if op == RECEIVE:
            total += sum(receive_floor_ms(floors, *queue) for queue in queue_receives(calls))
        else:
            total += count * call_floor_ms(floors, op, entries.get(op, count) / count)
    return total / payments if payments else 0.0


def floor_keys(
    floors: Mapping[str, float],
    window: tuple[Scrape, Scrape],
    payments: int,
    cpu_ms: tuple[float, float],
) -> dict[str, Any]:
    """The floor keys of a steady point: ``window`` the API's and the workers' counters over
    it, ``cpu_ms`` their measured CPU ms per payment."""
    api = floors[SERVER] + role_floor_ms(floors, window[0], payments)
    worker = role_floor_ms(floors, window[1], payments)
    return {
        "floor_api_ms": round(api, 3),
        "floor_worker_ms": round(worker, 3),
        "api_vs_floor": round(cpu_ms[0] / api, 3) if api else 0.0,
        "worker_vs_floor": round(cpu_ms[1] / worker, 3) if worker else 0.0,
    }
