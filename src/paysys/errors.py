"""The one error tree of paysys.

Adapters translate vendor errors into these at the boundary; the API maps them to HTTP in
one middleware (``api.error_middleware``); the worker decides per class whether a message is
retried (left on the queue) or acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass


class PaysysError(Exception):
    """Root of every error paysys raises on purpose."""

    status = 500
    code = "internal_error"

    def to_json(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": str(self)}}


class ConfigError(PaysysError):
    """Settings that cannot work (bad value, missing pair)."""

    code = "config_error"


class RequestError(PaysysError):
    """The request is wrong; the client can fix it (4xx)."""

    status = 400
    code = "bad_request"


class MalformedJSON(RequestError):
    code = "malformed_json"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(RequestError):
    status = 413
    code = "payload_too_large"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ValidationError(RequestError):
    """One or more fields are invalid; every problem is reported at once."""

    status = 422
    code = "validation_error"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    def to_json(self) -> dict[str, object]:
        body = super().to_json()
        body["error"] = {
            "code": self.code,
            "message": "the request has invalid fields",
            "fields": [{"field": e.field, "message": e.message} for e in self.errors],
        }
        return body


class BodyTimeout(RequestError):
    """The client did not send its request body in time."""

    status = 408
    code = "request_body_timeout"


class Unauthorized(RequestError):
    status = 401
    code = "unauthorized"


class NotFound(RequestError):
    status = 404
    code = "not_found"


class PaymentNotFound(NotFound):
    code = "payment_not_found"

    def __init__(self, payment_id: str) -> None:
        super().__init__(f"payment {payment_id} does not exist")
        self.payment_id = payment_id


class PaymentFinal(RequestError):
    """The payment already reached a final state, which never changes (409 with the status)."""

    status = 409
    code = "payment_final"

    def __init__(self, payment_id: str, current: str) -> None:
        super().__init__(f"payment {payment_id} is already {current}")
        self.payment_id = payment_id
        self.current = current

    def to_json(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": str(self), "status": self.current}}


class InvalidIdempotencyKey(RequestError):
    code = "invalid_idempotency_key"


class IdempotencyKeyReused(RequestError):
    """The key was used before with a different request body."""

    status = 422
    code = "idempotency_key_reused"


class IdempotencyConflict(RequestError):
    """Another request with the same key is still being processed."""

    status = 409
    code = "idempotency_conflict"


# What every 503 asks of the client (RFC 9110 Retry-After, seconds): the AWS retry budget has
# already run, so an immediate retry would mostly meet the same outage.
RETRY_AFTER_SECONDS = 1


class BackendUnavailable(PaysysError):
    """DynamoDB, SNS or SQS cannot be reached or keeps failing: retry later (503)."""

    status = 503
    code = "backend_unavailable"


class StoreUnconfirmed(BackendUnavailable):
    """A create whose every write attempt failed without an answer: the payment may be
    stored. The 503 names its id, so the client can look (``GET``) before sending it again."""

    code = "store_unconfirmed"

    def __init__(self, payment_id: str, cause: str) -> None:
        super().__init__(
            f"{cause}; payment {payment_id} may have been stored: GET /payments/{payment_id} "
            "before sending it again without an Idempotency-Key"
        )
        self.payment_id = payment_id

    def to_json(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": str(self), "payment_id": self.payment_id}}


class RequestTimedOut(PaysysError):
    """A handler ran past its deadline (usually a slow backend): retry later (503)."""

    status = 503
    code = "request_timeout"


class MalformedMessage(PaysysError):
    """A queue message whose body is not a PaymentCreated event."""

    code = "malformed_message"


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"

    def __init__(self, endpoint_id: str) -> None:
        super().__init__(f"webhook endpoint {endpoint_id} does not exist")


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"

    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"webhook delivery {delivery_id} does not exist")


class WebhookDeliveryScheduled(RequestError):
    """The delivery's next attempt is already on the queue (409): asking again would only
    race it."""

    status = 409
    code = "webhook_delivery_scheduled"


class WebhookEndpointLimit(RequestError):
    """The merchant has as many endpoints as it may (delete one first)."""

    status = 409
    code = "webhook_endpoint_limit"


class WebhooksDisabled(PaysysError):
    """No ``PAYSYS_WEBHOOK_KEY`` is configured: endpoints cannot be given secrets (503)."""

    status = 503
    code = "webhooks_disabled"
