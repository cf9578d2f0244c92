"""The stub's SNS filter policies: what it evaluates agrees with SNS, and what it cannot
evaluate is refused when the subscription is made, never ignored."""

from __future__ import annotations

import pytest

from paysys_tools.stub.filters import matches
from paysys_tools.stub.messaging import StubError
from paysys_tools.stub.sns import filter_policy


def attrs(**values: str) -> dict[str, dict[str, str]]:
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


def test_exists_and_exact_values() -> None:
    absent = filter_policy('{"no_webhook_endpoint": [{"exists": false}]}')
    assert matches(absent, attrs(event_type="PaymentApproved"))
    assert not matches(absent, attrs(no_webhook_endpoint="true"))
    either = filter_policy('{"event_type": ["PaymentApproved", "PaymentDeclined"]}')
    assert matches(either, attrs(event_type="PaymentDeclined"))
    assert not matches(either, attrs(event_type="PaymentCanceled"))
    assert not matches(either, {})
    assert matches(filter_policy("{}"), {})


def test_an_operator_the_stub_cannot_evaluate_is_refused() -> None:
    with pytest.raises(StubError):
        filter_policy('{"event_type": [{"prefix": "Payment"}]}')
