"""A real headless Chromium (Debian's ``chromium``) driven over the Chrome DevTools Protocol
with aiohttp, for the browser tests of the pages (tests/system/test_status_page.py,
tests/system/test_api_console.py). ``needs_chromium`` skips them where it is not installed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from paysys.local.procs import stop

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
GUARD_SECONDS = 30.0  # a hang guard, not a speed check


class Browser:
    """One headless Chromium and a CDP session on its page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next_id = 0
        self.console: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        call_id = self._next_id
        await self._ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json()
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            self._note(message)

    def _note(self, event: dict[str, Any]) -> None:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console.append(f"console.{params['type']}: {args}")
        elif event.get("method") == "Runtime.exceptionThrown":
            self.console.append(f"exception: {params['exceptionDetails']}")
        elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
            # the browser's own errors: a blocked by Content-Security-Policy, a failed load
            entry = params["entry"]
            self.console.append(f"log.{entry['source']}: {entry['text']} {entry.get('url', '')}")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'",
            f"{url} loaded",
        )

    async def wait_for(self, expression: str, what: str) -> Any:
        """Poll ``expression`` in the page until it is truthy; return its value."""
        try:
            async with asyncio.timeout(GUARD_SECONDS):
                while True:
                    value = await self.evaluate(expression)
                    if value:
                        return value
                    await asyncio.sleep(0.1)
        except TimeoutError:
            pytest.fail(f"the page never showed {what}; console: {self.console}")

    async def click(self, selector: str) -> None:
        """Click the first element matching ``selector`` once it is there."""
        found = json.dumps(selector)
        await self.wait_for(f"document.querySelector({found}) !== null", selector)
        await self.evaluate(f"document.querySelector({found}).click(); true")

    async def type_into(self, selector: str, text: str) -> None:
        """Replace the text of the input or textarea ``selector`` as typing would (the page's
        own input events fire, which React-driven forms listen to)."""
        found = json.dumps(selector)
        await self.wait_for(f"document.querySelector({found}) !== null", selector)
        await self.evaluate(
            f"(e => {{ e.focus(); e.select(); return true; }})(document.querySelector({found}))"
        )
        await self.send("Input.insertText", text=text)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[Browser]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    stderr_path = tmp_path / "chromium.log"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--no-default-browser-check",
            "--no-pings",
            "--window-size=1280,900",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        port = await _devtools_port(profile, process, stderr_path)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            [page] = [t for t in targets if t["type"] == "page"]
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                browser = Browser(ws)
                await browser.send("Runtime.enable")
                await browser.send("Page.enable")
                await browser.send("Log.enable")
                yield browser
    finally:
        await stop(process)


async def _devtools_port(profile: Path, process: Any, log: Path) -> int:
    """Chromium writes the port it bound (``--remote-debugging-port=0``) to this file."""
    async with asyncio.timeout(GUARD_SECONDS):
        while (port := _read_port(profile / "DevToolsActivePort")) is None:
            if process.returncode is not None:
                pytest.fail(f"chromium exited with {process.returncode}: {_tail(log)}")
            await asyncio.sleep(0.05)
    return port


def _tail(log: Path) -> str:
    return log.read_bytes()[-3000:].decode(errors="replace")


def _read_port(marker: Path) -> int | None:
    try:
        first = marker.read_text().split()
    except FileNotFoundError:
        return None
    return int(first[0]) if first else None


async def keep_screenshot(browser: Browser, name: str, tmp_path: Path) -> Path:
    """A PNG of the page's viewport, in ``$PAYSYS_SCREENSHOTS`` when set (the docs' images are
    made so: ``PAYSYS_SCREENSHOTS=docs/images``), else in ``tmp_path``."""
    directory = Path(os.environ.get("PAYSYS_SCREENSHOTS") or tmp_path)
    path = directory / name
    await browser.screenshot(path)
    assert path.read_bytes().startswith(b"\x89PNG"), path
    return path
