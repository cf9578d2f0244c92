"""``paysys webhooks verify`` (check a delivery's signature) and ``paysys webhooks listen``
(a local receiver that prints each delivery and whether its signature verifies)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from paysys.config import Settings
from paysys.core.webhook_signing import (
    DEFAULT_TOLERANCE_SECONDS,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    verify,
)

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

SUMMARY = "webhook deliveries: verify a signature, or listen locally and print them"


def add_commands(commands: Subparsers) -> None:
    parser = commands.add_parser("webhooks", help=SUMMARY, description=SUMMARY)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("verify", help="verify a delivery's Paysys-Signature")
    check.set_defaults(run=run_verify)
    check.add_argument("--secret", required=True, help="the endpoint's signing secret (whsec_…)")
    check.add_argument("--header", required=True, help="the Paysys-Signature header's value")
    check.add_argument("--body", required=True, type=Path, help="a file with the raw body")
    check.add_argument(
        "--tolerance",
        type=int,
        default=DEFAULT_TOLERANCE_SECONDS,
        help=f"largest age of the timestamp, seconds ({DEFAULT_TOLERANCE_SECONDS})",
    )
    listen = actions.add_parser("listen", help="a local receiver printing each delivery")
    listen.set_defaults(run=run_listen)
    listen.add_argument("--port", type=int, default=9000, help="port on 127.0.0.1 (9000)")
    listen.add_argument("--secret", help="verify each delivery with this secret")


def run_verify(args: argparse.Namespace, _: Settings, __: Mapping[str, str]) -> int:
    """Exit 0 and print the timestamp when the signature holds; 1 and why when not."""
    try:
        timestamp = verify(
            args.secret, args.header, args.body.read_bytes(), tolerance_seconds=args.tolerance
        )
    except SignatureError as exc:
        sys.stdout.write(f"invalid: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"paysys: cannot read {args.body}: {exc.strerror}\n")
        return 2
    sys.stdout.write(f"valid: signed at {timestamp}\n")
    return 0


def receiver(secret: str | None, out: list[str] | None = None) -> web.Application:
    """An app answering 200 to every POST, printing (or collecting into ``out``) each one."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER, "")
        verdict = "unchecked"
        if secret is not None:
            try:
                verify(secret, header, body)
                verdict = "valid"
            except SignatureError as exc:
                verdict = f"invalid ({exc})"
        line = (
            f"{request.method} {request.path_qs} event={request.headers.get(EVENT_ID_HEADER)} "
            f"signature={verdict} body={body.decode(errors='replace')}"
        )
        if out is not None:
            out.append(line)
        else:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receive)
    return app


def run_listen(args: argparse.Namespace, _: Settings, __: Mapping[str, str]) -> int:
    sys.stdout.write(f"listening on http://127.0.0.1:{args.port}/ (Ctrl-C stops)\n")
    asyncio.run(_serve(receiver(args.secret), args.port))
    return 0


async def _serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
