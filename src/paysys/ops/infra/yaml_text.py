"""A small YAML writer for JSON-like data (dicts, lists, strings, ints, bools, None).

The runtime image has no PyYAML (requirements/prod.txt), and ``paysys infra cloudformation``
should work from it as from a checkout, so the template is written here: block style, keys in
the order given, a string plain when YAML reads it back as the same string, else
double-quoted (JSON's escapes are YAML's), a multi-line string as a literal block, a long
one folded at ``WIDTH``.
tests/unit/test_infra.py reads the output back with PyYAML and compares.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

WIDTH = 100  # .yamllint's line-length
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_:./*${}(), -]*")
# Plain words that YAML 1.1 readers take for booleans or null.
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def dump(value: Any) -> str:
    return "\n".join(_lines(value, 0)) + "\n"


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict) and value:
        out = []
        for key, item in value.items():
            out += _entry(f"{pad}{_scalar(str(key))}:", item, indent)
        return out
    if isinstance(value, list) and value:
        out = []
        for item in value:
            out += _entry(f"{pad}-", item, indent, sequence=True)
        return out
    return [pad + _scalar(value)]


def _entry(head: str, item: Any, indent: int, *, sequence: bool = False) -> list[str]:
    """``head`` (a key or a dash) and its value: inline when scalar, else the block below."""
    if isinstance(item, str) and "\n" in item:
        lines = item.split("\n")
        # A literal block takes its indentation from its first line, keeps no trailing blanks.
        first = lines[0]
        if (
            not first.strip()
            or first[0] == " "
            or not lines[-1]
            or any(x != x.rstrip() for x in lines)
        ):
            return [f"{head} {json.dumps(item)}"]
        return [f"{head} |-", *(" " * (indent + 2) + line if line else "" for line in lines)]
    if isinstance(item, str) and len(head) + 1 + len(_scalar(item)) > WIDTH and _foldable(item):
        lines = textwrap.wrap(
            item, WIDTH - indent - 2, break_long_words=False, break_on_hyphens=False
        )
        return [f"{head} >-", *(" " * (indent + 2) + line for line in lines)]
    if not isinstance(item, dict | list) or not item:
        return [f"{head} {_scalar(item)}"]
    block = _lines(item, indent + 2)
    if sequence and isinstance(item, dict):  # "- first: ..." then the rest aligned below it
        return [f"{head} {block[0].lstrip()}", *block[1:]]
    return [head, *block]


def _foldable(text: str) -> bool:
    """Folded back with single spaces, the wrapped lines give exactly ``text``."""
    return " " in text and "  " not in text and text == text.strip() and text.isprintable()


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    text = str(value)
    plain = (
        _PLAIN.fullmatch(text)
        and not text.endswith((":", " "))
        and ": " not in text
        and text.lower() not in _RESERVED
    )
    return text if plain else json.dumps(text)
