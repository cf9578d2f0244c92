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
to take (planned by ``paysys.core.velocity``: a few all-or-nothing tries, each a
TransactWriteItems on ``#velocity#<merchant>#<minute>#<shard>`` items, see ``VelocityStore``);
the payment is declined ``velocity_limit`` when every try is refused, or at once when its
amount is more than a whole minute allows.

A payment is taken once, whatever the retries: its window is the clock minute of its
``created_at`` (fixed, not sliding: at most twice the limit can pass across a minute boundary),
and each try's request token is derived from the payment and the try, so a retry meets its
own earlier success. The one exception: a retry more than 10 minutes after the take (DynamoDB
forgets a token then) takes again; its window, long past, is then counted twice.

What ``shards`` = S > 1 still allows. The limits are split exactly over the S items, so a
merchant's minute never approves more than ``payments_per_minute`` payments, nor more than
``amount_per_minute`` in a currency. A payment tries its own shard first; when its amount is
more than one shard's share the try spans as many shards as it needs (the amount split over
them in one transaction, the payment counted once); when that is refused it tries from the
next shards of its order, at most ``MAX_TAKE_TRIES`` (4) tries in all. So a payment can be
declined while the minute as a whole has room only when (a) S > 4 and the shards it tried
were full while others were not, or (b) with an amount limit, the room is spread so that no
span it tried holds its amount split in proportion to the shares (each item of a span must
have room for its part), e.g. two half-full shards and a payment of one whole share. A
merchant's first payment in a minute is never declined unless its amount is more than the
whole minute allows. With S <= 4 and a count limit only, the minute is exact.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from paysys.core.currencies import ISO_4217
from paysys.core.domain import PaymentCreated
from paysys.core.limits import VELOCITY_CURRENCIES_MAX
from paysys.core.velocity import Velocity, VelocityWindow, velocity_window
from paysys.errors import ConfigError

__all__ = [
    "DeclineReason",
    "Rules",
    "Velocity",
    "VelocityWindow",
    "Verdict",
    "decide",
    "load_rules",
]


class DeclineReason(enum.StrEnum):
    CURRENCY_NOT_ALLOWED = "currency_not_allowed"
    AMOUNT_TOO_LARGE = "amount_too_large"
    MERCHANT_DENIED = "merchant_denied"
    VELOCITY_LIMIT = "velocity_limit"


@dataclass(frozen=True, slots=True)
class Rules:
    currencies: frozenset[str] | None = None
    max_amount: Mapping[str, Decimal] = field(default_factory=dict)
    deny_merchants: frozenset[str] = frozenset()
    velocity: Velocity = field(default_factory=Velocity)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules say of a payment before the velocity take."""

    reason: DeclineReason | None = None  # None: approve (after the velocity take, if any)
    velocity: VelocityWindow | None = None


def decide(rules: Rules, event: PaymentCreated) -> Verdict:
    """The static rules first (cheapest, no shared state), then the velocity window to take
    (no rule reads the clock: a payment's window is the minute it was created)."""
    merchant_id, amount, currency = event.merchant_id, event.amount, event.currency
    if merchant_id in rules.deny_merchants:
        return Verdict(DeclineReason.MERCHANT_DENIED)
    if rules.currencies is not None and currency not in rules.currencies:
        return Verdict(DeclineReason.CURRENCY_NOT_ALLOWED)
    bound = rules.max_amount.get(currency)
    if bound is not None and amount > bound:
        return Verdict(DeclineReason.AMOUNT_TOO_LARGE)
    whole = rules.velocity.amount_per_minute.get(currency)
    if whole is not None and amount > whole:
        return Verdict(DeclineReason.VELOCITY_LIMIT)  # more than a whole minute allows
    return Verdict(velocity=velocity_window(rules.velocity, event))


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
    if len(amounts) > VELOCITY_CURRENCIES_MAX:  # each is an attribute of a counter item
        problems.append(
            f"velocity.amount_per_minute has {len(amounts)} currencies: at most "
            f"{VELOCITY_CURRENCIES_MAX}"
        )
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
