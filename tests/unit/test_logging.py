"""Logs: pretty (structlog's console renderer) on a terminal, JSON otherwise, unless
PAYSYS_LOG_FORMAT says (what `make run` shows a person, and what a container ships)."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import TextIO

import pytest
import structlog

from paysys.config import LogFormat
from paysys.observability.logging import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    config, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:], root.level = handlers, level


def _line(fmt: LogFormat, stream: TextIO) -> None:
    configure_logging(fmt, "INFO", stream=stream)
    structlog.get_logger("test").info("payment.stored", payment_id="p-1")


def _terminal() -> tuple[TextIO, int]:
    leader, follower = os.openpty()
    return open(follower, "w", buffering=1), leader


@pytest.mark.usefixtures("restore_logging")
def test_auto_is_pretty_on_a_terminal_and_json_elsewhere() -> None:
    terminal, leader = _terminal()
    try:
        assert terminal.isatty()
        _line("auto", terminal)
        shown = os.read(leader, 4096).decode()
    finally:
        terminal.close()
        os.close(leader)
    assert "payment.stored" in shown
    assert "payment_id" in shown
    assert not shown.lstrip().startswith("{"), "a person's terminal gets the console renderer"
    piped = io.StringIO()
    _line("auto", piped)
    record = json.loads(piped.getvalue())
    assert (record["event"], record["payment_id"], record["level"]) == (
        "payment.stored",
        "p-1",
        "info",
    )


@pytest.mark.usefixtures("restore_logging")
def test_the_setting_overrides_the_terminal_check() -> None:
    terminal, leader = _terminal()
    try:
        _line("json", terminal)
        assert json.loads(os.read(leader, 4096).decode())["event"] == "payment.stored"
    finally:
        terminal.close()
        os.close(leader)
    piped = io.StringIO()
    _line("console", piped)
    assert "payment.stored" in piped.getvalue()
    assert not piped.getvalue().startswith("{")
