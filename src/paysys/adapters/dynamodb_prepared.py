"""A decision's update expression with its text built once per shape, not per call.

aiodynamo encodes an ``F(...).set(...) & ...`` expression on every request (a dozen objects,
the names and values numbered one by one); a decision has only a few shapes (approved or
not, with a reason or not, with a token or not), so each shape's text and attribute names
are made once and only the values are filled in per call. The placeholders (``#u...``,
``:u...``) cannot meet aiodynamo's own (``#n0``, ``:v0``), which the condition still uses.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiodynamo.expressions import F, Parameters, UpdateExpression

from paysys.core.domain import PaymentStatus


@dataclass(frozen=True)
class Prepared(UpdateExpression):
    """An update expression whose text and names are ready; ``values`` are this call's."""

    text: str = ""
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def encode(self, params: Parameters) -> str:
        params.names.update(self.names)
        params.values.update(self.values)
        return self.text


@functools.cache
def _shape(approved: bool, reason: bool, token: str) -> tuple[str, Mapping[str, str]]:
    """The text and names of one shape (``token``: the token's attribute name, or "")."""
    sets = ["#us = :us", "#uu = :ut"]
    names = {"#us": "status", "#uu": "updated_at", "#up": "pending_shard", "#ue": "due_at"}
    if approved:
        sets.append("#ua = :ut")
        names["#ua"] = "approved_at"
    if reason:
        sets.append("#ur = :ur")
        names["#ur"] = "decline_reason"
    if token:
        sets.append("#uk = :uk")
        names["#uk"] = token
    return f"SET {', '.join(sets)} REMOVE #up, #ue", names


def decision_update(
    to: PaymentStatus,
    stamp: str,
    reason: str | None,
    token: str,
    *,
    token_attribute: str,
    extra: UpdateExpression | None = None,
) -> UpdateExpression:
    """The update of a decision to ``to`` at ``stamp``; with ``extra`` (rare: the outbox
    mark) built the general way."""
    approved = to is PaymentStatus.APPROVED
    if extra is not None:
        update = (
            F("status").set(to.value)
            & F("updated_at").set(stamp)
            & F("pending_shard").remove()
            & F("due_at").remove()
            & extra
        )
        if approved:
            update = update & F("approved_at").set(stamp)
        if reason is not None:
            update = update & F("decline_reason").set(reason)
        if token:
            update = update & F(token_attribute).set(token)
        return update
    text, names = _shape(approved, reason is not None, token_attribute if token else "")
    values: dict[str, dict[str, Any]] = {":us": {"S": to.value}, ":ut": {"S": stamp}}
    if reason is not None:
        values[":ur"] = {"S": reason}
    if token:
        values[":uk"] = {"S": token}  # who moved it: a retry recognises its own success
    return Prepared(text=text, names=names, values=values)
