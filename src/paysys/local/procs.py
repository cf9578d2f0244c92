"""Child processes of the dev tooling: start one, wait until it is ready, stop it.

The one helper behind the emulator launcher (moto, dynalite), the latency proxies, the
benchmark's role processes and the tests' role processes.

A child dies with its parent. On Linux each child is started with
``prctl(PR_SET_PDEATHSIG, SIGTERM)`` run between fork and exec (``preexec_fn``), so when the
process that started it dies, even by SIGKILL, which runs no cleanup at all, the kernel sends
the child SIGTERM. Both asyncio's default loop and uvloop (the loop ``paysys local`` and the
benchmark run on) call ``preexec_fn`` in the child; ``tests/system/test_local_lifecycle.py`` checks
both. So neither a wrapper that sets the flag and then execs (a second interpreter start per
child) nor a watcher polling ``getppid()`` (code inside moto and node we do not own) is
needed. SIGTERM, not SIGKILL: a paysys role drains, moto and dynalite simply exit. Details:

- The kernel ties the signal to the *thread* that forked, not the process: start children
  from the thread that runs the event loop (the main thread), never from a worker thread.
- If the parent dies between fork and ``prctl``, nobody would signal the child: it compares
  ``getppid()`` with the pid it was forked from and stops itself.
- The flag survives ``exec`` (except of a set-user-id program, which none of ours is).
- ``preexec_fn`` runs Python in the forked child, where only the forking thread survives; it
  does the least it can there: a C function resolved before the fork and two ``os`` calls.

Elsewhere (macOS) there is no such call: children are stopped by :func:`stop` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp
import structlog

from paysys.errors import BackendUnavailable

log = structlog.get_logger(__name__)

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Child:
    """A started child process; its stdout and stderr go to ``log_path`` (or nowhere)."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def log_text(self) -> str:
        if self.log_path is None:
            return ""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]


async def start(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    stdout: int | None = None,
    new_session: bool = False,
) -> Child:
    """Start ``argv``. Its output goes to ``log_path`` (stdout and stderr), or nowhere;
    ``stdout=asyncio.subprocess.PIPE`` gives the parent its stdout instead. With
    ``new_session`` a terminal's Ctrl-C reaches only us, and we stop the child in order."""
    with contextlib.ExitStack() as files:
        output: int | IO[bytes] = asyncio.subprocess.DEVNULL
        if log_path is not None:
            output = files.enter_context(log_path.open("wb"))  # the child keeps its own copy
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=None if env is None else dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output if stdout is None else stdout,
            stderr=output,
            start_new_session=new_session,
            preexec_fn=_die_with_parent(),
        )
    return Child(name, process, log_path)


async def run_to_end(argv: Sequence[str], *, timeout_seconds: float = 60.0) -> str:
    """Run ``argv`` to its end (an install step, a probe): its output (stdout and stderr).
    Raises ``BackendUnavailable``, with the output's tail, when it fails or overruns."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=_die_with_parent(),
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout_seconds)
    except TimeoutError:
        await stop(process, grace_seconds=2.0)
        raise BackendUnavailable(f"{argv[0]} took over {timeout_seconds:g}s") from None
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise BackendUnavailable(
            f"{' '.join(argv[:4])} failed ({process.returncode}): {text[-2000:]}"
        )
    return text


async def start_ready(
    name: str,
    argv: Sequence[str],
    ready_url: str,
    ready_seconds: float,
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    new_session: bool = False,
    accept: Callable[[bytes], bool] | None = None,
) -> Child:
    """:func:`start`, then :func:`wait_ready`; a child that never gets ready is stopped."""
    child = await start(name, argv, env=env, log_path=log_path, new_session=new_session)
    try:
        await wait_ready(ready_url, ready_seconds, child, accept=accept)
    except BaseException:
        await stop(child)
        raise
    return child


async def wait_ready(
    url: str,
    ready_seconds: float = 30.0,
    child: Child | None = None,
    *,
    accept: Callable[[bytes], bool] | None = None,
) -> None:
    """Poll ``url`` until it answers 200 (with a body ``accept`` likes, when given); fail
    early if ``child`` exits, with its log's tail."""
    deadline = time.monotonic() + ready_seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if child is not None and not child.running:
                code = child.process.returncode
                raise BackendUnavailable(f"{child.name} exited with code {code}{_tail(child)}")
            try:
                async with http.get(url) as response:
                    if response.status == 200 and (accept is None or accept(await response.read())):
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    where = child.name if child else url
    raise BackendUnavailable(
        f"{where} did not answer {url} within {ready_seconds:g}s{_tail(child)}"
    )


async def stop(
    child: Child | asyncio.subprocess.Process,
    sig: signal.Signals = signal.SIGTERM,
    grace_seconds: float = 10.0,
) -> int:
    """Send ``sig``, wait up to ``grace_seconds``, then SIGKILL; always reaped. The exit code."""
    process = child.process if isinstance(child, Child) else child
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            await asyncio.wait_for(process.wait(), grace_seconds)
        except TimeoutError:
            name = child.name if isinstance(child, Child) else str(process.pid)
            log.warning("process.killed", name=name, pid=process.pid, after_s=grace_seconds)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    return await process.wait()


def _tail(child: Child | None) -> str:
    text = child.log_tail() if child is not None else ""
    return f"; its log ends with:\n{text}" if text else ""


def _die_with_parent() -> Callable[[], None] | None:
    """The ``preexec_fn`` that makes the child get SIGTERM when we die (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, in the parent
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child
