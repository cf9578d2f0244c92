"""/readyz's report: a probe's ``NotReady`` phrase is shown under ``reasons``; any other
error's detail goes to the log only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from paysys.api.readiness import Check, NotReady, Readiness


async def ok() -> None:
    return None


async def not_delivering() -> None:
    raise NotReady("no delivery queue found")


async def leaky() -> None:
    raise RuntimeError("connect to 10.0.0.7:4566 refused, token=abc")


async def test_a_not_ready_reason_is_shown_and_other_errors_are_not() -> None:
    readiness = Readiness(
        [Check("sqs", ok), Check("webhooks", not_delivering), Check("sns", leaky, False)],
        CollectorRegistry(),
    )
    assert await readiness.report() == {
        "status": "unavailable",
        "checks": {"sqs": "ok", "webhooks": "unavailable", "sns": "unavailable"},
        "reasons": {"webhooks": "no delivery queue found"},
    }


async def test_without_a_reason_the_report_keeps_its_shape() -> None:
    readiness = Readiness([Check("sqs", ok), Check("sns", leaky, False)], CollectorRegistry())
    assert await readiness.report() == {
        "status": "degraded",
        "checks": {"sqs": "ok", "sns": "unavailable"},
    }
