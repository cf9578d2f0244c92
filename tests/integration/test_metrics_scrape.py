"""Every metric an alert rule or the alerts' README names is one a live scrape shows."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from paysys.config import Settings
from paysys.runtime.resources import Resources
from paysys.runtime.roles import build_reconciler, build_worker, worker_health_app

from ..conftest import serving
from ..system.test_alert_metrics import readme_names, rule_names


def sample_names(text: str) -> set[str]:
    families = list(text_string_to_metric_families(text))
    return {f.name for f in families} | {s.name for f in families for s in f.samples}


async def test_alerts_read_metrics_a_live_scrape_shows(
    api: TestClient[Any, Any], settings: Settings, resources: Resources
) -> None:
    await api.post("/payments", json={"amount": "1.00", "currency": "BRL"})
    await resources.events.flush()  # on the queue before the burst run below looks
    await api.get("/payments/00000000-0000-4000-8000-000000000000")  # a 404 for the 5xx ratio
    names = sample_names(await (await api.get("/metrics")).text())

    worker, metrics = build_worker(settings, resources)
    metrics.watch_reconciler(build_reconciler(settings, resources))
    for queue, port in (("main", resources.queue), ("dlq", resources.dlq)):
        metrics.queue_depth(queue, *await port.depth())
    await worker.run(burst=True)
    async with serving(worker_health_app(settings, worker, resources, metrics)) as health:
        names |= sample_names(await (await health.get("/metrics")).text())

    wanted = rule_names() | readme_names()
    assert wanted, "no metric named in deploy/prometheus"
    assert sorted(wanted - names) == []
