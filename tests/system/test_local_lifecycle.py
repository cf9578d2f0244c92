"""`paysys local` as a real process: its moto child never outlives it.

A SIGKILL runs no cleanup in paysys, so only the kernel can stop the emulator then
(PR_SET_PDEATHSIG, see paysys.local.procs); a SIGHUP (the terminal was closed) is a
graceful stop, like SIGTERM. `paysys local` runs on uvloop, so this also checks that the
child's preexec_fn runs under uvloop's subprocess implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from paysys.local.emulator import MOTO_MODULE
from paysys.local.procs import Child, free_port, start, stop, wait_ready
from paysys.runtime.eventloop import loop_factory

GUARD_SECONDS = 10.0  # hang guards, not speed checks

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    pytest.mark.timeout(30),
]


def emulator_alive(pid: int) -> bool:
    """The moto server ``pid`` still runs (a zombie waiting to be reaped does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and MOTO_MODULE.encode() in cmdline


def log_events(child: Child, name: str) -> list[dict[str, object]]:
    events = []
    for line in child.log_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("event") == name:
                events.append(entry)
    return events


@contextlib.asynccontextmanager
async def paysys_local(tmp_path: Path) -> AsyncIterator[tuple[Child, int]]:
    """`python -m paysys local` on free ports, ready; yields it and its emulator's pid."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSYS_")}
    env.update(
        PAYSYS_API_PORT=str(api_port := free_port()),
        PAYSYS_WORKER_PORT=str(free_port()),
        PAYSYS_LOCAL_EMULATOR_PORT=str(free_port()),
        PAYSYS_LOG_FORMAT="json",
    )
    argv = [sys.executable, "-m", "paysys", "local"]
    child = await start("paysys-local", argv, env=env, log_path=tmp_path / "local.log")
    emulator = 0
    try:
        await wait_ready(f"http://127.0.0.1:{api_port}/readyz", GUARD_SECONDS, child)
        [started] = log_events(child, "server.started")
        emulator = int(str(started["pid"]))
        assert emulator_alive(emulator)
        yield child, emulator
    finally:
        await stop(child, signal.SIGKILL)
        if emulator and emulator_alive(emulator):  # only if the test failed: leave nothing
            os.kill(emulator, signal.SIGKILL)


async def wait_gone(pid: int) -> None:
    async with asyncio.timeout(GUARD_SECONDS):
        while emulator_alive(pid):  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.05)


# Prints the child's parent-death signal (prctl PR_GET_PDEATHSIG).
_PDEATHSIG = (
    "import ctypes; v = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(v)); print(v.value)"
)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_children_get_sigterm_when_their_parent_dies(loop: str) -> None:
    async def pdeathsig() -> int:
        child = await start("probe", [sys.executable, "-c", _PDEATHSIG], stdout=PIPE)
        output, _ = await child.process.communicate()
        return int(output)

    factory = loop_factory() if loop == "uvloop" else None
    assert factory is not None or loop == "asyncio"
    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(pdeathsig()) == signal.SIGTERM


async def test_sigkill_of_paysys_local_leaves_no_emulator(tmp_path: Path) -> None:
    async with paysys_local(tmp_path) as (local, emulator):
        assert await stop(local, signal.SIGKILL) == -signal.SIGKILL
        await wait_gone(emulator)
        assert not emulator_alive(emulator)


async def test_sighup_stops_paysys_local_gracefully_with_its_emulator(tmp_path: Path) -> None:
    async with paysys_local(tmp_path) as (local, emulator):
        assert await stop(local, signal.SIGHUP, grace_seconds=GUARD_SECONDS) == 0
        assert [e["signal"] for e in log_events(local, "signal.received")] == ["SIGHUP"]
        assert log_events(local, "server.stopped")  # paysys stopped it, in order
        await wait_gone(emulator)
        assert not emulator_alive(emulator)
