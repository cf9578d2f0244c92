"""The one place logging is configured: structlog, JSON off a terminal, console on one.

Every line carries the context bound with ``structlog.contextvars`` (``correlation_id``,
``payment_id``, ``message_id``). Third-party stdlib logging goes through the same renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import Processor

from paysys.config import LogFormat, LogLevel


def configure_logging(
    log_format: LogFormat = "auto", level: LogLevel = "INFO", stream: TextIO | None = None
) -> None:
    out = stream or sys.stderr
    use_console = log_format == "console" or (log_format == "auto" and out.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if use_console:
        renderer = structlog.dev.ConsoleRenderer()
    else:
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # The emulator's per-request lines would drown ours.
    for noisy in ("werkzeug", "moto", "botocore.credentials", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
