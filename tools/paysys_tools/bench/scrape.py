"""What the roles count about themselves, read from their Prometheus ``/metrics`` at the two
ends of a measured window: AWS calls by operation, batch entries, and the receives of each
queue (the payment queue's from the worker's own counters; the webhook delivery queue's
messages from the deliveries it handled)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from paysys_tools.bench.procs import Role, cpu_seconds, emulator_pids

CALLS = "paysys_aws_calls_total"
ENTRIES = "paysys_aws_call_entries_total"
RECEIVED = "paysys_worker_messages_received_total"  # the payment queue's only
# The payment queue's receives (the latency histogram observes each one) and the non-empty
# ones among them (the batch size histogram observes only those).
RECEIVES = "paysys_worker_receive_duration_seconds_count"
NON_EMPTY = "paysys_worker_batch_size_count"
# Webhook delivery queue messages handled, by result: one per message received.
WEBHOOK_HANDLED = "paysys_webhook_deliveries_total"


@dataclass(frozen=True, slots=True)
class Scrape:
    """The counters of one process: ``(name, label value) -> value`` (label value "" when the
    sample has no label; only the first label counts, enough for the counters read here)."""

    values: Mapping[tuple[str, str], float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        values: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                label = next(iter(sample.labels.values()), "")
                values[sample.name, label] = sample.value
        return cls(values)

    def by_label(self, name: str) -> dict[str, float]:
        return {label: v for (n, label), v in self.values.items() if n == name and label}

    def total(self, name: str) -> float:
        return sum(v for (n, _), v in self.values.items() if n == name)

    def __sub__(self, before: Scrape) -> Scrape:
        return Scrape({k: v - before.values.get(k, 0.0) for k, v in self.values.items()})


async def scrape(http: aiohttp.ClientSession, role: Role) -> Scrape:
    async with http.get(f"{role.base_url}/metrics") as response:
        response.raise_for_status()
        return Scrape.parse(await response.text())


@dataclass(frozen=True, slots=True)
class Snapshot:
    """CPU seconds and counters of the API, the workers and the emulators at one moment."""

    api: Scrape
    workers: Scrape  # summed over the worker processes
    cpu: Mapping[int, float]  # pid -> CPU seconds (roles and emulators)

    @classmethod
    async def take(
        cls, http: aiohttp.ClientSession, api: Role, workers: Sequence[Role]
    ) -> Snapshot:
        api_scrape = await scrape(http, api)
        summed: Counter[tuple[str, str]] = Counter()
        for worker in workers:
            summed.update((await scrape(http, worker)).values)
        pids = [api.pid, *(w.pid for w in workers), *emulator_pids()]
        return cls(api_scrape, Scrape(dict(summed)), {p: cpu_seconds(p) for p in pids})

    def cpu_since(self, before: Snapshot, pids: Sequence[int]) -> float:
        return sum(self.cpu.get(p, 0.0) - before.cpu.get(p, 0.0) for p in pids)
