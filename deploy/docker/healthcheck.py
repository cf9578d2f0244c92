"""Container HEALTHCHECK: exit 0 when the API or the worker's health server answers /healthz.

The image runs one role at a time, so whichever port is served is the one to ask. Standard
library only: it runs in the final image with nothing else installed.
"""

import os
import sys
import urllib.error
import urllib.request


def healthy(port: str) -> bool:
    if port in {"", "0"}:
        return False
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:  # noqa: S310 - fixed loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


ports = (os.environ.get("PAYSYS_API_PORT", "8080"), os.environ.get("PAYSYS_WORKER_PORT", "8081"))
sys.exit(0 if any(healthy(p) for p in ports) else 1)
