"""Headless Chromium driven over the WebDriver protocol (Debian's chromium + chromedriver).

For tests of what a person sees: the page is laid out and painted by a real browser,
and the test reads back rendered geometry and text (``innerText`` follows CSS), and a
PNG screenshot. Plain ``urllib``: no WebDriver client library is needed for four calls.
The browser runs with networking features off, so a page that needed the network would
show it.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests._ports import free_port as _free_port

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1000,2400"]


class Browser:
    def __init__(self, base: str, session: str) -> None:
        self._base = f"{base}/session/{session}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self._base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """``script`` is a function body; ``arguments[i]`` are ``args``."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self) -> bytes:
        return base64.b64decode(self._call("GET", "/screenshot"))

    def full_screenshot(self, path: str) -> None:
        """The whole page: the window made as tall as the document first."""
        height = self.run("return document.documentElement.scrollHeight")
        self._call("POST", "/window/rect", {"width": 1000, "height": min(int(height) + 140, 8000)})
        with open(path, "wb") as out:
            out.write(self.screenshot())


@contextmanager
def browser() -> Iterator[Browser]:
    assert CHROMIUM and CHROMEDRIVER, "Debian's chromium and chromium-driver (installed by .ci/run)"
    port = _free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="otel-llm-cost-chromium-")
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/status", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": [*ARGS, f"--user-data-dir={profile}"]}}}}
        req = urllib.request.Request(base + "/session", data=json.dumps(caps).encode(), method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            session = json.loads(resp.read())["value"]["sessionId"]
        try:
            yield Browser(base, session)
        finally:
            urllib.request.urlopen(urllib.request.Request(f"{base}/session/{session}", method="DELETE"),
                                   timeout=60).read()
    finally:
        driver.terminate()
        driver.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
