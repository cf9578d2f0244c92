"""The velocity properties, from the stored payments and the velocity counter items.

A payment's take is in the window of its ``created_at`` minute (``paysys.core.velocity``), a
short fixed sequence of all-or-nothing tries over that merchant-minute's ``shards`` counter
items, each try applied once whatever the retries (its request token). The limits are split
exactly over the shards, so they hold per merchant-minute, whatever ``shards`` is. The *legit
takes* of a merchant-minute are those of its approved payments plus, as an upper bound, those
of its canceled ones (a take whose transition then lost the race to a cancel).

- ``velocity_limit``: per merchant-minute, approved count and amount never above the limit;
- ``velocity_decline``: a payment declined ``velocity_limit`` only when its own take was
  refused: its amount is more than a whole minute allows, or every try of its take is refused
  by the final counters (counters only grow within a minute, so a try they admit would have
  been admitted at the decision). What sharding still allows (a decline while the minute has
  room spread over shards the tries did not use, or too thinly) is no violation;
- ``velocity_take_once``: a merchant-minute's counters never count more than its legit takes
  (a take repeated by a retry, a redelivery or a crash after the take).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from paysys.core.domain import PaymentCreated
from paysys.core.velocity import (
    VELOCITY_PREFIX,
    Velocity,
    VelocityPart,
    VelocityTry,
    velocity_window,
)
from paysys_tools.chaos.history import History, Stored, VelocityCounter, Violation

VELOCITY_LIMIT = "velocity_limit"
Window = tuple[str, str]  # merchant, minute


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


@dataclass(slots=True)
class _Takes:
    count: int = 0
    amounts: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    ids: list[str] = field(default_factory=list)

    def add(self, n: int, amounts: dict[str, Decimal], name: str) -> None:
        self.count += n
        for currency, amount in amounts.items():
            self.amounts[currency] += amount
        self.ids.append(name)


def check_velocity(history: History) -> Iterator[Violation]:
    rules = history.velocity
    per_amount = rules.amount_per_minute
    if rules.payments_per_minute is None and not per_amount:
        for p in history.payments:  # no velocity rule: no such decline
            if p.decline_reason == VELOCITY_LIMIT:
                yield _v(history, "velocity_decline", "no velocity rule is set", p)
        return
    approved: dict[Window, _Takes] = defaultdict(_Takes)
    legit: dict[Window, _Takes] = defaultdict(_Takes)
    for p in history.payments:
        window = (p.merchant_id, minute_of(p.created_at))
        if p.status in ("Approved", "Canceled"):
            legit[window].add(1, {p.currency: p.amount}, p.id)
        if p.status == "Approved":
            approved[window].add(1, {p.currency: p.amount}, p.id)
    for window, takes in sorted(approved.items()):
        over = _over(takes, rules.payments_per_minute, per_amount)
        if over:
            detail = f"minute {window} approved {', '.join(over)}: {takes.ids}"
            yield Violation(
                history.seed, "velocity_limit", detail, takes.ids[0], merchant=window[0]
            )
    yield from _declines(history, legit)
    counted: dict[Window, _Takes] = defaultdict(_Takes)
    for c in history.counters:
        counted[c.merchant, c.minute].add(c.n, dict(c.amounts), _key(c))
    for window, counters in sorted(counted.items()):
        takes = legit.get(window, _Takes())
        extra = [f"n {counters.count} > {takes.count}"] if counters.count > takes.count else []
        extra += [
            f"{c} {a} > {takes.amounts[c]}"
            for c, a in sorted(counters.amounts.items())
            if a > takes.amounts[c]
        ]
        if extra:
            detail = f"counters {', '.join(extra)} (legit takes: {takes.ids})"
            yield Violation(
                history.seed,
                "velocity_take_once",
                detail,
                merchant=window[0],
                key=counters.ids[0],
            )


def _declines(history: History, legit: dict[Window, _Takes]) -> Iterator[Violation]:
    rules = history.velocity
    velocity = Velocity(rules.payments_per_minute, rules.amount_per_minute, rules.shards)
    final = {_key(c): c for c in history.counters}
    for p in history.payments:
        if p.decline_reason != VELOCITY_LIMIT:
            continue
        whole = rules.amount_per_minute.get(p.currency)
        if whole is not None and p.amount > whole:
            continue  # more than a whole minute allows: no take needed to know
        event = PaymentCreated(p.id, p.amount, p.currency, p.created_at, p.merchant_id)
        window = velocity_window(velocity, event)
        tries = () if window is None else window.tries
        admitted = [t for t in tries if _admits(t, p.currency, final)]
        if (p.merchant_id, minute_of(p.created_at)) not in legit:
            yield _v(history, "velocity_decline", "declined as the merchant's first that minute", p)
        elif admitted:
            detail = f"declined, a try of its take had room: {[x.key for x in admitted[0].parts]}"
            yield _v(history, "velocity_decline", detail, p)


def _admits(attempt: VelocityTry, currency: str, final: dict[str, VelocityCounter]) -> bool:
    return all(_room(part, currency, final.get(part.key)) for part in attempt.parts)


def _room(part: VelocityPart, currency: str, counter: VelocityCounter | None) -> bool:
    n = 0 if counter is None else counter.n
    taken = Decimal(0) if counter is None else counter.amounts.get(currency, Decimal(0))
    if part.count and part.max_count is not None and n >= part.max_count:
        return False
    return part.max_amount is None or taken + part.amount <= part.max_amount


def _over(takes: _Takes, count: int | None, limits: Mapping[str, Decimal]) -> list[str]:
    over = [f"{takes.count} payments > {count}"] if count and takes.count > count else []
    over += [
        f"{c} {a} > {limits[c]}"
        for c, a in sorted(takes.amounts.items())
        if c in limits and a > limits[c]
    ]
    return over


def _key(c: VelocityCounter) -> str:
    return f"{VELOCITY_PREFIX}{c.merchant}#{c.minute}#{c.shard}"


def _v(history: History, prop: str, detail: str, p: Stored) -> Violation:
    window = f"{p.merchant_id} {minute_of(p.created_at)} {p.currency} {p.amount}"
    return Violation(history.seed, prop, f"{detail} ({window})", p.id, merchant=p.merchant_id)
