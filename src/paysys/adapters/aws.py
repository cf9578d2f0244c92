"""Translation of botocore/aiohttp failures into the paysys error tree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from paysys.errors import BackendUnavailable


@asynccontextmanager
async def translated(service: str, operation: str) -> AsyncIterator[None]:
    """Turn any transport or service failure of one AWS call into ``BackendUnavailable``.

    botocore has already retried throttling and 5xx (standard mode, jittered backoff)."""
    try:
        yield
    except BotoClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise BackendUnavailable(f"{service} {operation} failed: {code}") from exc
    except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
        raise BackendUnavailable(
            f"{service} {operation} unreachable: {type(exc).__name__}"
        ) from exc
