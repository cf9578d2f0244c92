"""The HTTP client of webhook deliveries: one POST per attempt, bounded in every way.

One ``aiohttp.ClientSession`` per worker, with a connect and a read timeout, a connection
limit overall and per host, redirects never followed and at most ``RESPONSE_CAP_BYTES`` of a
response body read. Its resolver resolves a host, refuses the addresses a delivery must not
reach (``paysys.core.webhooks.address_problem``: loopback, private, link-local, metadata;
nothing in local mode) and hands only the checked addresses to the connector, which connects
to those: a host that resolves to a public address at registration and to a private one later
(DNS rebinding) is refused at connect time.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from paysys.core.webhooks import WebhookMode, address_problem

RESPONSE_CAP_BYTES = 4096
USER_AGENT = "paysys-webhooks/1"


class RefusedAddress(OSError):
    """Every address of the host is one a delivery must not connect to."""


class CheckingResolver(AbstractResolver):
    """aiohttp's default resolver, then the check of each address it answered."""

    def __init__(self, mode: WebhookMode) -> None:
        self._inner = aiohttp.DefaultResolver()
        self._mode = mode

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        allowed = [a for a in answers if address_problem(a["host"], self._mode) is None]
        if not allowed:
            problem = address_problem(answers[0]["host"], self._mode) if answers else None
            raise RefusedAddress(f"{host}: {problem or 'no address'}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST: the status (None: no answer), the time it took, what went wrong."""

    status: int | None
    seconds: float
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def open_session(
    mode: WebhookMode,
    *,
    connect_seconds: float,
    read_seconds: float,
    limit: int,
    limit_per_host: int,
) -> aiohttp.ClientSession:
    """The deliveries' session (the caller closes it)."""
    connector = aiohttp.TCPConnector(
        resolver=CheckingResolver(mode), limit=limit, limit_per_host=limit_per_host
    )
    timeout = aiohttp.ClientTimeout(
        total=connect_seconds + read_seconds, sock_connect=connect_seconds, sock_read=read_seconds
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


@dataclass(frozen=True, slots=True)
class WebhookSender:
    session: aiohttp.ClientSession

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        """POST ``body``; never raises for what the endpoint or the network does."""
        started = time.perf_counter()
        try:
            async with self.session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", **headers},
                allow_redirects=False,
            ) as response:
                await response.content.read(RESPONSE_CAP_BYTES)  # at most that much
                return Attempt(response.status, time.perf_counter() - started)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            cause = getattr(exc, "os_error", None)  # a connector error wraps the resolver's
            shown = cause if isinstance(cause, RefusedAddress) else exc
            error = f"{type(shown).__name__}: {shown}"[:200]
            return Attempt(None, time.perf_counter() - started, error)


async def resolved_problem(url: str, mode: WebhookMode, within: float = 2.0) -> str | None:
    """Why ``url``'s host must not be registered, judged by what it resolves to now: any
    refused address is a problem. A host that does not resolve (yet) passes: the check at
    connect time (``CheckingResolver``) is the one that guards every delivery."""
    host = urlsplit(url).hostname
    if mode == "local" or not host:
        return None
    try:
        async with asyncio.timeout(within):
            answers = await asyncio.get_running_loop().getaddrinfo(host, None)
    except (OSError, TimeoutError, ValueError):  # ValueError: a name IDNA cannot encode
        return None
    for *_, address in answers:
        if problem := address_problem(str(address[0]), mode):
            return f"resolves to {address[0]}: {problem}"
    return None
