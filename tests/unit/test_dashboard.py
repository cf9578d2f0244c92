"""deploy/grafana/paysys.json is what tools/paysys_tools/dashboard.py builds (`make
dashboard`), and it holds the panels the operators asked for (issue 24)."""

from __future__ import annotations

import json
from pathlib import Path

from paysys_tools import dashboard

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "deploy" / "grafana" / "paysys.json"


def test_the_committed_dashboard_is_the_builders_output():
    assert COMMITTED.read_text() == dashboard.render(), "run make dashboard and commit"


def test_every_panel_queries_prometheus_through_the_datasource_variable():
    board = json.loads(COMMITTED.read_text())
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert target["expr"].strip()


def test_the_asked_for_panels_are_there():
    titles = {p["title"] for p in json.loads(COMMITTED.read_text())["panels"]}
    assert {
        "Payments by status per second",
        "API latency",
        "End-to-end age at decision",
        "Queue depth",
        "Oldest waiting payment",
        "Dead-letter queue",
        "In flight against the bound",
        "Retries and failures per second",
        "AWS calls per payment by operation",
        "Event publishes shed or failed per second",
        "API 5xx per second",
    } <= titles
