"""The entrypoint: reads settings, configures logging, runs a role or a command.

paysys --role api | --role worker     serve one role (what a container runs)
paysys provision                      create table/topic/queues/subscription, idempotently
paysys local                          embedded emulator + provision + API + worker
paysys config [--markdown]            every setting, its value, source and default
paysys dlq list | redrive             show dead letters (and why) / move them back
paysys events tail [--type T] [--merchant M]   print outcome events as they arrive
paysys keygen                         a new API key and the hash for PAYSYS_API_KEYS
paysys iam-policy --role R            the least-privilege IAM policy of api, worker or provision
paysys capacity [--rate R]            per-partition writes/s at R payments/s, against the limits
paysys infra cloudformation           the CloudFormation template of every AWS resource (YAML)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import structlog

from paysys.api.auth import decide_auth, new_key
from paysys.config import Settings
from paysys.config_docs import markdown_table, render_config
from paysys.core.domain import MERCHANT_ID
from paysys.core.outcomes import OUTCOME_TYPES
from paysys.errors import PaysysError
from paysys.logging import configure_logging
from paysys.runtime.capacity import render as render_capacity
from paysys.runtime.dlq import list_dead_letters, redrive
from paysys.runtime.eventloop import loop_factory
from paysys.runtime.iam import ROLES, policy
from paysys.runtime.infra.cloudformation import render as render_cloudformation
from paysys.runtime.provision import provision
from paysys.runtime.resources import open_clients, open_resources
from paysys.runtime.roles import run_api, run_worker
from paysys.runtime.tail import tail
from paysys.runtime.telemetry import role_tracing, traces_exporter

log = structlog.get_logger(__name__)

COMMANDS = (
    "serve",
    "provision",
    "local",
    "config",
    "dlq",
    "events",
    "keygen",
    "iam-policy",
    "capacity",
    "infra",
)
ACTIONS = {"dlq": ("list", "redrive"), "events": ("tail",), "infra": ("cloudformation",)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paysys", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command", nargs="?", default="serve", choices=COMMANDS, help="default: serve --role"
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=[a for actions in ACTIONS.values() for a in actions],
        help="dlq: list or redrive; events: tail; infra: cloudformation",
    )
    parser.add_argument(
        "--type", action="append", default=[], choices=sorted(OUTCOME_TYPES.values()),
        help="events tail: only this event type (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--rate", type=float, default=10_000.0, help="capacity: payments per second (10000)"
    )
    parser.add_argument(
        "--merchant", type=_merchant, help="keygen: the key's merchant; events tail: a filter"
    )
    parser.add_argument(
        "--role", choices=ROLES, help="the role to serve (api, worker) or its iam-policy"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="config: print the README's settings table"
    )
    return parser


def _merchant(text: str) -> str:
    if not MERCHANT_ID.fullmatch(text):
        raise argparse.ArgumentTypeError("1-63 of a-z, 0-9, _ and -, starting with a-z or 0-9")
    return text


_CHOICES = {
    "serve": "a role: --role api | --role worker",
    "events": "events tail [--type T] [--merchant M]",
    "dlq": "dlq list | dlq redrive",
}


def _missing_choice(args: argparse.Namespace) -> str | None:
    """What to choose when the command needs a role or an action it was not given."""
    if args.command == "serve":
        return None if args.role in ("api", "worker") else _CHOICES["serve"]
    if args.command in ("events", "dlq") and args.action not in ACTIONS[args.command]:
        return _CHOICES[args.command]
    return None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:  # noqa: PLR0911
    env = os.environ if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from paysys.devtools.bench.cli import main as bench_main  # noqa: PLC0415 - only the bench needs it

        return bench_main(argv[1:], env)
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(env)
        if args.command == "serve" and args.role == "api":
            decide_auth(settings, embedded=False)  # refuse before opening any client
        traces_exporter(env)  # refuse OTEL_* settings it cannot honour, as early
    except PaysysError as exc:
        sys.stderr.write(f"paysys: {exc}\n")
        return 2
    if args.command == "config":
        sys.stdout.write(markdown_table() if args.markdown else render_config(settings, env))
        return 0
    if args.command == "keygen":
        key, entry = new_key(args.merchant)
        sys.stdout.write(
            f"key:  {key}\nhash: {entry}\n"
            "Give the key to the client; add the hash line to PAYSYS_API_KEYS "
            "(comma-separated).\n"
        )
        return 0
    if args.command == "capacity":
        sys.stdout.write(render_capacity(settings, args.rate))
        return 0
    if args.command == "infra":
        return _infra(args.action, settings)
    if args.command == "iam-policy":
        if args.role is None:
            sys.stderr.write("paysys: choose: iam-policy --role api | worker | provision\n")
            return 2
        sys.stdout.write(json.dumps(policy(args.role, settings), indent=2) + "\n")
        return 0
    if missing := _missing_choice(args):
        sys.stderr.write(f"paysys: choose: {missing}\n")
        return 2
    configure_logging(settings.log_format, settings.log_level)
    command: Command = {
        "provision": _provision,
        "local": _local,
        "dlq": _dlq_list if args.action == "list" else _dlq_redrive,
        "events": _tail_command(args.type, args.merchant),
        "serve": _serve_api if args.role == "api" else _serve_worker,
    }[args.command]
    traced = {"serve": args.role, "local": "local"}.get(args.command)
    try:
        with (
            role_tracing(traced, env),  # flushed after the loop has closed
            asyncio.Runner(loop_factory=loop_factory()) as runner,
        ):
            runner.run(_until_signalled(command, settings))
    except PaysysError as exc:
        log.error("paysys.failed", error=str(exc), code=exc.code)
        return 1
    return 0


def _infra(action: str | None, settings: Settings) -> int:
    if action not in ACTIONS["infra"]:
        sys.stderr.write("paysys: choose: infra cloudformation\n")
        return 2
    sys.stdout.write(render_cloudformation(settings))
    return 0


Command = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


async def _until_signalled(command: Command, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP: the terminal of `make run` / `paysys local` was closed; stop as cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    await command(settings, stop)


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("signal.received", signal=sig.name)
    stop.set()


def _tail_command(types: list[str], merchant: str | None) -> Command:
    async def events_tail(settings: Settings, stop: asyncio.Event) -> None:
        async with open_clients(settings) as clients:
            await tail(clients, stop, types, merchant, _print_line)

    return events_tail


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _provision(settings: Settings, _: asyncio.Event) -> None:
    async with open_clients(settings) as clients:
        await provision(clients)


async def _dlq_list(settings: Settings, _: asyncio.Event) -> None:
    async with open_resources(settings) as resources:
        letters = await list_dead_letters(resources.dlq, resources.payments)
    for letter in letters:
        sys.stdout.write(json.dumps(letter.to_json()) + "\n")
    log.info("dlq.listed", count=len(letters), dlq=settings.dlq_name)


async def _dlq_redrive(settings: Settings, _: asyncio.Event) -> None:
    async with open_resources(settings) as resources:
        moved = await redrive(resources.dlq, resources.queue)
    log.info("dlq.redriven", count=moved, dlq=settings.dlq_name, queue=settings.queue_name)


async def _serve_api(settings: Settings, stop: asyncio.Event) -> None:
    async with open_resources(settings) as resources:
        await run_api(settings, resources, stop)


async def _serve_worker(settings: Settings, stop: asyncio.Event) -> None:
    async with open_resources(settings) as resources:
        await run_worker(settings, resources, stop)


async def _local(settings: Settings, stop: asyncio.Event) -> None:
    """Embedded mode: emulator (unless an endpoint is configured), provision, API + worker."""
    async with contextlib.AsyncExitStack() as stack:
        if settings.aws_endpoint_url is None:
            from paysys.devtools.emulator import moto_server  # noqa: PLC0415 - roles never need it

            endpoint = await stack.enter_async_context(moto_server(settings.local_emulator_port))
            settings = settings.replace(aws_endpoint_url=endpoint)
        async with open_clients(settings) as clients:
            await provision(clients)
        resources = await stack.enter_async_context(open_resources(settings))
        base = f"http://{settings.api_host}:{settings.api_port}"
        log.info(
            "local.ready",
            api=base,
            aws_endpoint=settings.aws_endpoint_url,
            try_it=f"curl -s -XPOST {base}/payments -H 'Content-Type: application/json' "
            '-d \'{"amount": "12.50", "currency": "BRL"}\'',
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(run_api(settings, resources, stop, embedded=True))
            group.create_task(run_worker(settings, resources, stop))
