"""One typed, frozen settings object read from ``PAYSYS_*`` environment variables.

Every field has a default that serves the embedded mode; docs/reference/configuration.md
holds the table ``paysys config --markdown`` prints from these fields (``make docs`` writes it,
a test compares). Secrets are ``repr=False`` and never logged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from paysys.config_rules import PREFIX, env_name, parse_value, settings_rules
from paysys.core.rules import load_rules
from paysys.core.webhooks import WebhookMode
from paysys.errors import ConfigError

__all__ = ["PREFIX", "Settings", "env_name"]

LogFormat = Literal["auto", "json", "console"]
AuthMode = Literal["required", "open"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def _setting(default: Any, doc: str, *, secret: bool = False) -> Any:
    """A settings field: its default, its one-line doc; a secret is kept out of ``repr``."""
    return field(default=default, repr=not secret, metadata={"doc": doc, "secret": secret})


@dataclass(frozen=True, slots=True)
class Settings:
    # --- AWS -----------------------------------------------------------------------------
    aws_endpoint_url: str | None = _setting(
        None, "AWS endpoint override (emulator). Unset: real AWS, standard credentials."
    )
    dynamodb_endpoint_url: str | None = _setting(
        None, "DynamoDB endpoint override; unset: PAYSYS_AWS_ENDPOINT_URL."
    )
    sns_endpoint_url: str | None = _setting(None, "SNS endpoint override; unset: the AWS one.")
    aws_region: str = _setting("us-east-1", "AWS region.")
    aws_access_key_id: str | None = _setting(
        None, "Static access key; unset uses the default chain (env, IRSA, IMDS)."
    )
    aws_secret_access_key: str | None = _setting(None, "Static secret key.", secret=True)
    aws_timeout_seconds: float = _setting(
        5.0, "Connect/read timeout of one AWS call (long polls add wait)."
    )
    aws_account_id: str | None = _setting(
        None, "Account id in the ARNs `paysys iam-policy` prints; unset: `*` (any)."
    )
    aws_call_log: str | None = _setting(
        None,
        "File this process appends each AWS operation it performs to, once "
        "(`service:Operation resource`); unset: off. Compare with `paysys iam-policy`.",
    )
    aws_max_attempts: int = _setting(4, "Attempts per AWS call (backoff on throttling and 5xx).")
    dynamodb_retry_seconds: float = _setting(3.0, "Time budget for DynamoDB retries before a 503.")
    # --- resources -----------------------------------------------------------------------
    table_name: str = _setting("paysys-payments", "DynamoDB table.")
    idempotency_table_name: str = _setting(
        "paysys-idempotency", "DynamoDB table of Idempotency-Keys."
    )
    idempotency_ttl_seconds: int = _setting(86_400, "How long an Idempotency-Key is remembered.")
    idempotency_lock_seconds: int = _setting(
        30, "After this, a request holding a key is presumed dead and may be resumed."
    )
    topic_name: str = _setting("paysys-payment-events", "SNS topic name.")
    topic_arn: str | None = _setting(None, "SNS topic ARN; unset: looked up by topic name.")
    outcomes_topic_name: str = _setting("paysys-payment-outcomes", "SNS topic of outcome events.")
    queue_name: str = _setting("paysys-payment-created", "SQS queue name.")
    queue_url: str | None = _setting(None, "SQS queue URL; unset: looked up by queue name.")
    dlq_name: str = _setting("paysys-payment-created-dlq", "Dead-letter queue name.")
    dlq_url: str | None = _setting(None, "Dead-letter queue URL; unset: looked up by DLQ name.")
    max_receive_count: int = _setting(5, "Receives before a message moves to the DLQ.")
    # --- API -----------------------------------------------------------------------------
    api_host: str = _setting("127.0.0.1", "API bind address.")
    api_port: int = _setting(8080, "API port.")
    auth: AuthMode | None = _setting(
        None,
        "required: the API starts only with a valid PAYSYS_API_KEYS and checks every request;"
        " open: no auth check at all (keys ignored). Unset: open for `paysys local`, required"
        " for everything else.",
    )
    api_keys: str | None = _setting(
        None,
        "Comma-separated SHA-256 hashes of API keys (`paysys keygen`), never the keys.",
        secret=True,
    )
    max_body_bytes: int = _setting(16_384, "Largest accepted request body.")
    max_json_depth: int = _setting(32, "Deepest JSON nesting accepted in a body (else 400).")
    http_idle_timeout_seconds: float = _setting(
        15.0,
        "A connection with no complete request head this long after it opened or after its "
        "last response is closed (idle keep-alive and slow headers).",
    )
    http_body_timeout_seconds: float = _setting(10.0, "Time to receive a request body (else 408).")
    http_request_timeout_seconds: float = _setting(
        30.0,
        "Deadline of a request's handler (else 503). Once a payment's body is read, its store"
        " runs to completion within the AWS retry budget instead.",
    )
    http_max_connections: int = _setting(
        1024, "Concurrent connections per API process; more get a 503."
    )
    readiness_cache_seconds: float = _setting(
        2.0, "How long a /readyz result is reused (one probe per interval)."
    )
    publish_linger_ms: float = _setting(
        50.0,
        "Longest a partial PublishBatch waits for more events (0: sends at once); while events "
        "come more than twice that apart, each goes at once.",
    )
    publish_max_linger_ms: float = _setting(
        100.0,
        "While events come at most two PUBLISH_LINGER_MS apart, a partial PublishBatch waits "
        "up to this long (0-1000 ms) for 10 events, as long as 10 are expected to take; at "
        "or below PUBLISH_LINGER_MS: no widening.",
    )
    publish_max_pending: int = _setting(
        1000,
        "Events waiting to be published per process; past it a payment is stored and its "
        "event left to the reconciler.",
    )
    max_amount: Decimal = _setting(Decimal("1000000.00"), "Largest accepted payment amount.")
    shutdown_timeout_seconds: float = _setting(
        10.0, "Time given to in-flight requests/messages on stop."
    )
    # --- worker --------------------------------------------------------------------------
    worker_loops: int = _setting(4, "Concurrent SQS receive loops.")
    worker_max_in_flight: int = _setting(64, "Messages processed at once, across all loops.")
    worker_batch_size: int = _setting(10, "Messages per receive (1-10).")
    worker_wait_seconds: int = _setting(5, "Long-poll wait (0-20 s); stop waits for it to end.")
    worker_receive_linger_ms: int = _setting(
        50, "After a partial receive, wait this long (0-1000 ms) before the next one; 0: never."
    )
    worker_delete_linger_ms: int = _setting(
        50, "Longest (0-1000 ms) a message (payment, webhook) waits to share its delete; 0: none."
    )
    worker_delete_max_linger_ms: int = _setting(
        200,
        "While acks come at most two WORKER_DELETE_LINGER_MS apart, a message (payment, "
        "webhook) waits up to this long (0-1000 ms) for a delete of 10, as long as 10 are "
        "expected to take; at or below WORKER_DELETE_LINGER_MS: no widening.",
    )
    worker_retry_attempts: int = _setting(3, "In-worker retries of a decision a backend failed.")
    worker_retry_base_seconds: float = _setting(1.0, "First retry's wait (jittered, then doubled).")
    visibility_timeout_seconds: int = _setting(30, "SQS visibility timeout set on the queue.")
    rules: str = _setting(
        "", "Worker decision rules: JSON text or a JSON file's path; empty: none."
    )
    worker_host: str = _setting("127.0.0.1", "Worker health port bind.")
    worker_port: int = _setting(8081, "Worker /healthz and /readyz port; 0 disables it.")
    # --- reconciler (runs inside the worker) ----------------------------------------------
    reconcile_after_seconds: int = _setting(
        60, "A payment Pending this long gets its event republished."
    )
    reconcile_interval_seconds: float = _setting(
        15.0, "How often the reconciler looks; 0 disables it."
    )
    reconcile_batch_size: int = _setting(100, "Payments claimed per reconciler query (a page).")
    reconcile_max_backoff_seconds: float = _setting(
        3600.0, "Longest wait before a still-pending payment is republished again."
    )
    # --- data layout (shard counts: only ever raise them) --------------------------------------
    pending_shards: int = _setting(32, "Shards of the sparse pending index the reconciler reads.")
    list_shards: int = _setting(16, "Shards per merchant and month of the listing index.")
    counter_shards: int = _setting(
        4, "Rollup shards of the counts journal behind /stats (change only after a drain)."
    )
    counter_flush_seconds: float = _setting(
        1.0, "Counts gathered per process this long, then journalled (0: after each count)."
    )
    counter_rollup_seconds: float = _setting(
        8.0, "How often the worker folds the journal into the counts (0 disables it)."
    )
    stats_cache_seconds: float = _setting(
        2.0, "How long /stats and a merchant's counts are reused."
    )
    cursor_secret: str | None = _setting(
        None,
        "Key that signs list cursors (same on every API pod); unset: random per process.",
        secret=True,
    )
    metrics_interval_seconds: float = _setting(
        15.0, "How often the worker reads queue depths for its metrics."
    )
    # --- webhooks (delivered by the worker) ---------------------------------------------
    webhook_key: str | None = _setting(
        None,
        "Key the endpoints' signing secrets are derived from (same on every API and worker pod;"
        " changing it changes every secret). Unset: webhooks off (`paysys local`: random).",
        secret=True,
    )
    webhook_mode: WebhookMode | None = _setting(
        None,
        "strict: https only, public addresses only (checked at registration and at connect);"
        " local: http and private addresses too. Unset: local in `paysys local`, else strict.",
    )
    webhook_queue_name: str = _setting("paysys-webhooks", "SQS queue of outcome events to deliver.")
    webhook_dlq_name: str = _setting("paysys-webhooks-dlq", "Dead-letter queue of the above.")
    webhook_loops: int = _setting(2, "Concurrent receive loops of the delivery queue (0: off).")
    webhook_max_in_flight: int = _setting(64, "Deliveries at once per worker, all endpoints.")
    webhook_endpoint_concurrency: int = _setting(
        4, "Deliveries at once to one endpoint per worker; more wait on the queue."
    )
    webhook_connect_timeout_seconds: float = _setting(5.0, "Connect timeout of one delivery.")
    webhook_read_timeout_seconds: float = _setting(10.0, "Read timeout of one delivery.")
    webhook_retry_base_seconds: float = _setting(
        60.0, "Delay after a first failed delivery, doubled per attempt (jittered)."
    )
    webhook_retry_max_seconds: int = _setting(
        43_200, "Longest delay between attempts (at most 43200: SQS's 12 h visibility)."
    )
    webhook_retry_window_seconds: int = _setting(
        259_200, "An event not delivered this long after it was queued is marked failed (3 d)."
    )
    webhook_breaker_failures: int = _setting(
        5, "Consecutive failures of one endpoint that open its circuit breaker."
    )
    webhook_breaker_seconds: float = _setting(
        60.0, "An open breaker defers that endpoint's deliveries this long, then tries one."
    )
    webhook_endpoint_cache_seconds: float = _setting(
        10.0, "How long the worker reuses a merchant's endpoint list (registration lag)."
    )
    webhook_history_ttl_seconds: int = _setting(
        2_592_000, "How long a delivery's attempts are kept (the table's TTL; 30 d)."
    )
    # --- embedded mode -------------------------------------------------------------------
    local_emulator_port: int = _setting(
        0, "`paysys local`: emulator port on 127.0.0.1 (0 = any free)."
    )
    # --- logs ----------------------------------------------------------------------------
    log_format: LogFormat = _setting("auto", "auto (console on a TTY, else JSON), json or console.")
    log_level: LogLevel = _setting("INFO", "Log level.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``PAYSYS_<FIELD>`` variables; unknown values fail loudly."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(env_name(f.name))
            if raw is None or raw == "":
                continue
            values[f.name] = parse_value(f, raw, cls)
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        problems = [message for broken, message in settings_rules(self) if broken]
        if problems:
            raise ConfigError("; ".join(f"{PREFIX}{p}" for p in problems))
        load_rules(self.rules)  # ConfigError naming each problem of PAYSYS_RULES

    @property
    def static_credentials(self) -> tuple[str, str] | None:
        """Explicit credentials, or the emulator's dummy ones when an endpoint is set."""
        if self.aws_access_key_id is not None and self.aws_secret_access_key is not None:
            return (self.aws_access_key_id, self.aws_secret_access_key)
        if self.aws_endpoint_url is not None or self.dynamodb_endpoint_url is not None:
            return ("test", "test")
        return None

    @property
    def aws_pool_size(self) -> int:
        """HTTP connections per AWS client: every loop may long-poll while every in-flight
        message updates DynamoDB and a delete/visibility batch is under way per loop."""
        return 2 * self.worker_loops + self.worker_max_in_flight + 4

    @property
    def webhook_visibility_seconds(self) -> int:
        """The delivery queue's visibility timeout: longer than one delivery can take."""
        return int(self.webhook_connect_timeout_seconds + self.webhook_read_timeout_seconds) + 30

    @property
    def webhook_retention_seconds(self) -> int:
        """The delivery queue's retention: the retry window, plus one longest delay (the
        last attempt may be scheduled just before the window ends), plus a day of margin;
        within SQS's 14 days."""
        window = self.webhook_retry_window_seconds + self.webhook_retry_max_seconds
        return min(14 * 86_400, window + 86_400)
