"""The campaign's webhook properties on hand-made histories: a clean one is clean, and each
violation is found (tools/paysys_tools/chaos/webhook_check.py, run by the checker)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from paysys.core.webhook_signing import sign
from paysys_tools.chaos.checker import check
from paysys_tools.chaos.history import Delivery, Endpoint, History
from paysys_tools.chaos.webhook_check import accepted, expected_deliveries

from .test_chaos_checker import TYPES, clean, pid

AT = 1_900_000_000.0  # the receiver's clock when the deliveries came
SECRET = "whsec_m0"
ALL = frozenset(TYPES.values())


def event(n: int, status: str = "Approved", merchant: str = "m0", **overrides: Any) -> bytes:
    body = {
        "type": TYPES[status],
        "version": 1,
        "payment_id": pid(n),
        "merchant_id": merchant,
        "status": status,
        "decline_reason": None,
        **overrides,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def delivery(
    body: bytes, *, path: str = "/hook/m0/1", secret: str = SECRET, answered: int = 200
) -> Delivery:
    data = json.loads(body)
    eid = f"{data['payment_id']}.{data['type']}"
    return Delivery(path, sign(secret, body, int(AT) - 1), eid, body, answered, AT)


def with_webhooks() -> History:
    """The clean history (m0: one Approved, one Canceled; mx: one Declined) with an endpoint
    for m0 (every type), one for mx that wants only approvals; m0's outcomes delivered, the
    first after a 503 (the receiver down), the second twice (at least once is the promise)."""
    history = clean()
    history.endpoints = [
        Endpoint("m0", "we_0", "/hook/m0/1", SECRET, ALL),
        Endpoint("mx", "we_1", "/hook/mx/2", "whsec_mx", frozenset({"PaymentApproved"})),
    ]
    approved, canceled = event(1), event(3, "Canceled")
    history.deliveries = [
        delivery(approved, answered=503),
        delivery(approved),
        delivery(canceled),
        delivery(canceled),
    ]
    return history


def properties(history: History) -> list[str]:
    return sorted(v.property for v in check(history))


def test_every_final_payment_delivered_validly_is_clean() -> None:
    history = with_webhooks()
    assert check(history) == []
    wanted = expected_deliveries(history.endpoints, history.payments)
    assert wanted == {("/hook/m0/1", f"{pid(1)}.PaymentApproved"), *accepted(history.deliveries)}
    assert len(wanted) == 2  # mx's Declined is not a type its endpoint wants


def test_a_final_payment_never_accepted_is_undelivered() -> None:
    history = with_webhooks()
    history.deliveries = history.deliveries[:1] + history.deliveries[2:]  # only the 503
    history.delivered_in_time = False
    violations = check(history)
    assert [v.property for v in violations] == ["webhook_delivered"]
    assert violations[0].payment_id == pid(1)
    assert violations[0].key == f"{pid(1)}.PaymentApproved"
    assert "answered [503]" in violations[0].detail
    assert "ran out" in violations[0].detail


def test_an_endpoint_is_owed_exactly_the_types_it_wants() -> None:
    history = with_webhooks()
    mx = history.endpoints[1]
    history.endpoints[1] = dataclasses.replace(mx, event_types=frozenset({"PaymentDeclined"}))
    violations = check(history)
    assert [v.property for v in violations] == ["webhook_delivered"]
    assert (violations[0].payment_id, violations[0].merchant) == (pid(2), "mx")


def test_a_bad_signature_an_old_one_or_none() -> None:
    history = with_webhooks()
    body = event(1)
    history.deliveries += [
        delivery(body, secret="whsec_other"),
        dataclasses.replace(delivery(body), signature=sign(SECRET, body, int(AT) - 3600)),
        dataclasses.replace(delivery(body), signature=""),
        dataclasses.replace(delivery(body), body=body.replace(b"m0", b"m1")),  # changed body
    ]
    assert properties(history) == ["webhook_signature"] * 4


def test_signed_but_only_badly_signed_is_not_delivered() -> None:
    history = with_webhooks()
    history.deliveries = [delivery(event(1), secret="whsec_other"), *history.deliveries[2:]]
    assert properties(history) == ["webhook_delivered", "webhook_signature"]


def test_events_that_contradict_the_final_state_or_the_endpoint() -> None:
    history = with_webhooks()
    history.deliveries += [
        delivery(event(1, "Declined", decline_reason="merchant_denied")),  # it was Approved
        delivery(event(1, status="Canceled", type="PaymentApproved")),  # status disagrees
        delivery(event(2, "Declined", merchant="mx", decline_reason="merchant_denied")),  # m0's
        delivery(event(9)),  # not stored
        dataclasses.replace(delivery(event(1)), event_id=f"{pid(3)}.PaymentApproved"),
        delivery(event(2, "Declined", merchant="mx"), path="/hook/mx/2", secret="whsec_mx"),
        delivery(event(1), path="/hook/m0/9"),  # an endpoint the campaign did not keep
    ]
    violations = check(history)
    assert [v.property for v in violations] == ["webhook_event"] * 7
    details = " | ".join(v.detail for v in violations)
    assert "contradicts the stored Approved" in details
    assert "not 'm0'" in details
    assert "a payment not stored" in details
    assert "does not name" in details
    assert "did not ask for" in details
    assert "did not keep" in details


def test_a_violation_names_the_faults_that_touched_its_payment() -> None:
    from paysys_tools.chaos.history import Injected  # noqa: PLC0415

    history = with_webhooks()
    history.deliveries = history.deliveries[2:]
    history.injected = [Injected("sqs:DeleteMessageBatch", "drop_reply", frozenset({pid(1)}))]
    (violation,) = check(history)
    assert violation.faults == ("sqs:DeleteMessageBatch drop_reply",)
    assert "no POST came" in violation.detail
