# ruff: noqa - a throwaway measurement script, kept beside its output
"""Alternated in-process micro A/B of each cut's code path (CPU time per call, 5 rounds)."""

import io, statistics, sys, time
import structlog
from aiodynamo.expressions import F, Parameters
from paysys.observability import tracing
from paysys.observability.logging import configure_logging
from paysys.adapters.dynamodb_prepared import decision_update
from paysys.core.domain import PaymentStatus

N = 20000


def per_call(fn):
    t = time.process_time()
    for _ in range(N):
        fn()
    return (time.process_time() - t) / N * 1e6


headers = {"content-type": "application/json"}


def span_old():
    with tracing._server_span("POST", "/payments", headers):
        pass


def span_new():
    with tracing.server_span("POST", "/payments", headers):
        pass


def client_old():
    with tracing._client_span("DynamoDB", "PutItem", None, (), ()):
        pass


def client_new():
    with tracing.client_span("DynamoDB", "PutItem"):
        pass


def upd_old():  # the code before the cut, verbatim
    stamp = "2026-12-05T00:00:00Z"
    u = (
        F("status").set(PaymentStatus.APPROVED.value)
        & F("updated_at").set(stamp)
        & F("pending_shard").remove()
        & F("due_at").remove()
    )
    u = u & F("approved_at").set(stamp)
    u = u & F("decided_by").set("tok")
    p = Parameters()
    u.encode(p)
    F("status").equals("Pending").encode(p)
    p.to_request_payload()


def upd_new():
    p = Parameters()
    decision_update(
        PaymentStatus.APPROVED, "2026-12-05T00:00:00Z", None, "tok", token_attribute="decided_by"
    ).encode(p)
    F("status").equals("Pending").encode(p)
    p.to_request_payload()


configure_logging("json", "INFO", stream=io.StringIO())
log = structlog.get_logger("m")


def log_info():
    log.info("http.request", method="POST", route="/payments", status=202, duration_ms=1.23)


def log_debug():
    log.debug("http.request", method="POST", route="/payments", status=202, duration_ms=1.23)


with structlog.contextvars.bound_contextvars(correlation_id="x" * 36):
    for name, a, b in (
        ("server span", span_old, span_new),
        ("client span", client_old, client_new),
        ("decision update", upd_old, upd_new),
        ("access log line", log_info, log_debug),
    ):
        olds, news = [], []
        for _ in range(5):
            olds.append(per_call(a))
            news.append(per_call(b))
        print(
            f"{name:<16} before {statistics.median(olds):7.2f} us  after {statistics.median(news):7.2f} us  rounds {[round(x, 1) for x in olds]} / {[round(x, 1) for x in news]}"
        )
