"""The Grafana dashboard of paysys, built from code with the Grafana Foundation SDK:

    python -m paysys_tools.dashboard > deploy/grafana/paysys.json     (make dashboard)

Every panel queries the roles' own Prometheus metrics (docs/reference/metrics.md) through a
``datasource`` variable, so the dashboard works with whatever Prometheus the Grafana has.
``deploy/grafana/paysys.json`` is this module's output, byte for byte
(tests/unit/test_dashboard.py); tests/integration/test_metrics_scrape.py checks that every
metric a panel queries is on a live scrape of the API and the worker.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
)

UID = "paysys"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "[$__rate_interval]"
# Probes and scrapes answer on purpose (a 503 from /readyz while a backend is down) and are
# no user's request: left out as in the alert rules (deploy/prometheus/alerts.yaml).
USER_ROUTES = 'route!~"/healthz|/readyz|/metrics"'


@dataclass(frozen=True)
class Spec:
    """One time-series panel: its queries as (PromQL, legend) pairs."""

    title: str
    description: str
    unit: str
    queries: Sequence[tuple[str, str]]
    red_above: float | None = None  # a threshold line: red at and above this value
    stacked: bool = False
    width: int = 12


def _rate(metric: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{RATE}))"


def _quantile(q: float, buckets: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({buckets}{RATE})))"


ROWS: tuple[tuple[str, tuple[Spec, ...]], ...] = (
    (
        "Payments",
        (
            Spec(
                "Payments by status per second",
                "Created: accepted by the API (202, replays not counted). Approved, declined: "
                "decided by the workers. Failed: left on the queue for redelivery.",
                "reqps",
                (
                    (_rate("paysys_payments_created_total"), "created"),
                    (_rate("paysys_worker_messages_approved_total"), "approved"),
                    (_rate("paysys_worker_messages_declined_total"), "declined"),
                    (_rate("paysys_worker_messages_failed_total"), "failed"),
                    (_rate("paysys_worker_messages_duplicates_total"), "duplicate delivery"),
                ),
            ),
            Spec(
                "End-to-end age at decision",
                "A payment's age when a worker approved or declined it: created by the API to "
                "decided, queueing and retries included.",
                "s",
                (
                    (_quantile(0.5, "paysys_worker_decision_age_seconds_bucket"), "p50"),
                    (_quantile(0.99, "paysys_worker_decision_age_seconds_bucket"), "p99"),
                ),
            ),
            Spec(
                "API latency",
                "Request latency of every route but the probes and /metrics.",
                "s",
                (
                    (
                        _quantile(
                            0.5, f"paysys_http_request_duration_seconds_bucket{{{USER_ROUTES}}}"
                        ),
                        "p50",
                    ),
                    (
                        _quantile(
                            0.99, f"paysys_http_request_duration_seconds_bucket{{{USER_ROUTES}}}"
                        ),
                        "p99",
                    ),
                ),
                red_above=0.5,  # the PaysysApiLatencyP99 alert
            ),
            Spec(
                "API 5xx per second",
                "Answers 5xx by route, probes and /metrics left out (PaysysApi5xxRate alerts "
                "above 1 % of requests).",
                "reqps",
                (
                    (
                        f'sum by (route) (rate(paysys_http_requests_total{{status=~"5..",'
                        f"{USER_ROUTES}}}{RATE}))",
                        "{{route}}",
                    ),
                ),
            ),
        ),
    ),
    (
        "Queue",
        (
            Spec(
                "Queue depth",
                "The main queue as the workers read it every PAYSYS_METRICS_INTERVAL_SECONDS: "
                "visible (waiting) and in flight (received, not yet deleted).",
                "short",
                (
                    ('max(paysys_queue_messages_visible{queue="main"})', "visible"),
                    ('max(paysys_queue_messages_in_flight{queue="main"})', "in flight"),
                ),
            ),
            Spec(
                "Oldest waiting payment",
                "SQS reports a queue's oldest message age to CloudWatch only "
                "(ApproximateAgeOfOldestMessage), not through GetQueueAttributes, so no role "
                "exports it. Shown instead: the oldest payment still Pending past the "
                "reconcile window, as the reconcilers last found it (0: none). The age of what "
                "the workers do take is the age at decision.",
                "s",
                (("max(paysys_oldest_pending_age_seconds)", "oldest overdue Pending"),),
                red_above=300,  # the PaysysPaymentsPendingTooLong alert
            ),
            Spec(
                "Dead-letter queue",
                "Messages that failed PAYSYS_MAX_RECEIVE_COUNT times: payments no worker could "
                "decide (PaysysDLQNotEmpty).",
                "short",
                (
                    ('max(paysys_queue_messages_visible{queue="dlq"})', "visible"),
                    ('max(paysys_queue_messages_in_flight{queue="dlq"})', "in flight"),
                ),
                red_above=1,
            ),
            Spec(
                "In flight against the bound",
                "Messages being processed by all workers, against the sum of their bounds "
                "(PAYSYS_WORKER_MAX_IN_FLIGHT each); at the bound, receiving waits.",
                "short",
                (
                    ("sum(paysys_worker_in_flight)", "in flight"),
                    ("sum(paysys_worker_max_in_flight)", "bound"),
                ),
            ),
        ),
    ),
    (
        "Failures and cost",
        (
            Spec(
                "Retries and failures per second",
                "Decisions retried in the worker after a backend failure, messages left for "
                "redelivery or malformed, deletes that failed, events the reconciler "
                "republished.",
                "ops",
                (
                    (_rate("paysys_worker_messages_retried_total"), "retried"),
                    (_rate("paysys_worker_messages_failed_total"), "failed"),
                    (_rate("paysys_worker_messages_malformed_total"), "malformed"),
                    (_rate("paysys_worker_messages_delete_failed_total"), "delete failed"),
                    (_rate("paysys_reconciler_republished_total"), "republished"),
                ),
            ),
            Spec(
                "Event publishes shed or failed per second",
                "Events the API did not publish (its backlog full: shed; SNS failed: failed); "
                "the payment is stored and the reconciler republishes it.",
                "ops",
                (
                    (_rate("paysys_events_shed_total"), "shed"),
                    (_rate("paysys_events_publish_failed_total"), "failed"),
                ),
            ),
            Spec(
                "AWS calls per payment by operation",
                "Calls both roles made, by service:Operation, over payments created in the "
                "same interval (background work included: idle long polls, the reconciler).",
                "short",
                (
                    (
                        f"{_rate('paysys_aws_calls_total', 'operation')} / ignoring (operation) "
                        f"group_left {_rate('paysys_payments_created_total')}",
                        "{{operation}}",
                    ),
                ),
                stacked=True,
                width=24,
            ),
        ),
    ),
    (
        "Webhooks",
        (
            Spec(
                "Webhook deliveries per second by result",
                "Delivery queue messages handled by the workers: delivered (2xx), retry (attempt "
                "failed), failed (retry window over), deferred (endpoint busy or its breaker "
                "open), no_endpoint, ... (PaysysWebhookAttemptsFailing).",
                "ops",
                ((_rate("paysys_webhook_deliveries_total", "result"), "{{result}}"),),
                width=8,
            ),
            Spec(
                "Webhook attempt latency",
                "One signed POST to a merchant's endpoint, until its answer or its failure.",
                "s",
                (
                    (_quantile(0.5, "paysys_webhook_attempt_duration_seconds_bucket"), "p50"),
                    (_quantile(0.99, "paysys_webhook_attempt_duration_seconds_bucket"), "p99"),
                ),
                width=8,
            ),
            Spec(
                "Oldest undelivered webhook",
                "Age since its event of the oldest delivery a worker put off for a later "
                "attempt, max across workers (0: none).",
                "s",
                (("max(paysys_webhook_oldest_undelivered_age_seconds)", "oldest"),),
                red_above=21600,  # the PaysysWebhookUndeliveredOld alert
                width=8,
            ),
        ),
    ),
)


def _panel(spec: Spec) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(spec.title)
        .description(spec.description)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .min(0)
        .height(8)
        .span(spec.width)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    if spec.stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    if spec.red_above is not None:
        steps = [Threshold(value=None, color="green"), Threshold(value=spec.red_above, color="red")]
        panel = panel.thresholds(
            dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)
        ).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
    for index, (expr, legend) in enumerate(spec.queries):
        panel = panel.with_target(
            prometheus.Dataquery()
            .expr(expr)
            .legend_format(legend)
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
        )
    return panel


def build() -> dash.Dashboard:
    board = (
        dash.Dashboard("paysys")
        .uid(UID)
        .description(
            "paysys's API and workers: payments, latency, the queue, failures and AWS calls "
            "(built by tools/paysys_tools/dashboard.py)."
        )
        .tags(["paysys"])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
        .with_variable(dash.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    ids = itertools.count(1)  # unique panel ids: Grafana keys panel links and state on them
    for title, specs in ROWS:
        board = board.with_row(dash.Row(title).id(next(ids)))
        for spec in specs:
            board = board.with_panel(_panel(spec).id(next(ids)))
    return board


def render() -> str:
    """The dashboard's JSON, as committed in deploy/grafana/paysys.json."""
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
