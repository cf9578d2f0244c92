"""The worker's decision rules: pure code, no I/O.

One setting (``PAYSYS_RULES``: JSON text, or the path of a JSON file) holds them all; every key
is optional and the empty default decides every payment the API accepts ``Approved``::

    {"currencies": ["BRL", "USD"],                   # allowed currencies (absent: any)
     "max_amount": {"BRL": "5000.00"},               # per currency (absent: the API's bound)
     "deny_merchants": ["m-fraud"],                  # these merchants' payments are declined
     "velocity": {"payments_per_minute": 600,        # per merchant, per minute window
                  "amount_per_minute": {"BRL": "20000.00"},
                  "shards": 1}}                      # counter items per merchant-minute

Velocity needs the counters every worker shares: ``decide`` returns the ``VelocityWindow``
to take (a conditional ``ADD`` on ``#velocity#<merchant>#<minute>#<shard>``, see
``VelocityStore``); the payment is declined ``velocity_limit`` when the take is refused.
The window is a fixed clock minute, not a sliding one (at most twice the limit can pass
across a minute boundary). ``shards`` > 1 spreads a hot merchant's minute over that many
items, each allowing ``ceil(limit / shards)``: a payment can be declined while other shards
still have room (the limit is then approximate, within a factor set by the spread).
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from paysys.core.currencies import ISO_4217
from paysys.core.domain import PaymentCreated
from paysys.core.partition_keys import shard_of
from paysys.errors import ConfigError

VELOCITY_PREFIX = "#velocity#"
# A minute's counter lives this long past its minute (DynamoDB TTL deletes it later still).
VELOCITY_TTL_SECONDS = 180


class DeclineReason(enum.StrEnum):
    CURRENCY_NOT_ALLOWED = "currency_not_allowed"
    AMOUNT_TOO_LARGE = "amount_too_large"
    MERCHANT_DENIED = "merchant_denied"
    VELOCITY_LIMIT = "velocity_limit"


@dataclass(frozen=True, slots=True)
class Velocity:
    payments_per_minute: int | None = None
    amount_per_minute: Mapping[str, Decimal] = field(default_factory=dict)
    shards: int = 1


@dataclass(frozen=True, slots=True)
class Rules:
    currencies: frozenset[str] | None = None
    max_amount: Mapping[str, Decimal] = field(default_factory=dict)
    deny_merchants: frozenset[str] = frozenset()
    velocity: Velocity = field(default_factory=Velocity)


@dataclass(frozen=True, slots=True)
class VelocityWindow:
    """One conditional take: add 1 (and ``amount`` in ``currency``) to counter item ``key``
    unless that passes ``max_count`` / ``max_amount``; the item expires at ``expires_at``."""

    key: str
    currency: str
    amount: Decimal
    max_count: int | None
    max_amount: Decimal | None
    expires_at: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules say of a payment before the velocity take."""

    reason: DeclineReason | None = None  # None: approve (after the velocity take, if any)
    velocity: VelocityWindow | None = None


def decide(rules: Rules, event: PaymentCreated, now: datetime) -> Verdict:
    """The static rules first (cheapest, no shared state), then the velocity window to take."""
    merchant_id, amount, currency = event.merchant_id, event.amount, event.currency
    if merchant_id in rules.deny_merchants:
        return Verdict(DeclineReason.MERCHANT_DENIED)
    if rules.currencies is not None and currency not in rules.currencies:
        return Verdict(DeclineReason.CURRENCY_NOT_ALLOWED)
    bound = rules.max_amount.get(currency)
    if bound is not None and amount > bound:
        return Verdict(DeclineReason.AMOUNT_TOO_LARGE)
    window = velocity_window(rules.velocity, event, now)
    if window is not None and window.max_amount is not None and amount > window.max_amount:
        return Verdict(DeclineReason.VELOCITY_LIMIT)  # more than a whole minute allows
    return Verdict(velocity=window)


def velocity_window(
    velocity: Velocity, event: PaymentCreated, now: datetime
) -> VelocityWindow | None:
    per_amount = velocity.amount_per_minute.get(event.currency)
    if velocity.payments_per_minute is None and per_amount is None:
        return None
    shards = velocity.shards
    minute = now.strftime("%Y-%m-%dT%H:%M")
    shard = shard_of(event.payment_id, shards)
    count = velocity.payments_per_minute
    return VelocityWindow(
        key=f"{VELOCITY_PREFIX}{event.merchant_id}#{minute}#{shard}",
        currency=event.currency,
        amount=event.amount,
        max_count=None if count is None else math.ceil(count / shards),
        max_amount=None if per_amount is None else (per_amount / shards).quantize(Decimal("0.01")),
        expires_at=int(now.timestamp()) + 60 + VELOCITY_TTL_SECONDS,
    )


def load_rules(setting: str) -> Rules:
    """``PAYSYS_RULES``: empty (no rules), JSON text, or a path to a JSON file; ``ConfigError``
    names every problem."""
    text = setting.strip()
    if not text:
        return Rules()
    if not text.startswith(("{", "[")):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"PAYSYS_RULES: cannot read rules file {setting!r}: {exc}") from None
    try:
        data = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise ConfigError(f"PAYSYS_RULES: not valid JSON: {exc}") from None
    problems: list[str] = []
    rules = _parse(data, problems)
    if problems:
        raise ConfigError("PAYSYS_RULES: " + "; ".join(problems))
    return rules


def _parse(data: Any, problems: list[str]) -> Rules:
    if not isinstance(data, dict):
        problems.append("must be a JSON object")
        return Rules()
    known = {"currencies", "max_amount", "deny_merchants", "velocity"}
    problems += [f"unknown key {key!r}" for key in data if key not in known]
    currencies = None
    if "currencies" in data:
        currencies = frozenset(_currencies(data["currencies"], "currencies", problems))
    deny = data.get("deny_merchants", [])
    if not isinstance(deny, list) or not all(isinstance(m, str) for m in deny):
        problems.append("deny_merchants must be a list of merchant ids")
        deny = []
    raw_velocity = data.get("velocity", {})
    if not isinstance(raw_velocity, dict):
        problems.append("velocity must be an object")
        raw_velocity = {}
    return Rules(
        currencies=currencies,
        max_amount=_amounts(data.get("max_amount", {}), "max_amount", problems),
        deny_merchants=frozenset(deny),
        velocity=_velocity(raw_velocity, problems),
    )


def _velocity(data: dict[str, Any], problems: list[str]) -> Velocity:
    known = {"payments_per_minute", "amount_per_minute", "shards"}
    problems += [f"unknown key velocity.{key!r}" for key in data if key not in known]
    count = data.get("payments_per_minute")
    if count is not None and (type(count) is not int or count < 1):
        problems.append("velocity.payments_per_minute must be an integer >= 1")
        count = None
    shards = data.get("shards", 1)
    if type(shards) is not int or not 1 <= shards <= 64:
        problems.append("velocity.shards must be an integer from 1 to 64")
        shards = 1
    amounts = _amounts(data.get("amount_per_minute", {}), "velocity.amount_per_minute", problems)
    return Velocity(count, amounts, shards)


def _currencies(raw: Any, where: str, problems: list[str]) -> list[str]:
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list of ISO 4217 codes")
        return []
    wrong = [c for c in raw if not isinstance(c, str) or c not in ISO_4217]
    if wrong:
        problems.append(f"{where}: not ISO 4217 codes: {wrong}")
    return [c for c in raw if c not in wrong]


def _amounts(raw: Any, where: str, problems: list[str]) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        problems.append(f"{where} must map currency codes to amounts")
        return {}
    amounts: dict[str, Decimal] = {}
    for currency in _currencies(list(raw), where, problems):
        value = raw[currency]
        try:
            amount = Decimal(value) if isinstance(value, str | int | Decimal) else None
        except InvalidOperation:
            amount = None
        if isinstance(value, bool) or amount is None or not amount.is_finite() or amount <= 0:
            problems.append(f'{where}.{currency} must be a positive amount, e.g. "100.00"')
            continue
        amounts[currency] = amount
    return amounts
