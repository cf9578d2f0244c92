"""The ``paysys capacity`` command: its flags and what it prints."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

from paysys.config import Settings
from paysys.ops.capacity.report import cost, render, render_json

SUMMARY = "what a payment costs (units, requests, dollars) and the hot keys, at a rate"


def _within(kind: Callable[[str], float], low: float, high: float = math.inf) -> Any:
    """An argparse type: a number of ``kind`` from ``low`` to ``high``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--rate", type=_within(float, 0.001), default=10_000.0, help="payments/s (10000)")
    add("--merchants", type=_within(int, 1), default=10_000, help="active merchants (10000)")
    add("--processes", type=_within(int, 1), default=150, help="API + worker processes (150)")
    add("--key-share", type=_within(float, 0, 1), default=0.0,
        help="share of creates with an Idempotency-Key (0-1)")  # fmt: skip
    add("--velocity", action="store_true", help="a velocity rule on every payment")
    add("--webhook-share", type=_within(float, 0, 1), default=0.0,
        help="share of payments whose merchant has a webhook endpoint (0-1)")  # fmt: skip
    add("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, settings: Settings, _: Mapping[str, str]) -> int:
    figures = cost(
        settings, args.rate, merchants=args.merchants, processes=args.processes,
        key_share=args.key_share, velocity=args.velocity, webhook_share=args.webhook_share,
    )  # fmt: skip
    sys.stdout.write((render_json if args.json else render)(figures))
    return 0
