"""The entrypoint: reads settings, configures logging, runs a role or an operator command.

``paysys --help`` lists the commands and ``paysys COMMAND --help`` each one's flags.
``paysys --role api|worker`` (what a container runs) is ``paysys serve --role api|worker``.
Commands of installed dev tooling (``paysys bench``) plug in through the ``paysys.commands``
entry point group: each entry is a callable that adds its subparser.
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
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import structlog

from paysys.api.auth import decide_auth, new_key
from paysys.config import Settings
from paysys.config_docs import markdown_table, render_config
from paysys.core.domain import merchant_id_problem
from paysys.core.outcomes import OUTCOME_TYPES
from paysys.errors import PaysysError
from paysys.observability.logging import configure_logging
from paysys.observability.telemetry import role_tracing, traces_exporter
from paysys.ops.capacity import command as capacity_command
from paysys.ops.dlq import list_dead_letters, redrive
from paysys.ops.iam import ROLES, policy
from paysys.ops.infra.cloudformation import render as render_cloudformation
from paysys.ops.provision import provision
from paysys.ops.tail import tail
from paysys.ops.webhooks import command as webhooks_command
from paysys.runtime.eventloop import loop_factory
from paysys.runtime.resources import open_clients, open_resources
from paysys.runtime.roles import run_api, run_worker
from paysys.runtime.webhook_role import local_settings

log = structlog.get_logger(__name__)

SERVED_ROLES = ("api", "worker")
PLUGIN_GROUP = "paysys.commands"

# A command's body: what it runs once the settings are read (exit status back).
Run = Callable[[argparse.Namespace, Settings, Mapping[str, str]], int]
# A long-running command: runs on the event loop until done or signalled.
Command = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]
if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paysys", description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--role", choices=SERVED_ROLES, help="serve this role: the same as `paysys serve --role R`"
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    _add(commands, "serve", "serve one role (what a container runs)", _serve).add_argument(
        "--role", choices=SERVED_ROLES, required=True, help="api or worker"
    )
    _add(commands, "provision", "create table/topic/queues/subscription, idempotently", _provision)
    _add(commands, "local", "embedded emulator + provision + API + worker (`make run`)", _local)
    _add(commands, "config", "every setting, its value, source and default", _config).add_argument(
        "--markdown", action="store_true", help="print the docs' settings table instead"
    )
    _add(
        commands, "keygen", "a new API key and the hash for PAYSYS_API_KEYS", _keygen
    ).add_argument("--merchant", type=_merchant, help="the key's merchant (default: default)")
    _add(commands, "iam-policy", "the least-privilege IAM policy of a role", _iam).add_argument(
        "--role", choices=ROLES, required=True, help="api, worker or provision"
    )
    capacity = _add(commands, "capacity", capacity_command.SUMMARY, capacity_command.run)
    capacity_command.add_arguments(capacity)
    dlq = _group(commands, "dlq", "dead letters: list them (and why) or move them back")
    _add(dlq, "list", "print each dead letter and why it is there", _dlq_list)
    _add(dlq, "redrive", "move every dead letter back to the queue", _dlq_redrive)
    events = _group(commands, "events", "the outcome events")
    tail_parser = _add(events, "tail", "print outcome events as they arrive", _events_tail)
    tail_parser.add_argument(
        "--type", action="append", default=[], choices=sorted(OUTCOME_TYPES.values()),
        help="only this event type (repeatable)",
    )  # fmt: skip
    tail_parser.add_argument("--merchant", type=_merchant, help="only this merchant's events")
    infra = _group(commands, "infra", "infrastructure as code")
    _add(infra, "cloudformation", "the CloudFormation template of every AWS resource", _infra)
    webhooks_command.add_commands(commands)
    for plugin in entry_points(group=PLUGIN_GROUP):
        plugin.load()(commands)
    return parser


def _add(commands: Subparsers, name: str, summary: str, run: Run) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(run=run)
    return parser


def _group(commands: Subparsers, name: str, summary: str) -> Subparsers:
    parser = commands.add_parser(name, help=summary, description=summary)
    return parser.add_subparsers(dest="action", title="actions", metavar="ACTION", required=True)


def _merchant(text: str) -> str:
    if problem := merchant_id_problem(text):
        raise argparse.ArgumentTypeError(f"the merchant id {problem}")
    return text


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        if args.role is None:
            sys.stderr.write(
                "paysys: choose: a role: --role api | --role worker, or a command (--help)\n"
            )
            return 2
        args.run = _serve
    try:
        settings = Settings.from_env(env)
        if args.run is _serve and args.role == "api":
            decide_auth(settings, embedded=False)  # refuse before opening any client
        traces_exporter(env)  # refuse OTEL_* settings it cannot honour, as early
    except PaysysError as exc:
        sys.stderr.write(f"paysys: {exc}\n")
        return 2
    run: Run = args.run
    return run(args, settings, env)


def _config(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    sys.stdout.write(markdown_table() if args.markdown else render_config(settings, env))
    return 0


def _keygen(args: argparse.Namespace, _: Settings, __: Mapping[str, str]) -> int:
    key, entry = new_key(args.merchant)
    sys.stdout.write(
        f"key:  {key}\nhash: {entry}\n"
        "Give the key to the client; add the hash line to PAYSYS_API_KEYS (comma-separated).\n"
    )
    return 0


def _infra(_: argparse.Namespace, settings: Settings, __: Mapping[str, str]) -> int:
    sys.stdout.write(render_cloudformation(settings))
    return 0


def _iam(args: argparse.Namespace, settings: Settings, _: Mapping[str, str]) -> int:
    sys.stdout.write(json.dumps(policy(args.role, settings), indent=2) + "\n")
    return 0


def _running(command: Command, traced: str | None = None) -> Run:
    """A command that runs on the event loop until it ends or a signal stops it."""

    def run(_: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
        configure_logging(settings.log_format, settings.log_level)
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

    return run


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


def _serve(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    serve = _serve_api if args.role == "api" else _serve_worker
    return _running(serve, traced=args.role)(args, settings, env)


def _events_tail(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    types: list[str] = args.type
    merchant: str | None = args.merchant

    async def events_tail(settings: Settings, stop: asyncio.Event) -> None:
        async with open_clients(settings) as clients:
            await tail(clients, stop, types, merchant, _print_line)

    return _running(events_tail)(args, settings, env)


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _provision_once(settings: Settings, _: asyncio.Event) -> None:
    async with open_clients(settings) as clients:
        await provision(clients)


async def _list_dead_letters(settings: Settings, _: asyncio.Event) -> None:
    async with open_resources(settings) as resources:
        letters = await list_dead_letters(resources.dlq, resources.payments)
    for letter in letters:
        sys.stdout.write(json.dumps(letter.to_json()) + "\n")
    log.info("dlq.listed", count=len(letters), dlq=settings.dlq_name)


async def _redrive_dead_letters(settings: Settings, _: asyncio.Event) -> None:
    async with open_resources(settings) as resources:
        moved = await redrive(resources.dlq, resources.queue)
    log.info("dlq.redriven", count=moved, dlq=settings.dlq_name, queue=settings.queue_name)


async def _serve_api(settings: Settings, stop: asyncio.Event) -> None:
    async with open_resources(settings) as resources:
        await run_api(settings, resources, stop)


async def _serve_worker(settings: Settings, stop: asyncio.Event) -> None:
    async with open_resources(settings) as resources:
        await run_worker(settings, resources, stop)


async def _run_local(settings: Settings, stop: asyncio.Event) -> None:
    """Embedded mode: emulator (unless an endpoint is configured), provision, API + worker."""
    settings = local_settings(settings)  # before the emulator's endpoint is set
    async with contextlib.AsyncExitStack() as stack:
        if settings.aws_endpoint_url is None:
            from paysys.local.emulator import moto_server  # noqa: PLC0415 - roles never need it

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


_provision = _running(_provision_once)
_local = _running(_run_local, traced="local")
_dlq_list = _running(_list_dead_letters)
_dlq_redrive = _running(_redrive_dead_letters)
