"""Every setting described: its variable, default and meaning (``paysys config``, and the table
of docs/reference/configuration.md), read from the ``Settings`` fields' metadata so the docs
cannot drift from the code."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from paysys.config import PREFIX, Settings, env_name


@dataclass(frozen=True, slots=True)
class SettingDoc:
    env: str
    default: str
    doc: str
    secret: bool


def describe() -> list[SettingDoc]:
    """Every setting with its variable name, default and one-line description."""
    out = []
    for f in dataclasses.fields(Settings):
        default = f.default
        shown = "(unset)" if default is None else str(default)
        out.append(SettingDoc(env_name(f.name), shown, f.metadata["doc"], f.metadata["secret"]))
    return out


def markdown_table() -> str:
    rows = [f"| `{d.env}` | `{d.default}` | {d.doc} |" for d in describe()]
    return "\n".join(["| Variable | Default | Meaning |", "|---|---|---|", *rows]) + "\n"


def render_config(settings: Settings, environ: Mapping[str, str]) -> str:
    """Every setting: variable, effective value (secrets masked), where it came from, default."""
    lines = []
    for doc in describe():
        field_name = doc.env.removeprefix(PREFIX).lower()
        value = getattr(settings, field_name)
        shown = "(unset)" if value is None else str(value)
        if doc.secret and value is not None:
            shown = "********"
        source = "env" if environ.get(doc.env) else "default"
        lines.append(f"{doc.env}={shown}    # {source}; default {doc.default}; {doc.doc}")
    return "\n".join(lines) + "\n"
