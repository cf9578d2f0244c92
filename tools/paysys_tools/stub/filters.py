"""SNS subscription filter policies on message attributes, as far as the stub evaluates them:
a list of exact strings and ``{"exists": bool}`` per attribute (``sns.filter_policy`` refuses
the rest when a subscription is made)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def matches(policy: Mapping[str, list[Any]], attributes: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether a message with ``attributes`` passes ``policy`` (every key, any condition)."""
    for name, conditions in policy.items():
        value = attributes.get(name)
        if not any(
            (c["exists"] == (value is not None))
            if isinstance(c, dict)
            else (value is not None and value.get("StringValue") == c)
            for c in conditions
        ):
            return False
    return True
