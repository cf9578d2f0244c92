"""The velocity properties, from the stored payments and the velocity counter items.

A take is decided at the worker's decision time, the ``updated_at`` of the transition it
leads to, so an approved or velocity-declined payment's window is (merchant, minute of its
``updated_at``, ``shard_of(id, shards)``). The *legit takes* of a window are those of its
approved payments plus, as an upper bound, those of the merchant's canceled payments of the
same shard that were pending during that minute (a take whose transition then lost the race
to a cancel). No payment takes twice, and no take is made for a declined payment.

What sharding allows (``velocity.shards`` = S > 1): each shard of a merchant-minute allows
``ceil(limit / S)`` payments and ``amount / S`` (to the cent), so the merchant's minute may
approve up to S x those (more than the limit when S does not divide it), and a payment may be
declined while *other* shards still have room. It must not be declined while its own shard had
room, nor when it would be the merchant's first payment that minute (issue 20, case 9).

- ``velocity_limit``: per window, approved count and amount never above the shard's bounds;
- ``velocity_decline``: a payment declined ``velocity_limit`` only when its own take was
  refused: its shard was full, or its amount is more than a whole minute allows;
- ``velocity_take_once``: a counter item never counts more than the legit takes of its window
  (a take repeated by a retry, a redelivery or a crash after the take).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from paysys.core.partition_keys import shard_of
from paysys_tools.chaos.history import History, Stored, Violation

VELOCITY_LIMIT = "velocity_limit"
Window = tuple[str, str, int]  # merchant, minute, shard


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


@dataclass(slots=True)
class _Takes:
    count: int = 0
    amounts: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    ids: list[str] = field(default_factory=list)

    def add(self, p: Stored) -> None:
        self.count += 1
        self.amounts[p.currency] += p.amount
        self.ids.append(p.id)


def check_velocity(history: History) -> Iterator[Violation]:
    rules = history.velocity
    per_amount = rules.amount_per_minute
    if rules.payments_per_minute is None and not per_amount:
        for p in history.payments:  # no velocity rule: no such decline
            if p.decline_reason == VELOCITY_LIMIT:
                yield _v(history, "velocity_decline", "no velocity rule is set", p)
        return
    shards = rules.shards
    max_count = (
        None if rules.payments_per_minute is None else math.ceil(rules.payments_per_minute / shards)
    )
    max_amount = {c: (a / shards).quantize(Decimal("0.01")) for c, a in per_amount.items()}
    approved, legit = _legit_takes(history, shards)
    for window, takes in sorted(approved.items()):
        over = (
            [f"{takes.count} payments > {max_count}"]
            if max_count and takes.count > max_count
            else []
        )
        over += [
            f"{c} {a} > {max_amount[c]}"
            for c, a in sorted(takes.amounts.items())
            if c in max_amount and a > max_amount[c]
        ]
        if over:
            detail = f"window {window} approved {', '.join(over)}: {takes.ids}"
            yield Violation(
                history.seed, "velocity_limit", detail, takes.ids[0], merchant=window[0]
            )
    merchant_minutes = {(m, minute) for (m, minute, _), t in legit.items() if t.count}
    for p in history.payments:
        if p.decline_reason != VELOCITY_LIMIT:
            continue
        whole = per_amount.get(p.currency)
        if whole is not None and p.amount > whole:
            continue  # more than a whole minute allows: no take needed to know
        window = (p.merchant_id, minute_of(p.updated_at), shard_of(p.id, shards))
        takes = legit.get(window, _Takes())
        room_count = max_count is None or takes.count < max_count
        share = max_amount.get(p.currency)
        room_amount = share is None or takes.amounts[p.currency] + p.amount <= share
        if room_count and room_amount:
            detail = f"declined, its shard had room: {takes.count} takes {dict(takes.amounts)}"
            yield _v(history, "velocity_decline", detail, p)
        elif (p.merchant_id, window[1]) not in merchant_minutes:
            yield _v(history, "velocity_decline", "declined as the merchant's first that minute", p)
    for counter in history.counters:
        window = (counter.merchant, counter.minute, counter.shard)
        takes = legit.get(window, _Takes())
        extra = [f"n {counter.n} > {takes.count}"] if counter.n > takes.count else []
        extra += [
            f"{c} {a} > {takes.amounts[c]}"
            for c, a in sorted(counter.amounts.items())
            if a > takes.amounts[c]
        ]
        if extra:
            key = f"#velocity#{counter.merchant}#{counter.minute}#{counter.shard}"
            detail = f"counter {', '.join(extra)} (legit takes: {takes.ids})"
            yield Violation(
                history.seed, "velocity_take_once", detail, merchant=counter.merchant, key=key
            )


def _legit_takes(
    history: History, shards: int
) -> tuple[dict[Window, _Takes], dict[Window, _Takes]]:
    """Per window: the approved payments' takes, and those plus the canceled payments' that
    may have taken in it."""
    approved: dict[Window, _Takes] = defaultdict(_Takes)
    legit: dict[Window, _Takes] = defaultdict(_Takes)
    for p in history.payments:
        shard = shard_of(p.id, shards)
        if p.status == "Approved":
            approved[p.merchant_id, minute_of(p.updated_at), shard].add(p)
            legit[p.merchant_id, minute_of(p.updated_at), shard].add(p)
        elif p.status == "Canceled":
            for minute in _minutes(p.created_at, p.updated_at):
                legit[p.merchant_id, minute, shard].add(p)
    return approved, legit


def _minutes(start: datetime, end: datetime) -> list[str]:
    """Every minute from ``start``'s to ``end``'s."""
    minutes, moment = [], start.astimezone(UTC).replace(second=0, microsecond=0)
    while moment <= end:
        minutes.append(minute_of(moment))
        moment += timedelta(minutes=1)
    return minutes


def _v(history: History, prop: str, detail: str, p: Stored) -> Violation:
    window = f"{p.merchant_id} {minute_of(p.updated_at)} {p.currency} {p.amount}"
    return Violation(history.seed, prop, f"{detail} ({window})", p.id, merchant=p.merchant_id)
