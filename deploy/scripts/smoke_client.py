"""The host side of `make smoke`: wait for the API, POST a payment, poll until it is Approved.

    SMOKE_API_KEY=psk_... python deploy/scripts/smoke_client.py http://127.0.0.1:PORT [--timeout S]

With SMOKE_API_KEY it first checks that a POST without the key is refused (401), then sends the
key (Authorization: Bearer) with every request. Standard library only (it runs with whatever
Python runs make). Prints one JSON line with what it saw; exits 1 with the reason when the API
does not become ready or the payment is not approved in time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

API_KEY = os.environ.get("SMOKE_API_KEY", "")


def call(
    method: str, url: str, body: dict[str, Any] | None = None, *, key: str = API_KEY
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_ready(base: str, deadline: float) -> None:
    last: object = "no answer"
    while time.monotonic() < deadline:
        try:
            status, body = call("GET", f"{base}/readyz")
        except (urllib.error.URLError, OSError) as exc:
            status, body = 0, str(exc)
        if status == 200:
            return
        last = body
        time.sleep(0.5)
    raise SystemExit(f"smoke: the API at {base} did not become ready: {last}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout

    wait_ready(args.base, deadline)
    payment = {"amount": "12.50", "currency": "BRL", "description": "smoke"}
    if API_KEY:
        status, refused = call("POST", f"{args.base}/payments", payment, key="")
        if status != 401:
            raise SystemExit(f"smoke: POST /payments without a key answered {status}: {refused}")
    status, created = call("POST", f"{args.base}/payments", payment)
    if status != 202 or not isinstance(created, dict):
        raise SystemExit(f"smoke: POST /payments answered {status}: {created}")
    posted = time.monotonic()
    seen = [created["status"]]
    while time.monotonic() < deadline:
        status, payment = call("GET", f"{args.base}/payments/{created['id']}")
        if status != 200 or not isinstance(payment, dict):
            raise SystemExit(f"smoke: GET /payments/{created['id']} answered {status}: {payment}")
        if payment["status"] != seen[-1]:
            seen.append(payment["status"])
        if payment["status"] == "Approved":
            summary = {
                "id": created["id"],
                "statuses": seen,
                "approved_after_s": round(time.monotonic() - posted, 2),
            }
            sys.stdout.write(json.dumps(summary) + "\n")
            return 0
        time.sleep(0.2)
    raise SystemExit(f"smoke: payment {created['id']} not approved in time; statuses seen: {seen}")


if __name__ == "__main__":
    sys.exit(main())
