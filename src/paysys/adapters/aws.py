"""Translation of botocore/aiohttp failures into the paysys error tree."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from paysys.errors import BackendUnavailable
from paysys.observability import tracing


@asynccontextmanager
async def translated(
    service: str,
    operation: str,
    *,
    traced: bool = True,
    parent: tracing.TraceContext | None = None,
    linked: Sequence[tracing.TraceContext] = (),
) -> AsyncIterator[None]:
    """Turn any transport or service failure of one AWS call into ``BackendUnavailable``,
    inside the call's CLIENT span (a child of ``parent``, or of the current context; linked
    to the contexts of ``linked``). ``traced=False``: the caller records the call itself.

    botocore has already retried throttling and 5xx (standard mode, jittered backoff)."""
    with contextlib.ExitStack() as stack:
        if traced:
            stack.enter_context(
                tracing.client_span(service, operation, parent=parent, linked=linked)
            )
        try:
            yield
        except BotoClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise BackendUnavailable(f"{service} {operation} failed: {code}") from exc
        except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
            raise BackendUnavailable(
                f"{service} {operation} unreachable: {type(exc).__name__}"
            ) from exc
