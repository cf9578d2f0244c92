"""``paysys capacity``: what a payment costs (DynamoDB units by step, counters, AWS requests,
dollars per million at the list prices of ``prices``) and the hottest key of each index."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from paysys.adapters.dynamodb_items import Layout
from paysys.config import Settings
from paysys.ops.capacity import prices
from paysys.ops.capacity.counters import counter_cost
from paysys.ops.capacity.keys import WRITE_LIMIT, rows
from paysys.ops.capacity.units import NO_REQUEST, Step, steps

SNS_BATCH = 10  # PublishBatch entries
SQS_BATCH = 10  # ReceiveMessage's most


@dataclass(frozen=True, slots=True)
class Cost:
    """One payment's cost at a rate; what ``--json`` prints."""

    rate: float
    merchants: int
    processes: int
    key_share: float
    velocity: bool
    webhook_share: float
    wru_per_payment: float  # table and index writes, counters apart
    rru_per_payment: float
    counter_wru_per_payment: float
    calls_per_payment: float  # AWS requests paysys's processes make
    usd_per_million: float
    stats_lag_seconds: float
    steps: list[dict[str, Any]] = field(default_factory=list)
    requests_per_payment: dict[str, float] = field(default_factory=dict)
    hottest_per_second: dict[str, float] = field(default_factory=dict)
    prices: dict[str, Any] = field(default_factory=dict)


def endpoint_reads(settings: Settings, rate: float, merchants: int, processes: int) -> float:
    """Webhook endpoint reads per payment: each process reads a merchant's endpoints at most
    once per ``PAYSYS_WEBHOOK_ENDPOINT_CACHE_SECONDS`` (every process may see every merchant:
    an upper bound), and never more than once per payment."""
    cache = settings.webhook_endpoint_cache_seconds
    if cache <= 0:
        return 1.0
    return min(1.0, merchants * processes / (rate * cache))


def layout_of(settings: Settings) -> Layout:
    return Layout(settings.pending_shards, settings.list_shards, settings.counter_shards)


def cost(
    settings: Settings,
    rate: float,
    *,
    merchants: int = 10_000,
    processes: int = 150,
    key_share: float = 0.0,
    velocity: bool = False,
    webhook_share: float = 0.0,
) -> Cost:
    made = steps(
        layout_of(settings),
        key_share=key_share,
        velocity=velocity,
        endpoint_reads=endpoint_reads(settings, rate, merchants, processes),
        webhook_share=webhook_share,
    )
    wru = sum(s.wru * s.share for s in made)
    rru = sum(s.rru * s.share for s in made)
    counted = counter_cost(
        rate, merchants, processes, shards=settings.counter_shards,
        flush_seconds=settings.counter_flush_seconds,
        rollup_seconds=settings.counter_rollup_seconds,
    )  # fmt: skip
    counters = counted.total / rate
    rru += counted.reads / rate
    batch = settings.worker_batch_size
    requests = {
        "dynamodb": sum(s.share for s in made if s.operation != NO_REQUEST),
        "sns_publish_batch": 2 / SNS_BATCH,  # PaymentCreated and its outcome
        "sqs_receive": 1 / batch,
        "sqs_delete_batch": 1 / batch,
        # only outcomes an endpoint wants reach the webhook queue (the subscription filters
        # the rest out): received in tens and deleted in tens, at best
        "sqs_webhook_receive": webhook_share / SQS_BATCH,
        "sqs_webhook_delete": webhook_share / SQS_BATCH,
    }
    sqs_billed = (
        requests["sqs_receive"] + requests["sqs_delete_batch"] + 1  # + SNS's delivery
    ) + (requests["sqs_webhook_receive"] + requests["sqs_webhook_delete"] + webhook_share)
    usd = (
        (wru + counters) * prices.USD_PER_MILLION_WRU
        + rru * prices.USD_PER_MILLION_RRU
        + requests["sns_publish_batch"] * prices.USD_PER_MILLION_SNS_REQUESTS
        + sqs_billed * prices.USD_PER_MILLION_SQS_REQUESTS
    )
    return Cost(
        rate=rate,
        merchants=merchants,
        processes=processes,
        key_share=key_share,
        velocity=velocity,
        webhook_share=webhook_share,
        wru_per_payment=wru,
        rru_per_payment=round(rru, 4),
        counter_wru_per_payment=round(counters, 4),
        calls_per_payment=round(sum(requests.values()), 4),
        usd_per_million=round(usd, 3),
        stats_lag_seconds=settings.counter_flush_seconds + settings.counter_rollup_seconds,
        steps=[asdict(s) for s in made],
        requests_per_payment=requests,
        hottest_per_second={r.what: round(r.hottest_per_second(rate), 1) for r in rows(settings)},
        prices={
            "as_of": prices.PRICES_AS_OF,
            "region": prices.REGION,
            "usd_per_million_wru": prices.USD_PER_MILLION_WRU,
            "usd_per_million_rru": prices.USD_PER_MILLION_RRU,
            "usd_per_million_sns_requests": prices.USD_PER_MILLION_SNS_REQUESTS,
            "usd_per_million_sqs_requests": prices.USD_PER_MILLION_SQS_REQUESTS,
        },
    )


def render_json(c: Cost) -> str:
    return json.dumps(asdict(c), indent=2) + "\n"


def render(c: Cost) -> str:
    month = c.usd_per_million * c.rate * prices.SECONDS_PER_MONTH / 1e6
    lines = [
        f"paysys capacity at {c.rate:,.0f} payments/s, {c.merchants:,} merchants, "
        f"{c.processes} processes (key share {c.key_share:g}, velocity {c.velocity})",
        "",
        f"{'DynamoDB request per payment':52} {'operation':18} {'WRU':>5} {'RRU':>5} {'share':>6}",
    ]
    lines.extend(
        f"{s.name:52} {s.operation:18} {s.wru:>5g} {s.rru:>5g} {s.share:>6g}"
        for s in (Step(**row) for row in c.steps)
    )
    lines += [
        "",
        f"write units per payment:   {c.wru_per_payment:g} (table and indexes)",
        f"counter units per payment: {c.counter_wru_per_payment:g} "
        f"(/stats at most ~{c.stats_lag_seconds:g} s behind)",
        f"read units per payment:    {c.rru_per_payment:g}",
        f"AWS requests per payment:  {c.calls_per_payment:g} "
        + ", ".join(f"{k} {v:g}" for k, v in c.requests_per_payment.items()),
        f"USD per million payments:  {c.usd_per_million:,.2f}  (about USD {month:,.0f} a month at "
        f"this rate; list prices {prices.REGION}, {prices.PRICES_AS_OF})",
        "",
        f"{'hottest partition key value':40} {'writes/s':>10} {'limit':>6}  ok",
    ]
    for what, hot in c.hottest_per_second.items():
        ok = "yes" if hot <= WRITE_LIMIT else "NO"
        lines.append(f"{what:40} {hot:>10,.1f} {WRITE_LIMIT:>6}  {ok}")
    return "\n".join(lines) + "\n"


def cost_markdown(settings: Settings) -> str:
    """The cost table in README.md and docs/design/costs.md (a test compares)."""
    lines = [
        "| Payments/s | Merchants | WRU/payment | Counter WRU/payment | RRU/payment "
        "| AWS requests/payment (full batches) | USD per million | USD per month |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rate, merchants in ((100, 100), (1_000, 1_000), (10_000, 10_000)):
        c = cost(settings, rate, merchants=merchants, processes=max(4, int(rate / 67)))
        month = c.usd_per_million * rate * prices.SECONDS_PER_MONTH / 1e6
        lines.append(
            f"| {rate:,} | {merchants:,} | {c.wru_per_payment:g} | {c.counter_wru_per_payment:.2f}"
            f" | {c.rru_per_payment:.2f} | {c.calls_per_payment:g} | {c.usd_per_million:.2f}"
            f" | {month:,.0f} |"
        )
    return "\n".join(lines) + "\n"
