"""Schemathesis hooks for tests/integration/test_openapi.py (loaded through SCHEMATHESIS_HOOKS).

Four rejections of schema-valid data are documented in openapi.json and not failures: one
Idempotency-Key sent with two different bodies (``422 idempotency_key_reused``), a `cursor`
the server did not sign (``400 invalid_cursor``: a cursor is any string by its schema, but only
one the server issued is accepted), and a value within its ``maxLength`` in characters but over
its limit in UTF-8 bytes (``422 validation_error``, every field "must be at most N bytes in
UTF-8": JSON Schema cannot count bytes), and a webhook ``url`` that matches its pattern but
names a host a delivery must not reach (``422 validation_error`` on ``url`` only: loopback,
private, reserved; JSON Schema cannot know addresses). Every other check stays strict.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if getattr(failure, "code", None) != "ST202" or response.status_code not in {400, 422}:
        return True
    try:
        error = response.json()["error"]
        code = error["code"]
        fields = error.get("fields", [])
    except (ValueError, KeyError, TypeError, AttributeError):
        return True
    if code == "validation_error" and fields:
        if case.path == "/webhook-endpoints" and all(f.get("field") == "url" for f in fields):
            return False
        return not all("bytes in UTF-8" in str(f.get("message")) for f in fields)
    return code not in {"idempotency_key_reused", "invalid_cursor"}
