"""Every metric an alert rule, the alerts' README or a Grafana panel names is one a live
scrape of the API and the worker shows (a histogram's _bucket, _sum and _count are samples of
the scrape, so they are matched as they are queried)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from paysys.config import Settings
from paysys.runtime.resources import Resources
from paysys.runtime.roles import build_reconciler, build_worker, worker_health_app

from ..conftest import serving
from ..system.test_alert_metrics import readme_names, rule_names
from ..unit.test_dashboard_queries import dashboard_exprs, promql_metric_names


def sample_names(text: str) -> set[str]:
    families = list(text_string_to_metric_families(text))
    return {f.name for f in families} | {s.name for f in families for s in f.samples}


@pytest.fixture
async def scraped(api: TestClient[Any, Any], settings: Settings, resources: Resources) -> set[str]:
    """Every metric and sample name on the API's and the worker's /metrics, once both have
    done some work: a payment created and decided, a 404, the queues' depths read."""
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
    return names


async def test_alerts_read_metrics_a_live_scrape_shows(scraped: set[str]) -> None:
    wanted = rule_names() | readme_names()
    assert wanted, "no metric named in deploy/prometheus"
    assert sorted(wanted - scraped) == []


async def test_the_dashboard_queries_metrics_a_live_scrape_shows(scraped: set[str]) -> None:
    queried = {name for expr in dashboard_exprs() for name in promql_metric_names(expr)}
    assert "paysys_worker_decision_age_seconds_bucket" in queried  # the parse finds them
    assert sorted(queried - scraped) == []
