"""The alert rules read only metrics that the code exports (deploy/prometheus/).

A static check (runs in ``make check-deploy``, no emulator): every ``paysys_*`` name in the
rules' expressions and in the alerts' README is found in ``src/paysys``'s source text.
tests/integration/test_metrics_scrape.py checks the same names against a live scrape.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
SOURCE = ROOT / "src" / "paysys"


# What prometheus_client adds to a counter's or a histogram's name.
SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")
NAME = re.compile(r"\bpaysys_[a-z0-9_]*[a-z0-9]")


def rules() -> list[dict[str, str]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def rule_names() -> set[str]:
    return {name for rule in rules() for name in NAME.findall(rule["expr"])}


def readme_names() -> set[str]:
    return set(NAME.findall((PROMETHEUS / "README.md").read_text()))


@cache
def exported() -> tuple[frozenset[str], tuple[tuple[str, frozenset[str]], ...]]:
    """Metric names in string literals of the source, and f-string templates
    (``f"paysys_worker_messages_{name}"``) with the string literals of their file."""
    literals: set[str] = set()
    templates: list[tuple[str, frozenset[str]]] = []
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text()
        literals.update(re.findall(r"""["'](paysys_[a-z0-9_]+)["']""", text))
        words = frozenset(re.findall(r"""["']([a-z][a-z0-9_]*)["']""", text))
        prefixes = re.findall(r"""\bf["'](paysys_[a-z0-9_]*)\{[^}"']+\}["']""", text)
        templates.extend((prefix, words) for prefix in prefixes)
    return frozenset(literals), tuple(templates)


def is_exported(name: str) -> bool:
    literals, templates = exported()
    bases = {name} | {name.removesuffix(s) for s in SUFFIXES if name.endswith(s)}
    return any(
        base in literals
        or any(
            base.startswith(prefix) and base.removeprefix(prefix) in words
            for prefix, words in templates
        )
        for base in bases
    )


def test_the_scan_finds_the_metrics_the_code_exports():
    # Guards the scanner itself: a literal, a histogram and an f-string template.
    for name in (
        "paysys_http_requests_total",
        "paysys_http_request_duration_seconds_bucket",
        "paysys_worker_messages_failed_total",
        "paysys_worker_in_flight",
    ):
        assert is_exported(name), name
    for name in ("paysys_worker_messages_exploded_total", "paysys_http_requests_failed"):
        assert not is_exported(name), name


def test_rules_use_only_exported_metrics():
    names = rule_names()
    assert names, "no paysys_* metric found in the rules"
    unknown = sorted(name for name in names if not is_exported(name))
    assert not unknown, f"rules read metrics that src/paysys does not export: {unknown}"


def test_readme_names_only_exported_metrics():
    unknown = sorted(name for name in readme_names() if not is_exported(name))
    assert not unknown, f"deploy/prometheus/README.md names unexported metrics: {unknown}"


def test_every_alert_has_a_runbook_entry():
    readme = (PROMETHEUS / "README.md").read_text()
    for rule in rules():
        name = rule["alert"]
        assert f"### {name}\n" in readme, name
        assert rule["annotations"]["runbook"] == f"deploy/prometheus/README.md#{name.lower()}"
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
