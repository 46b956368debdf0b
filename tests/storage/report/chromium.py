"""Load a page in headless Chromium over the DevTools protocol: console errors, requests, a check script, screenshots.

No browser-automation package: Chromium is started with ``--remote-debugging-port=0`` and driven
over its DevTools websocket with ``websockets`` (installed with Prefect). The flags keep it off
the network (the users are air-gapped, and so is CI): no background networking, component
updates, sync or QUIC, a fresh profile per launch.

Get Chromium on Debian/Ubuntu with ``make browser`` (``apt-get install chromium`` when it is
missing); without it the tests that need it are skipped, naming this.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PageResult", "chromium_binary", "load_page"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_binary() -> str | None:
    """The Chromium (or Chrome) executable on PATH, or ``$CHROMIUM`` when set; None without one."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageResult:
    """What loading a page showed."""

    console_errors: list[str] = field(default_factory=list)  # console.error, uncaught exceptions, log entries of level error
    requests: list[str] = field(default_factory=list)  # every URL the page asked for (its own file included)
    check: Any = None  # the value the check script returned
    screenshots: dict[str, bytes] = field(default_factory=dict)  # name -> PNG


class _Session:
    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.socket = connect(url, max_size=256 * 1024 * 1024, open_timeout=20)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, session: str | None = None, timeout: float = 30.0, **params: Any) -> dict:
        number = next(self.ids)
        message = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if reply.get("id") == number:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self.events.append(event)
            if event.get("method") == method:
                return event


def _errors(events: list[dict]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    return errors


def load_page(
    path: str | os.PathLike,
    check_script: str | None = None,
    screenshots: dict[str, str] | None = None,
    width: int = 1280,
    height: int = 900,
    binary: str | None = None,
    timeout_s: float = 60.0,
) -> PageResult:
    """Open ``path`` in headless Chromium and report what it did.

    Args:
        path: The HTML file.
        check_script: A JavaScript expression evaluated after the load event (settled for 0.5 s);
            its JSON value is ``PageResult.check``.
        screenshots: name -> a JavaScript expression giving the element (``document.querySelector(...)``)
            whose top the page is scrolled to before a ``width`` x ``height`` PNG of the viewport is taken.
        width, height: The viewport in CSS pixels.
        binary: The Chromium executable [default: :func:`chromium_binary`].
        timeout_s: Longest wait for Chromium to start and for the page to load.

    Raises:
        RuntimeError: Chromium missing, not starting, or a DevTools call failing.
    """
    binary = binary or chromium_binary()
    if binary is None:
        raise RuntimeError("no Chromium on PATH; run `make browser` (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="sf-chromium-")
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline, url = time.monotonic() + timeout_s, None
        while url is None:
            line = process.stderr.readline()
            if not line:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{binary} did not start (exit status {process.poll()})")
                continue
            match = _LISTENING.search(line)
            url = match.group(1) if match else None
        browser = _Session(url)
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session)
        browser.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1, mobile=False)
        browser.events.clear()
        browser.call("Page.navigate", session, url=Path(path).resolve().as_uri())
        browser.wait_for("Page.loadEventFired", timeout=timeout_s)
        time.sleep(0.5)
        result = PageResult()
        if check_script is not None:
            value = browser.call("Runtime.evaluate", session, expression=check_script, returnByValue=True)
            if "exceptionDetails" in value:
                raise RuntimeError(f"check script failed: {value['exceptionDetails'].get('exception', {}).get('description')}")
            result.check = value["result"].get("value")
        for name, element in (screenshots or {}).items():
            browser.call("Runtime.evaluate", session, expression=f"window.scrollTo(0, ({element}).getBoundingClientRect().top + window.scrollY - 40)")
            time.sleep(0.3)
            shot = browser.call("Page.captureScreenshot", session, format="png")
            result.screenshots[name] = base64.b64decode(shot["data"])
        # Drain what arrived meanwhile (late console messages, requests).
        try:
            while True:
                browser.events.append(json.loads(browser.socket.recv(timeout=0.3)))
        except TimeoutError:
            pass
        result.console_errors = _errors(browser.events)
        result.requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
        browser.socket.close()
        return result
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)
