"""The campaign's checker: a seed's history (every answer each client saw, and the truth read
after quiescence) in, the violated properties out. Pure: no I/O, so it is tested on
hand-made histories (tests/unit/test_chaos_checker.py).

Properties (each violation names one):

- ``status_5xx``: no 5xx answer but a 503, and every 503 carries Retry-After;
- ``accepted_stored``: a 202 from create means that very request's payment is stored;
- ``unavailable_hid_payment``: a 503 never hides a payment stored for that request: without a
  key, the attempt that saw the 503 stored nothing; with a key, some attempt with the same key
  got the payment (202) whenever one is stored;
- ``one_payment_per_key``: one Idempotency-Key (one request without a key), at most one
  payment, and every 202 for the key names it;
- ``conflict_true``: a 409 ``idempotency_conflict`` ("in progress") only while another
  request with that key may still run: one that overlapped it in time, or an earlier one
  that reached the API and got no answer (it may hold the lease until it runs out);
- ``final_state``: every payment is final after quiescence;
- ``answers_agree``: every answer agrees with the final state: a 202 from cancel means
  Canceled, a 409 ``payment_final`` states the final status, a GET's final status is the
  final status, no 404 for a stored payment; ``cancel_answered``: a payment Canceled in the
  table was answered 202 by some cancel (else a cancel that committed answered 409 or 503);
- ``outcome_event``: every final payment has at least one outcome event, none contradicting;
- ``stats_match``: ``GET /stats`` per merchant equals the table's counts exactly; where a
  worker was SIGKILLed and the difference is exactly transitions counted nowhere (its unflushed
  counts, the documented bound) it is ``stats_lost_by_sigkill``, reported under ``bounded``;
- ``rules_applied``: a denied merchant's payment is never approved;
- velocity: see :mod:`paysys_tools.chaos.velocity`;
- webhooks (``webhook_delivered``, ``webhook_signature``, ``webhook_event``): see
  :mod:`paysys_tools.chaos.webhook_check`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping

from paysys_tools.chaos.history import (
    NO_ANSWER,
    OUTCOME_TYPES,
    Answer,
    History,
    Stored,
    Violation,
)
from paysys_tools.chaos.velocity import check_velocity
from paysys_tools.chaos.webhook_check import check_webhooks

# Reported apart from the violations: a deviation the docs bound (not a broken promise).
KILLED_BOUND = "stats_lost_by_sigkill"


def check(history: History) -> list[Violation]:
    violations = [
        *_status_5xx(history),
        *_creates(history),
        *_conflicts(history),
        *_final_states(history),
        *_answers_agree(history),
        *_outcomes(history),
        *_stats(history),
        *_rules(history),
        *check_velocity(history),
        *check_webhooks(history),
    ]
    return annotate(history, violations)


def annotate(history: History, violations: list[Violation]) -> list[Violation]:
    """Each violation with the injected faults whose request named its payment or key."""
    annotated = []
    for v in violations:
        wanted = {n for n in (v.payment_id, v.key) if n}
        faults = sorted({f"{i.operation} {i.fault}" for i in history.injected if wanted & i.names})
        annotated.append(_replace(v, faults=tuple(faults)))
    return annotated


def _replace(v: Violation, *, faults: tuple[str, ...]) -> Violation:
    return Violation(
        v.seed, v.property, v.detail, v.payment_id, v.intent, v.merchant, v.key, faults
    )


def _v(
    history: History,
    prop: str,
    detail: str,
    *,
    payment_id: str | None = None,
    intent: str | None = None,
    merchant: str | None = None,
    key: str | None = None,
) -> Violation:
    return Violation(history.seed, prop, detail, payment_id, intent, merchant, key)


def _status_5xx(history: History) -> Iterator[Violation]:
    for a in history.answers:
        if a.status >= 500 and (a.status != 503 or not a.retry_after):
            what = "503 without Retry-After" if a.status == 503 else f"{a.status}"
            yield _v(
                history, "status_5xx", f"{a.op} answered {what}: {dict(a.body or {})}",
                intent=a.intent, payment_id=a.payment_id, merchant=a.merchant,
            )  # fmt: skip


def _by_description(history: History) -> dict[str, list[Stored]]:
    found: dict[str, list[Stored]] = defaultdict(list)
    for p in history.payments:
        found[p.description].append(p)
    return found


def _creates(history: History) -> Iterator[Violation]:
    stored = _by_description(history)
    by_id = {p.id: p for p in history.payments}
    by_intent: dict[str, list[Answer]] = defaultdict(list)
    for a in history.answers:
        if a.op == "create":
            by_intent[a.intent].append(a)
    for intent, answers in by_intent.items():
        key = answers[0].idempotency_key
        where = {"intent": intent, "merchant": answers[0].merchant, "key": key}
        for a in answers:
            if a.status == 202:
                mine = by_id.get(a.payment_id or "")
                if mine is None or mine.description != a.description:
                    found = "not stored" if mine is None else f"stored as {mine.description!r}"
                    detail = f"create attempt {a.attempt} answered 202 {a.payment_id}: {found}"
                    yield _v(history, "accepted_stored", detail, payment_id=a.payment_id, **where)
            elif a.status == 503 and key is None and stored.get(a.description or ""):
                ids = [p.id for p in stored[a.description or ""]]
                detail = f"attempt {a.attempt} without a key answered 503; stored {ids}"
                yield _v(history, "unavailable_hid_payment", detail, payment_id=ids[0], **where)
        descriptions = {a.description for a in answers if a.description}
        for description in sorted(descriptions):
            payments = stored.get(description, [])
            if len(payments) > 1:
                detail = f"{len(payments)} payments for one request: {[p.id for p in payments]}"
                yield _v(history, "one_payment_per_key", detail, payment_id=payments[0].id, **where)
        if key is None:
            continue
        accepted = {a.payment_id for a in answers if a.status == 202}
        if len(accepted) > 1:
            detail = f"the key's 202 answers name {sorted(map(str, accepted))}"
            yield _v(history, "one_payment_per_key", detail, **where)
        payments = [p for d in descriptions for p in stored.get(d, [])]
        if payments and not accepted:
            seen = [a.status if a.status else a.error for a in answers]
            detail = f"stored {payments[0].id}, but the key's answers were {seen}"
            yield _v(history, "unavailable_hid_payment", detail, payment_id=payments[0].id, **where)


def _conflicts(history: History) -> Iterator[Violation]:
    by_key: dict[str, list[Answer]] = defaultdict(list)
    for a in history.answers:
        if a.op == "create" and a.idempotency_key:
            by_key[a.idempotency_key].append(a)
    for key, answers in by_key.items():
        for a in answers:
            if a.status != 409 or a.error_code != "idempotency_conflict":
                continue
            running = [
                b
                for b in answers
                if b is not a
                and b.sent < a.received
                and (b.received > a.sent or (b.status == NO_ANSWER and b.reached_api))
            ]
            if not running:
                detail = f"attempt {a.attempt} answered 409 in progress, no other request ran"
                yield _v(
                    history, "conflict_true", detail, intent=a.intent, merchant=a.merchant,
                    key=key,
                )  # fmt: skip


def _final_states(history: History) -> Iterator[Violation]:
    tail = "" if history.quiescent else " (the quiescence guard ran out)"
    for p in history.payments:
        if not p.final:
            detail = f"{p.status} after quiescence{tail}"
            yield _v(history, "final_state", detail, payment_id=p.id, merchant=p.merchant_id)


def _answers_agree(history: History) -> Iterator[Violation]:
    by_id = {p.id: p for p in history.payments}
    cancels: dict[str, list[Answer]] = defaultdict(list)
    for a in history.answers:
        if a.op not in ("cancel", "get") or a.payment_id is None:
            continue
        if a.op == "cancel":
            cancels[a.payment_id].append(a)
        truth = by_id.get(a.payment_id)
        said = a.answered_status
        where = {"payment_id": a.payment_id, "intent": a.intent, "merchant": a.merchant}
        if truth is None:
            continue  # not ours to judge (the checker only knows stored payments)
        if a.status == 404 and truth.merchant_id == a.merchant:
            yield _v(
                history, "answers_agree", f"{a.op} answered 404, stored {truth.status}", **where
            )
        elif a.op == "cancel" and a.status == 202 and (said, truth.status) != ("Canceled",) * 2:
            detail = f"cancel answered 202 {said}, stored {truth.status}"
            yield _v(history, "answers_agree", detail, **where)
        elif a.status in (200, 409) and said in OUTCOME_TYPES and said != truth.status:
            detail = f"{a.op} answered {a.status} {said}, stored {truth.status}"
            yield _v(history, "answers_agree", detail, **where)
    for payment_id, answers in cancels.items():
        truth = by_id.get(payment_id)
        if truth is None or truth.status != "Canceled":
            continue
        if all(a.status not in (202, NO_ANSWER) for a in answers):
            seen = [f"{a.status} {a.answered_status or a.error_code}" for a in answers]
            detail = f"Canceled, but no cancel answered 202: {seen}"
            yield _v(
                history, "cancel_answered", detail, payment_id=payment_id,
                intent=answers[0].intent, merchant=truth.merchant_id,
            )  # fmt: skip


def _outcomes(history: History) -> Iterator[Violation]:
    by_id = {p.id: p for p in history.payments}
    events: dict[str, list[str]] = defaultdict(list)
    for event in history.outcomes:
        truth = by_id.get(event.payment_id)
        events[event.payment_id].append(event.type)
        expected = OUTCOME_TYPES.get(truth.status) if truth else None
        if expected != event.type or (truth and truth.decline_reason != event.decline_reason):
            stored = f"{truth.status} {truth.decline_reason or ''}" if truth else "not stored"
            detail = f"event {event.type} {event.decline_reason or ''} contradicts: {stored}"
            yield _v(history, "outcome_event", detail.strip(), payment_id=event.payment_id)
    for p in history.payments:
        if p.final and not events.get(p.id):
            detail = f"{p.status}, but no outcome event"
            yield _v(history, "outcome_event", detail, payment_id=p.id, merchant=p.merchant_id)


def _stats(history: History) -> Iterator[Violation]:
    for merchant, shown in sorted(history.stats.items()):
        truth = Counter(p.status for p in history.payments if p.merchant_id == merchant)
        wrong = {
            status: (n, truth[status])
            for status, n in shown.items()
            if n != truth[status]
        }  # fmt: skip
        if wrong:
            detail = ", ".join(f"{s}: /stats {n}, table {t}" for s, (n, t) in wrong.items())
            if history.killed and _uncounted_transitions(shown, truth):
                # The documented bound: a SIGKILLed process loses the counts it had not
                # flushed (one flush at most): exactly k transitions uncounted, nothing else.
                detail += f" ({history.killed} SIGKILLed: its unflushed counts are lost)"
                yield _v(history, KILLED_BOUND, detail, merchant=merchant)
            else:
                yield _v(history, "stats_match", detail, merchant=merchant)


def _uncounted_transitions(shown: Mapping[str, int], truth: Counter[str]) -> bool:
    """True when /stats differs from the table only by transitions counted nowhere: Pending
    over by k, the final states under by k in all, none over, none negative."""
    extra = shown.get("Pending", 0) - truth["Pending"]
    finals = [s for s in shown if s != "Pending"]
    short = [truth[s] - shown[s] for s in finals]
    return extra > 0 and min(short) >= 0 and sum(short) == extra


def _rules(history: History) -> Iterator[Violation]:
    for p in history.payments:
        if p.merchant_id in history.deny_merchants and p.status == "Approved":
            yield _v(
                history, "rules_applied", "a denied merchant's payment was approved",
                payment_id=p.id, merchant=p.merchant_id,
            )  # fmt: skip
