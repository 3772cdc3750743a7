"""Open a page in headless Chromium over the DevTools protocol, for tests of the HTML report.

`visit` starts Chromium with a throw-away profile, loads one URL, and returns what a person
would have seen go wrong (console errors, uncaught exceptions, blocked or failed requests),
every URL the page requested, the values of some JavaScript expressions evaluated in the page,
and a full-page PNG screenshot. Chromium missing is a test failure that says how to install
it, never a skip.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "apt-get update && apt-get install -y chromium (.ci/run does this on a clean machine)"


def chromium() -> str:
    """The Chromium executable; fails the test with how to install it when there is none."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"Chromium is needed to check the HTML report and is not installed: {INSTALL}",
                pytrace=False)


@dataclass
class Visit:
    """What loading a page gave.

    Attributes:
        errors: Console errors, uncaught exceptions, error log entries and failed requests.
        requests: Every URL the page requested, in order.
        values: Expression name -> its value in the loaded page.
        screenshot: The whole page as PNG bytes.
    """

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


class _Session:
    """A DevTools websocket: numbered calls, with the events that arrive meanwhile kept."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv()))

    def close(self) -> None:
        self.ws.close()


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> int:
    """The port Chromium chose, from the DevToolsActivePort file it writes when ready."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Chromium exited with {process.returncode} before it was ready",
                        pytrace=False)
        if marker.is_file() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.05)
    pytest.fail(f"Chromium did not open its DevTools port within {timeout}s", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End Chromium and the helper processes it started (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(10)
            return
        except subprocess.TimeoutExpired:
            continue


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                 for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            found.append("exception: " + params["exceptionDetails"].get("text", ""))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
        elif method == "Network.loadingFailed":
            reason = params.get("errorText") or params.get("blockedReason")
            found.append(f"request failed: {reason}")
    return found


def visit(url: str, expressions: Mapping[str, str], profile: Path, width: int = 1280,
          timeout: float = 30.0) -> Visit:
    """Load `url` in headless Chromium and report what happened.

    Args:
        url: The page (e.g. `file:///.../report.html`).
        expressions: Name -> JavaScript expression, evaluated after the load event.
        profile: An empty directory for Chromium's profile.
        width: Viewport width for the screenshot.
        timeout: Seconds allowed for start-up and for each DevTools answer.

    Returns:
        Errors, requests, expression values and a screenshot.
    """
    process = subprocess.Popen(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-extensions", "--hide-scrollbars",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", f"--window-size={width},900",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    session = None
    try:
        port = _devtools_port(profile, process, timeout)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        session = _Session(page["webSocketDebuggerUrl"], timeout)
        for domain in ("Runtime", "Log", "Network", "Page"):
            session.call(f"{domain}.enable")
        session.call("Page.navigate", url=url)
        session.wait_for("Page.loadEventFired")
        result = Visit()
        for name, expression in expressions.items():
            answer = session.call("Runtime.evaluate", expression=expression, returnByValue=True)
            if "exceptionDetails" in answer:
                raise AssertionError(f"{name}: {answer['exceptionDetails'].get('text')}")
            result.values[name] = answer["result"].get("value")
        size = session.call("Page.getLayoutMetrics")["cssContentSize"]
        session.call("Emulation.setDeviceMetricsOverride", width=width,
                     height=min(int(size["height"]) + 1, 8000), deviceScaleFactor=1,
                     mobile=False)
        shot = session.call("Page.captureScreenshot", format="png")
        result.screenshot = base64.b64decode(shot["data"])
        result.errors = _errors(session.events)
        result.requests = [e["params"]["request"]["url"] for e in session.events
                           if e.get("method") == "Network.requestWillBeSent"]
        return result
    finally:
        if session is not None:
            session.close()
        _stop(process)
