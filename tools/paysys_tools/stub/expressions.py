"""DynamoDB condition and update expressions, evaluated on items in DynamoDB JSON, for the
stub backend: exactly the grammar aiodynamo's ``F`` expressions encode (top-level attribute
names, no document paths), so conditional writes behave as DynamoDB's do."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

Item = dict[str, dict[str, Any]]  # attribute name -> DynamoDB JSON value ({"S": "x"})
Names = Mapping[str, str]
Values = Mapping[str, dict[str, Any]]
Condition = Callable[[Item], bool]

_TOKEN = re.compile(r"\s*(<>|<=|>=|[=<>(),+-]|[#:]?[A-Za-z0-9_]+)")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class ExpressionError(ValueError):
    """An expression outside the grammar the stub understands (a ValidationException)."""


def tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"cannot parse {text[pos:]!r}")
        out.append(match.group(1))
        pos = match.end()
    return out


def _plain(value: dict[str, Any] | None) -> Any:
    """A comparable Python value of a DynamoDB JSON value (None when absent)."""
    if value is None:
        return None
    ((kind, raw),) = value.items()
    return Decimal(raw) if kind == "N" else raw


class _Parser:
    def __init__(self, text: str, names: Names, values: Values) -> None:
        self.toks = tokens(text)
        self.i = 0
        self.names = names
        self.values = values

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok.upper() != expected):
            raise ExpressionError(f"expected {expected or 'more'}, got {tok!r}")
        self.i += 1
        return tok

    def name(self) -> str:
        tok = self.take()
        return self.names[tok] if tok.startswith("#") else tok

    def operand(self) -> Callable[[Item], dict[str, Any] | None]:
        tok = self.peek() or ""
        if tok.startswith(":"):
            value = self.values[self.take()]
            return lambda item: value
        if tok.lower() == "if_not_exists":
            self.take()
            self.take("(")
            attr = self.name()
            self.take(",")
            default = self.operand()
            self.take(")")
            return lambda item: item.get(attr) or default(item)
        attr = self.name()
        return lambda item: item.get(attr)

    # condition := or ; or := and (OR and)* ; and := not (AND not)* ; not := NOT not | atom
    def condition(self) -> Condition:
        parts = [self.conjunction()]
        while (self.peek() or "").upper() == "OR":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda item: any(p(item) for p in parts)

    def conjunction(self) -> Condition:
        parts = [self.negation()]
        while (self.peek() or "").upper() == "AND":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else lambda item: all(p(item) for p in parts)

    def negation(self) -> Condition:
        if (self.peek() or "").upper() == "NOT":
            self.take()
            inner = self.negation()
            return lambda item: not inner(item)
        return self.atom()

    def atom(self) -> Condition:
        tok = self.peek() or ""
        if tok == "(":
            self.take()
            inner = self.condition()
            self.take(")")
            return inner
        func = tok.lower()
        if func in ("attribute_exists", "attribute_not_exists", "begins_with"):
            self.take()
            self.take("(")
            attr = self.name()
            if func == "begins_with":
                self.take(",")
                prefix = self.operand()
                self.take(")")
                return lambda item: str(_plain(item.get(attr)) or "").startswith(
                    str(_plain(prefix(item)))
                )
            self.take(")")
            present = func == "attribute_exists"
            return lambda item: (attr in item) is present
        left = self.operand()
        compare = _COMPARE.get(self.take())
        if compare is None:
            raise ExpressionError(f"unknown comparison in {self.toks}")
        right = self.operand()

        def check(item: Item) -> bool:
            a, b = _plain(left(item)), _plain(right(item))
            if a is None or b is None or type(a) is not type(b):
                return compare is _COMPARE["<>"] and a != b
            return compare(a, b)

        return check


def condition(text: str | None, names: Names, values: Values) -> Condition:
    """The predicate of a condition (or key condition) expression; always true when None."""
    if not text:
        return lambda item: True
    parser = _Parser(text, names, values)
    predicate = parser.condition()
    if parser.peek() is not None:
        raise ExpressionError(f"trailing {parser.toks[parser.i :]}")
    return predicate


def apply_update(item: Item, text: str, names: Names, values: Values) -> None:
    """Apply an update expression (SET, REMOVE, ADD, DELETE clauses) to ``item`` in place."""
    parser = _Parser(text, names, values)
    while (clause := parser.peek()) is not None:
        clause = parser.take().upper()
        while True:
            attr = parser.name()
            if clause == "SET":
                parser.take("=")
                new = parser.operand()
                if parser.peek() in ("+", "-"):
                    sign = parser.take()
                    other = parser.operand()
                    a, b = _plain(new(item)), _plain(other(item))
                    total = a + b if sign == "+" else a - b
                    item[attr] = {"N": str(total)}
                else:
                    value = new(item)
                    if value is not None:
                        item[attr] = value
            elif clause == "REMOVE":
                item.pop(attr, None)
            elif clause == "ADD":
                _add(item, attr, parser.operand()(item) or {})
            else:
                raise ExpressionError(f"unsupported clause {clause}")
            if parser.peek() != ",":
                break
            parser.take(",")


def _add(item: Item, attr: str, value: dict[str, Any]) -> None:
    current = item.get(attr)
    if "N" in value:
        base = Decimal(current["N"]) if current else Decimal(0)
        item[attr] = {"N": str(base + Decimal(value["N"]))}
    else:
        ((kind, members),) = value.items()
        merged = set(current[kind]) if current else set()
        item[attr] = {kind: sorted(merged | set(members))}
