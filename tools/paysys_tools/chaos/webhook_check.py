"""The campaign's webhook properties: pure, like :mod:`paysys_tools.chaos.checker`, which
calls :func:`check_webhooks` (tests/unit/test_chaos_webhook_check.py).

- ``webhook_signature``: every POST the receiver got is signed by the secret its endpoint's
  registration answered (``Paysys-Signature``, at most 5 minutes old when it came);
- ``webhook_event``: every signed POST is an event of its endpoint's merchant, of a type the
  endpoint wants, its ``Paysys-Event-Id`` names it, and it agrees with the final state (type,
  status and decline reason of the stored payment); a POST to a path of no kept endpoint;
- ``webhook_delivered``: every final payment of a merchant with an endpoint that wants its
  outcome's type was delivered there, validly signed and accepted (2xx), at least once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from paysys.core.webhook_signing import SignatureError, verify
from paysys.core.webhooks import event_id
from paysys_tools.chaos.history import (
    OUTCOME_TYPES,
    Delivery,
    Endpoint,
    History,
    Stored,
    Violation,
)


def expected_deliveries(
    endpoints: Iterable[Endpoint], payments: Iterable[Stored]
) -> set[tuple[str, str]]:
    """(endpoint path, event id) of every delivery the final payments call for."""
    wanted = set()
    finals = [p for p in payments if p.final]
    for endpoint in endpoints:
        for p in finals:
            kind = OUTCOME_TYPES[p.status]
            if p.merchant_id == endpoint.merchant and kind in endpoint.event_types:
                wanted.add((endpoint.path, event_id(kind, p.id)))
    return wanted


def accepted(deliveries: Iterable[Delivery]) -> set[tuple[str, str]]:
    """(path, event id) of every POST the receiver answered 2xx (signature not judged)."""
    return {(d.path, d.event_id) for d in deliveries if 200 <= d.answered < 300}


def check_webhooks(history: History) -> Iterator[Violation]:
    by_path = {e.path: e for e in history.endpoints}
    by_id = {p.id: p for p in history.payments}
    delivered: set[tuple[str, str]] = set()
    for d in history.deliveries:
        endpoint = by_path.get(d.path)
        where = {"merchant": endpoint.merchant if endpoint else None, "key": d.event_id or None}
        payment_id = d.event_id.partition(".")[0] or None
        if endpoint is None:
            detail = f"a POST to {d.path}, an endpoint the campaign did not keep"
            yield _v(history, "webhook_event", detail, payment_id, where)
            continue
        try:
            verify(endpoint.secret, d.signature, d.body, now=d.at)
        except SignatureError as exc:
            detail = f"{d.path} got {d.event_id or 'no event id'}: {exc}"
            yield _v(history, "webhook_signature", detail, payment_id, where)
            continue
        if problem := _event_problem(d, endpoint, by_id):
            yield _v(history, "webhook_event", f"{d.path}: {problem}", payment_id, where)
            continue
        if 200 <= d.answered < 300:
            delivered.add((d.path, d.event_id))
    tail = "" if history.delivered_in_time else " (the wait for deliveries ran out)"
    merchants = {e.path: e.merchant for e in history.endpoints}
    answers: dict[tuple[str, str], set[int]] = defaultdict(set)
    for d in history.deliveries:
        answers[d.path, d.event_id].add(d.answered)
    for path, eid in sorted(expected_deliveries(history.endpoints, history.payments) - delivered):
        seen = f"answered {sorted(answers[path, eid])}" if answers[path, eid] else "no POST came"
        detail = f"{eid} never delivered to {path} ({seen}){tail}"
        where = {"merchant": merchants[path], "key": eid}
        yield _v(history, "webhook_delivered", detail, eid.partition(".")[0], where)


def _event_problem(  # noqa: PLR0911 - one per rule
    d: Delivery, endpoint: Endpoint, by_id: Mapping[str, Stored]
) -> str | None:
    try:
        event: Any = json.loads(d.body)
        kind, payment_id = str(event["type"]), str(event["payment_id"])
    except (ValueError, KeyError, TypeError):
        return f"a body that is not an outcome event: {d.body[:80]!r}"
    if d.event_id != event_id(kind, payment_id):
        return f"Paysys-Event-Id {d.event_id!r} does not name the body's {kind} of {payment_id}"
    if event.get("merchant_id") != endpoint.merchant:
        return f"an event of merchant {event.get('merchant_id')!r}, not {endpoint.merchant!r}"
    if kind not in endpoint.event_types:
        return f"{kind}, a type the endpoint did not ask for"
    truth = by_id.get(payment_id)
    if truth is None:
        return f"{kind} of {payment_id}, a payment not stored"
    said = (kind, event.get("status"), event.get("decline_reason"))
    if said != (OUTCOME_TYPES.get(truth.status), truth.status, truth.decline_reason):
        return f"{' '.join(map(str, said))} contradicts the stored {truth.status}"
    return None


def _v(
    history: History,
    prop: str,
    detail: str,
    payment_id: str | None,
    where: Mapping[str, str | None],
) -> Violation:
    return Violation(
        history.seed, prop, detail, payment_id, merchant=where["merchant"], key=where["key"]
    )
