"""A real ``prometheus`` server for the end-to-end test, and the app side it scrapes.

No fallback when the binary is missing: the point is to run our queries in
Prometheus itself, so a missing binary fails the test (CI installs Debian's
``prometheus`` package). The server gets a temporary config and storage, listens
on 127.0.0.1 only, and is always terminated by :meth:`Prometheus.stop`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests._ports import free_port


def prometheus_binary() -> str:
    exe = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    assert exe, "prometheus not found on PATH: install it (Debian/Ubuntu: apt-get install prometheus)"
    return exe


class Prometheus:
    """One Prometheus process scraping ``target`` every second under ``job``.

    ``honor_labels`` keeps the ``job``/``instance`` labels a Collector's ``prometheus``
    exporter sets (as ``grafana/alerts/prometheus.yml`` does); ``target=None`` scrapes
    nothing and ``remote_write=True`` accepts remote-write pushes instead
    (``--web.enable-remote-write-receiver``), for a Collector's ``prometheus_remote_write``.
    """

    def __init__(self, workdir: Path, target: str | None, job: str, rule_files: list[Path],
                 honor_labels: bool = False, remote_write: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": job, "honor_labels": honor_labels,
                                "static_configs": [{"targets": [target]}]}] if target else [],
        }
        self.remote_write_url = f"{self.url}/api/v1/write"
        self.flags = ["--web.enable-remote-write-receiver"] if remote_write else []
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.log = workdir / "prometheus.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [prometheus_binary(), f"--config.file={self.config}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", *self.flags],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"prometheus exited:\n{self.log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"prometheus not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant query at the server's now; the vector (or scalar as one sample)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        assert data["resultType"] == "vector", data
        return data["result"]

    def value(self, expr: str) -> float | None:
        """The single value of ``expr`` (None when the result is empty)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, predicate, timeout: float = 15.0) -> float | None:
        """Poll ``expr`` until ``predicate(value)`` holds; fail with the last value if not."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.value(expr)
            if value is not None and predicate(value):
                return value
            time.sleep(0.2)
        raise AssertionError(f"{expr} never satisfied the condition in {timeout}s (last value {value})")
