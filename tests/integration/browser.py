"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, for the
tests that look at the Temporal UI as a person would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import websockets

from tests.conftest import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@contextlib.contextmanager
def chromium() -> Iterator[int]:
    """A headless Chromium on a loopback DevTools port, stopped (by PID) afterwards."""
    port = free_port()
    # Chromium's helper processes may write to the profile a moment after it stops.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",  # root in a container: no user namespace sandbox
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                "--remote-debugging-address=127.0.0.1",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers in a process group of its own
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("chromium did not start") from None
                    time.sleep(0.2)
            yield port
        finally:
            # Chromium and the helpers it started: the group its PID leads.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _pages(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
        return [t for t in json.load(answer) if t.get("type") == "page"]


async def page_text_when(port: int, url: str, wanted: str, within: float = 60) -> str:
    """The page's visible text once it contains ``wanted`` (the UI loads and decodes
    asynchronously); raises TimeoutError with the last text otherwise."""
    pages = await asyncio.to_thread(_pages, port)
    ids = itertools.count(1)
    async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:

        async def call(method: str, **params: Any) -> Any:
            call_id = next(ids)
            await ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == call_id:
                    return message.get("result", {})

        await call("Page.navigate", url=url)
        text = ""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            result = await call(
                "Runtime.evaluate", expression="document.body.innerText", returnByValue=True
            )
            text = str(result.get("result", {}).get("value") or "")
            if wanted in text:
                return text
            await asyncio.sleep(0.5)
        raise TimeoutError(f"{wanted!r} not shown at {url}; the page said: {text[-2000:]}")


class Page:
    """One Chromium tab over the DevTools protocol: navigate, read, click, type, capture."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, port: int) -> AsyncIterator[Page]:
        pages = await asyncio.to_thread(_pages, port)
        async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            page = cls(ws)
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=1280,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            yield page

    async def call(self, method: str, **params: Any) -> Any:
        call_id = next(self._ids)
        await self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def text_when(self, wanted: str, within: float = 30) -> str:
        """The page's visible text once it contains ``wanted``."""
        text = ""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            text = str(await self.evaluate("document.body ? document.body.innerText : ''") or "")
            if wanted in text:
                return text
            await asyncio.sleep(0.25)
        raise TimeoutError(f"{wanted!r} never shown; the page said: {text[-2000:]}")

    async def click(self, selector: str) -> None:
        found = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return false; e.click(); return true; })()"
        )
        assert found, f"nothing matches {selector!r}"

    async def fill(self, selector: str, value: str) -> None:
        found = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" if (!e) return false; e.value = {json.dumps(value)}; return true; }})()"
        )
        assert found, f"nothing matches {selector!r}"

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
