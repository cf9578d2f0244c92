"""Strict JSON request bodies: what a payment API must refuse before it parses a value.

- Duplicate keys: ``{"amount": "1.00", "amount": "2.00"}`` is refused (400, naming the key),
  never "last one wins": two parsers reading one body differently is how money moves wrongly.
- Nesting deeper than ``max_depth``: refused (400) before parsing, so no input can reach the
  parser's recursion limit.
- Numbers become ``Decimal`` (never float); NaN and Infinity are refused.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from paysys.errors import MalformedJSON

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def decode_json(body: bytes, *, max_depth: int) -> Any:
    if body.count(b"[") + body.count(b"{") > max_depth:
        _check_depth(body, max_depth)  # only bodies that could be too deep pay for the scan
    try:
        return json.loads(
            body,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except _DuplicateKey as exc:
        raise MalformedJSON(f"duplicate key {exc.key!r} in a JSON object") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"request body is not valid JSON: {exc}") from exc


def _check_depth(body: bytes, max_depth: int) -> None:
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > max_depth:
            raise MalformedJSON(f"JSON nested deeper than {max_depth} levels")


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")
