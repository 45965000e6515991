"""Our Collector binary (``collector-config/build.sh``) run as a real process in tests.

No fallback when the binary is missing: these tests exist to run the shipped configs
in a real Collector, so a missing build fails them (``.ci/run`` builds it first).
``OTEL_LLM_COST_OTELCOL=/path/to/otelcol-contrib`` runs them against another binary of
the same release, e.g. the upstream contrib distribution.

A :class:`Collector` runs one config file exactly as shipped; only listen addresses
(and, where a test says so, endpoints) are changed, with the Collector's own ``--set``
flags, because tests on a shared machine need free ports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests._ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "collector-config"
BUILD = CONFIG / "build.sh"
MANIFEST = CONFIG / "builder" / "manifest.yaml"


def otelcol_binary() -> str:
    override = os.environ.get("OTEL_LLM_COST_OTELCOL")
    if override:
        assert Path(override).is_file(), f"OTEL_LLM_COST_OTELCOL={override} does not exist"
        return override
    path = subprocess.run(["bash", str(BUILD), "--path"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert Path(path).is_file(), (
        f"Collector not built ({path} missing): run `bash collector-config/build.sh` "
        "(.ci/run does) — needs Go and the Go module proxy")
    return path


def otelcol(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the binary once (``validate``, ``components``, ...) with a clean config env."""
    return subprocess.run([otelcol_binary(), *args], capture_output=True, text=True,
                          timeout=timeout, env=collector_env(env))


#: Every variable the shipped configs read: unset unless a test sets it, so the
#: developer's own environment cannot change what a test runs.
CONFIG_VARS = ("PROMETHEUS_REMOTE_WRITE_ENDPOINT", "PROMETHEUS_REMOTE_WRITE_INSECURE", "TRACES_OTLP_ENDPOINT",
               "TRACES_OTLP_INSECURE", "TRACES_EXPORTER", "METRICS_EXPORTER", "GATEWAY_DNS_NAME",
               "GATEWAY_OTLP_INSECURE", "OTELCOL_QUEUE_DIR")


def collector_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.update(extra or {})
    return env


class Collector:
    """One Collector process: ``config`` as shipped, ``sets`` as ``--set key=value``."""

    def __init__(self, workdir: Path, name: str, config: Path, sets: dict[str, str] | None = None,
                 env: dict[str, str] | None = None, wrap: list[str] | None = None) -> None:
        self.name = name
        self.health_port = free_port()
        #: The Collector's own metrics (otelcol_exporter_sent_spans, ...), normally :8888.
        self.telemetry_port = free_port()
        (workdir / f"{name}-queue").mkdir(mode=0o700, exist_ok=True)
        self.sets = {"extensions::health_check::endpoint": f"127.0.0.1:{self.health_port}",
                     # A persistent queue of its own: two Collectors never share (and lock) one.
                     "extensions::file_storage::directory": str(workdir / f"{name}-queue"),
                     "service::telemetry::metrics::readers":
                         f"[{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {self.telemetry_port}}}}}}}}}]",
                     **(sets or {})}
        self.args = [*(wrap or []), otelcol_binary(), f"--config=file:{config}",
                     *(f"--set={k}={v}" for k, v in self.sets.items())]
        self.env = collector_env(env)
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Collector:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.name} exited:\n{self.tail()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy in {timeout}s:\n{self.tail()}")

    def own_metrics(self) -> dict[str, float]:
        """The Collector's internal metrics, summed per metric name (labels dropped).

        Names without the ``_total`` suffix, as this release exposes them
        (``otelcol_receiver_accepted_spans``); a suffix is stripped if present."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.telemetry_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        totals: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name = line.split("{", 1)[0].split(" ", 1)[0].removesuffix("_total")
                totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return totals

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a graceful shutdown (queues drained, files flushed); SIGKILL: a crash."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached in {timeout}s (last: {last!r})")
