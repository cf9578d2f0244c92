"""``paysys capacity``: a payment's cost from the code's own items, the issue's budget (at most
5 write units and 0.2 counter units per payment at 10,000/s over 10,000 merchants), and the
cost tables of README.md and docs/design/costs.md printed from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paysys.adapters.dynamodb_size import ITEM_LIMIT_BYTES, item_size
from paysys.cli import main
from paysys.config import Settings
from paysys.ops.capacity.counters import counter_cost, counter_wru_per_payment, distinct
from paysys.ops.capacity.report import cost, cost_markdown, layout_of
from paysys.ops.capacity.units import created_item, decided_item, index_writes, sample_payment

ROOT = Path(__file__).resolve().parents[2]


def test_the_common_case_costs_five_write_units_and_counters_a_fifth() -> None:
    figures = cost(Settings(), 10_000, merchants=10_000, processes=150)
    assert figures.wru_per_payment == 5  # create 3 (table, pending, listing), decide 2
    assert [s["wru"] for s in figures.steps] == [3, 2, 0]  # webhooks: endpoint reads only
    assert figures.counter_wru_per_payment <= 0.2
    # A merchant's endpoint index (eventually consistent) and the rollup's journal reads.
    assert 0.5 < figures.rru_per_payment < 0.5 + 0.2
    assert figures.stats_lag_seconds <= 10


def test_keys_and_velocity_add_their_own_requests() -> None:
    plain = cost(Settings(), 1_000)
    keyed = cost(Settings(), 1_000, key_share=0.5)
    velocity = cost(Settings(), 1_000, velocity=True)
    assert keyed.wru_per_payment == plain.wru_per_payment + 0.5 * 2
    assert velocity.wru_per_payment == plain.wru_per_payment + 2  # one transactional item
    assert velocity.rru_per_payment == pytest.approx(plain.rru_per_payment + 1)  # the read
    assert keyed.usd_per_million > plain.usd_per_million


def test_dollars_follow_the_units_at_the_dated_list_prices() -> None:
    figures = cost(Settings(), 10_000)
    wru = figures.wru_per_payment + figures.counter_wru_per_payment
    sqs = 1 + 2 / Settings().worker_batch_size  # SNS's delivery, receive, delete
    # No merchant has an endpoint: the webhook queue's filter lets no outcome in.
    expected = wru * 0.625 + figures.rru_per_payment * 0.125 + 0.2 * 0.50 + sqs * 0.40
    assert figures.usd_per_million == pytest.approx(expected, abs=0.001)
    assert figures.prices["as_of"]
    hooked = cost(Settings(), 10_000, webhook_share=0.5)
    webhook_sqs = 0.5 * (1 + 1 / 10 + 1 / 10)  # SNS's delivery, receive, delete (in tens)
    hooked_wru = hooked.wru_per_payment + hooked.counter_wru_per_payment
    expected = (
        hooked_wru * 0.625 + hooked.rru_per_payment * 0.125 + 0.2 * 0.5 + (sqs + webhook_sqs) * 0.4
    )
    assert hooked.usd_per_million == pytest.approx(expected, abs=0.001)


def test_a_delivery_writes_one_history_unit_and_endpoint_reads_are_cached() -> None:
    plain = cost(Settings(), 10_000)
    hooked = cost(Settings(), 10_000, webhook_share=0.5)
    assert plain.wru_per_payment == 5
    assert hooked.wru_per_payment == 5 + 0.5  # one attempt's history item, under 1 KB
    assert hooked.usd_per_million > plain.usd_per_million
    # A merchant with an endpoint (one, as modelled): routing reads that slot too, and the
    # delivery loop (another process, at worst) reads index and slot again.
    again = 0.5 * (0.5 + 0.5 + 0.5)
    assert hooked.rru_per_payment == pytest.approx(plain.rru_per_payment + again, abs=1e-3)
    few = cost(Settings(), 10_000, merchants=10, processes=10)  # 10 s cache, few merchants
    rollup_reads = counter_cost(10_000, 10, 10).reads / 10_000
    assert few.rru_per_payment - rollup_reads == pytest.approx(0.5 * 10 * 10 / 100_000, abs=1e-4)


def test_index_writes_follow_dynamodbs_rules() -> None:
    layout = layout_of(Settings())
    created = created_item(sample_payment(), layout)
    decided = decided_item(sample_payment(), layout)
    assert index_writes(None, created) == 2  # enters pending-due and merchant-created
    assert index_writes(created, decided) == 1  # leaves pending-due; the listing keys stay
    moved_key = dict(decided, list_sk="other")
    assert index_writes(decided, moved_key) == 2  # a key value changed: delete and put
    assert index_writes(decided, dict(decided, note="x")) == 0
    assert max(item_size(created), item_size(decided)) <= ITEM_LIMIT_BYTES


def test_counters_cost_the_merchants_of_a_round_not_the_processes() -> None:
    many = counter_wru_per_payment(10_000, 10_000, 150)
    assert many <= 0.2
    assert counter_wru_per_payment(10_000, 100, 150) < many  # fewer merchants a round
    assert counter_wru_per_payment(10_000, 10_000, 300) < 0.3  # twice the processes
    assert distinct(10, 1_000_000) == pytest.approx(10, rel=0.01)
    assert distinct(1_000_000, 10) == pytest.approx(10)


def test_json_prints_the_issues_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--rate", "10000", "--merchants", "10000", "--json"], {}) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("wru_per_payment", "rru_per_payment", "counter_wru_per_payment",
                "calls_per_payment", "usd_per_million"):  # fmt: skip
        assert isinstance(figures[key], int | float), key
    assert figures["wru_per_payment"] <= 5
    assert figures["counter_wru_per_payment"] <= 0.2


@pytest.mark.parametrize("page", ["README.md", "docs/design/costs.md"])
def test_the_cost_tables_are_what_capacity_prints(page: str) -> None:
    text = (ROOT / page).read_text()
    table = cost_markdown(Settings())
    header = table.splitlines()[0]
    assert header in text, f"{page}: add the table `cost_markdown()` prints"
    start = text.index(header)
    end = text.index("\n\n", start)
    assert text[start : end + 1] == table
