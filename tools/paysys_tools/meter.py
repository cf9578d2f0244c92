"""The embedded emulator's billing meter, seen from outside: its totals, its reset, and a
DynamoDB client whose requests it does not meter (for a tool's own polling).

See :mod:`paysys.local.metering` for what it counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from paysys.local.metering import BILLING_PATH, EXEMPT_AGENT, RESET_PATH


async def read_meter(endpoint: str) -> dict[str, Any]:
    """The meter's totals: ``{"wru": {op: n}, "rru": ..., "calls": ..., "index_wru": ...,
    "tables": {...}}``."""
    async with aiohttp.ClientSession() as http, http.get(f"{endpoint}{BILLING_PATH}") as reply:
        reply.raise_for_status()
        totals: dict[str, Any] = await reply.json()
    return totals


async def reset_meter(endpoint: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{endpoint}{RESET_PATH}") as reply:
        reply.raise_for_status()


@contextlib.asynccontextmanager
async def dynamodb_client(
    endpoint: str, region: str = "us-east-1", *, metered: bool = True
) -> AsyncIterator[Any]:
    """A plain aiobotocore DynamoDB client for the emulator (not metered: ``metered=False``)."""
    config = AioConfig(user_agent_extra=None if metered else EXEMPT_AGENT)
    client = get_session().create_client(
        "dynamodb",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
        config=config,
    )
    async with client as opened:
        yield opened
