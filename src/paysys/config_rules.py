"""The checks that tie settings together, and the parsing of one ``PAYSYS_*`` value."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from dataclasses import Field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol, Union

from paysys.errors import ConfigError

PREFIX = "PAYSYS_"


class Checked(Protocol):
    """The settings the rules read (``paysys.config.Settings`` has them all)."""

    @property
    def aws_access_key_id(self) -> str | None: ...
    @property
    def aws_secret_access_key(self) -> str | None: ...
    @property
    def aws_account_id(self) -> str | None: ...
    @property
    def max_amount(self) -> Decimal: ...
    @property
    def counter_shards(self) -> int: ...
    @property
    def counter_flush_seconds(self) -> float: ...
    @property
    def counter_rollup_seconds(self) -> float: ...
    @property
    def http_max_connections(self) -> int: ...
    @property
    def idempotency_lock_seconds(self) -> int: ...
    @property
    def idempotency_ttl_seconds(self) -> int: ...
    @property
    def list_shards(self) -> int: ...
    @property
    def max_json_depth(self) -> int: ...
    @property
    def max_receive_count(self) -> int: ...
    @property
    def pending_shards(self) -> int: ...
    @property
    def publish_max_pending(self) -> int: ...
    @property
    def reconcile_after_seconds(self) -> int: ...
    @property
    def reconcile_batch_size(self) -> int: ...
    @property
    def publish_max_linger_ms(self) -> float: ...
    @property
    def worker_batch_size(self) -> int: ...
    @property
    def worker_delete_linger_ms(self) -> int: ...
    @property
    def worker_delete_max_linger_ms(self) -> int: ...
    @property
    def worker_loops(self) -> int: ...
    @property
    def worker_max_in_flight(self) -> int: ...
    @property
    def worker_receive_linger_ms(self) -> int: ...
    @property
    def worker_retry_attempts(self) -> int: ...
    @property
    def worker_wait_seconds(self) -> int: ...
    @property
    def http_body_timeout_seconds(self) -> float: ...
    @property
    def http_idle_timeout_seconds(self) -> float: ...
    @property
    def http_request_timeout_seconds(self) -> float: ...
    @property
    def readiness_cache_seconds(self) -> float: ...
    @property
    def worker_retry_base_seconds(self) -> float: ...
    @property
    def webhook_loops(self) -> int: ...
    @property
    def webhook_max_in_flight(self) -> int: ...
    @property
    def webhook_endpoint_concurrency(self) -> int: ...
    @property
    def webhook_retry_base_seconds(self) -> float: ...
    @property
    def webhook_retry_max_seconds(self) -> int: ...
    @property
    def webhook_retry_window_seconds(self) -> int: ...
    @property
    def webhook_connect_timeout_seconds(self) -> float: ...
    @property
    def webhook_read_timeout_seconds(self) -> float: ...


def settings_rules(s: Checked) -> list[tuple[bool, str]]:
    """(broken?, what must hold) for every rule that ties values together."""
    return [
        (not 1 <= s.worker_batch_size <= 10, "WORKER_BATCH_SIZE must be 1-10"),
        (not 0 <= s.worker_wait_seconds <= 20, "WORKER_WAIT_SECONDS must be 0-20"),
        (s.worker_loops < 1, "WORKER_LOOPS must be >= 1"),
        (s.worker_max_in_flight < 1, "WORKER_MAX_IN_FLIGHT must be >= 1"),
        (
            not 0 <= s.worker_receive_linger_ms <= 1000
            or not 0 <= s.worker_delete_linger_ms <= 1000
            or not 0 <= s.worker_delete_max_linger_ms <= 1000,
            "WORKER_RECEIVE_LINGER_MS and WORKER_DELETE_(MAX_)LINGER_MS must be 0-1000",
        ),
        (
            not 0 <= s.publish_max_linger_ms <= 1000,
            "PUBLISH_MAX_LINGER_MS must be 0-1000",
        ),
        (
            s.max_receive_count < 1
            or min(s.worker_retry_attempts, s.worker_retry_base_seconds) < 0,
            "MAX_RECEIVE_COUNT must be >= 1, WORKER_RETRY_ATTEMPTS and _BASE_SECONDS >= 0",
        ),
        (s.max_json_depth < 2, "MAX_JSON_DEPTH must be >= 2"),
        (
            s.http_max_connections < 1 or s.publish_max_pending < 1,
            "HTTP_MAX_CONNECTIONS and PUBLISH_MAX_PENDING must be >= 1",
        ),
        (
            min(s.http_idle_timeout_seconds, s.http_body_timeout_seconds) <= 0,
            "HTTP_IDLE_TIMEOUT_SECONDS and HTTP_BODY_TIMEOUT_SECONDS must be > 0",
        ),
        (
            s.http_request_timeout_seconds <= 0 or s.readiness_cache_seconds < 0,
            "HTTP_REQUEST_TIMEOUT_SECONDS must be > 0, READINESS_CACHE_SECONDS >= 0",
        ),
        (s.max_amount <= 0, "MAX_AMOUNT must be positive"),
        (
            min(s.pending_shards, s.list_shards, s.counter_shards) < 1,
            "PENDING_SHARDS, LIST_SHARDS and COUNTER_SHARDS must be >= 1",
        ),
        (
            min(s.counter_flush_seconds, s.counter_rollup_seconds) < 0,
            "COUNTER_FLUSH_SECONDS and COUNTER_ROLLUP_SECONDS must be >= 0",
        ),
        (
            s.reconcile_batch_size < 1 or s.reconcile_after_seconds < 0,
            "RECONCILE_BATCH_SIZE must be >= 1, RECONCILE_AFTER_SECONDS >= 0",
        ),
        (
            not 0 < s.idempotency_lock_seconds < s.idempotency_ttl_seconds,
            "IDEMPOTENCY_LOCK_SECONDS must be > 0 and < IDEMPOTENCY_TTL_SECONDS",
        ),
        (
            s.aws_account_id is not None and not re.fullmatch(r"\d{12}", s.aws_account_id),
            "AWS_ACCOUNT_ID must be 12 digits",
        ),
        (
            (s.aws_access_key_id is None) != (s.aws_secret_access_key is None),
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together",
        ),
        (
            s.webhook_loops < 0 or min(s.webhook_max_in_flight, s.webhook_endpoint_concurrency) < 1,
            "WEBHOOK_LOOPS must be >= 0, WEBHOOK_MAX_IN_FLIGHT and _ENDPOINT_CONCURRENCY >= 1",
        ),
        (
            not 1 <= s.webhook_retry_base_seconds <= s.webhook_retry_max_seconds <= 43_200,
            "WEBHOOK_RETRY_BASE_SECONDS must be >= 1 and <= WEBHOOK_RETRY_MAX_SECONDS <= 43200",
        ),
        (
            not 0 < s.webhook_retry_window_seconds <= 12 * 86_400,
            "WEBHOOK_RETRY_WINDOW_SECONDS must be 1-1036800 (the queue keeps 14 days at most)",
        ),
        (
            min(s.webhook_connect_timeout_seconds, s.webhook_read_timeout_seconds) <= 0,
            "WEBHOOK_CONNECT_TIMEOUT_SECONDS and WEBHOOK_READ_TIMEOUT_SECONDS must be > 0",
        ),
    ]


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


def parse_value(f: Field[Any], raw: str, settings_type: type) -> Any:
    hint = typing.get_type_hints(settings_type)[f.name]
    if typing.get_origin(hint) in (Union, types.UnionType):  # X | None: parse as X
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    choices = typing.get_args(hint) if typing.get_origin(hint) is Literal else ()
    if choices:
        value = raw.upper() if f.name == "log_level" else raw.lower()
        if value not in choices:
            raise ConfigError(f"{env_name(f.name)}={raw!r}: expected one of {', '.join(choices)}")
        return value
    parse: Callable[[str], Any] = hint if hint in (int, float, Decimal) else str
    try:
        value = parse(raw)
    except (ValueError, InvalidOperation) as exc:
        raise ConfigError(f"{env_name(f.name)}={raw!r} is not a valid {parse.__name__}") from exc
    if isinstance(value, Decimal) and not value.is_finite():
        raise ConfigError(f"{env_name(f.name)}={raw!r} is not a finite number")
    return value
