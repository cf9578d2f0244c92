"""The metric names a Grafana panel's PromQL reads, parsed from deploy/grafana/paysys.json
(tests/integration/test_metrics_scrape.py checks each against a live scrape)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "paysys.json"

# PromQL's words that are no metric: the aggregations, functions, modifiers and keywords the
# dashboard may use. An identifier outside these, a label matcher and a grouping is a metric.
_WORDS = (
    "sum min max avg count stddev stdvar topk bottomk quantile count_values group "
    "rate irate increase delta idelta deriv histogram_quantile scalar vector abs ceil floor "
    "round clamp clamp_min clamp_max time timestamp label_replace label_join absent "
    "absent_over_time avg_over_time max_over_time min_over_time sum_over_time "
    "count_over_time last_over_time predict_linear and or unless bool offset "
    "group_left group_right inf nan"
)
PROMQL_WORDS = frozenset(_WORDS.split())
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)")
_NAMES = re.compile(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b")
_NUMBERS = re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b")


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def promql_metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects: strings, label matchers, ranges and groupings
    removed, what is left that is no PromQL word is a metric name."""
    text = _STRINGS.sub(" ", expr)
    for pattern in (_MATCHERS, _RANGES, _GROUPINGS, _NUMBERS):
        text = pattern.sub(" ", text)
    return {name for name in _NAMES.findall(text) if name not in PROMQL_WORDS}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.99, sum by (le) (rate(a_bucket{route!~"/x|y"}[5m])))',
            {"a_bucket"},
        ),
        (
            "sum by (op) (rate(a_total[$__rate_interval])) / ignoring (op) group_left sum(b)",
            {"a_total", "b"},
        ),
        ('max(q{queue="dlq"}) > 0 or vector(0)', {"q"}),
    ],
)
def test_the_parse_finds_the_metric_names(expr, names):
    assert promql_metric_names(expr) == names


def test_every_dashboard_query_reads_paysys_metrics_only():
    exprs = dashboard_exprs()
    assert exprs
    for expr in exprs:
        names = promql_metric_names(expr)
        assert names, expr
        assert all(name.startswith("paysys_") for name in names), (expr, names)
