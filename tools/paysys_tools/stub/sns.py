"""The stub's SNS: the query protocol (form-encoded requests, XML replies) over the topics
and subscriptions of :class:`~paysys_tools.stub.messaging.Messaging`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from paysys_tools.stub.messaging import ACCOUNT, REGION, Messaging, StubError


def sns_action(  # noqa: PLR0911, PLR0912 - one branch per operation
    self: Messaging, operation: str, form: Mapping[str, str]
) -> str:
    """The inner XML of ``<{operation}Result>``."""
    if operation == "CreateTopic":
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{form['Name']}"
        self.topics.setdefault(arn, {"TopicArn": arn})
        return _tag("TopicArn", arn)
    if operation == "ListTopics":
        return _tag("Topics", "".join(_tag("member", _tag("TopicArn", a)) for a in self.topics))
    if operation == "Unsubscribe":
        self.subscriptions.pop(form["SubscriptionArn"], None)
        return ""
    if operation == "SetSubscriptionAttributes":
        sub = self.subscriptions[form["SubscriptionArn"]]
        if form["AttributeName"] == "RawMessageDelivery":
            sub["Raw"] = form["AttributeValue"] == "true"
        elif form["AttributeName"] == "FilterPolicy":
            sub["Filter"] = filter_policy(form["AttributeValue"])
        return ""
    topic = form["TopicArn"]
    if topic not in self.topics:
        raise StubError("NotFound", "Topic does not exist", status=404)
    if operation == "GetTopicAttributes":
        entries = "".join(
            _tag("entry", _tag("key", k) + _tag("value", v)) for k, v in self.topics[topic].items()
        )
        return _tag("Attributes", entries)
    if operation == "DeleteTopic":
        del self.topics[topic]
        return ""
    if operation == "Subscribe":
        arn = f"{topic}:{uuid.uuid4()}"
        attributes = _form_map(form, "Attributes")
        self.subscriptions[arn] = {
            "TopicArn": topic,
            "Endpoint": form["Endpoint"],
            "Raw": attributes.get("RawMessageDelivery") == "true",
            "Filter": filter_policy(attributes.get("FilterPolicy", "{}")),
        }
        return _tag("SubscriptionArn", arn)
    if operation == "ListSubscriptionsByTopic":
        members = "".join(
            _tag(
                "member",
                _tag("SubscriptionArn", arn)
                + _tag("Owner", ACCOUNT)
                + _tag("Protocol", "sqs")
                + _tag("Endpoint", s["Endpoint"])
                + _tag("TopicArn", topic),
            )
            for arn, s in self.subscriptions.items()
            if s["TopicArn"] == topic
        )
        return _tag("Subscriptions", members)
    if operation == "Publish":
        return _tag("MessageId", self.publish(topic, form, ""))
    if operation == "PublishBatch":
        done = []
        n = 1
        while f"PublishBatchRequestEntries.member.{n}.Id" in form:
            prefix = f"PublishBatchRequestEntries.member.{n}."
            ident = form[prefix + "Id"]
            mid = self.publish(topic, form, prefix)
            done.append(_tag("member", _tag("Id", ident) + _tag("MessageId", mid)))
            n += 1
        return _tag("Successful", "".join(done)) + "<Failed/>"
    raise StubError("InvalidAction", f"{operation} is not served by the stub")


def filter_policy(text: str) -> dict[str, list[Any]]:
    """A filter policy on message attributes, of the forms the stub evaluates: a list of exact
    strings and ``{"exists": bool}`` per attribute (anything else is refused, not ignored)."""
    policy = json.loads(text)
    for conditions in policy.values():
        for c in conditions:
            if not isinstance(c, str) and not (isinstance(c, dict) and set(c) == {"exists"}):
                raise StubError("InvalidParameter", f"the stub cannot filter on {c!r}")
    return dict(policy)


def _form_map(form: Mapping[str, str], name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    n = 1
    while (key := form.get(f"{name}.entry.{n}.key")) is not None:
        out[key] = form.get(f"{name}.entry.{n}.value", "")
        n += 1
    return out


def _tag(name: str, inner: str) -> str:
    return f"<{name}>{inner if inner.startswith('<') else escape(inner)}</{name}>"
