"""A real PostgreSQL server for the shared-ledger tests.

``OTEL_LLM_COST_TEST_PG_URL`` (a server where the user may ``CREATE DATABASE``) is used
when set. Otherwise a throwaway cluster is started here with the server binaries of
Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``; ``.ci/run`` installs
it), on a free port and a private socket directory, as the ``postgres`` user when the
tests run as root (the server refuses to run as root). Neither available: the tests
**fail** saying so — they are never skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._ports import free_port as _free_port

ENV_TEST_PG_URL = "OTEL_LLM_COST_TEST_PG_URL"


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


class Cluster:
    """A throwaway PostgreSQL cluster of this test run: started, stopped, restarted and
    frozen (SIGSTOP) by the fault tests. Only processes this class started are signalled."""

    def __init__(self, bindir: Path, settings: str = "") -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="otel-llm-cost-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.settings = settings
        self.port = 0
        subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                                        "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _ctl(self, *args: str, port: int) -> subprocess.CompletedProcess:
        return subprocess.run(_as_server_user([
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
            "-t", "60", "-o", f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                              f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                              f"{self.settings}", *args]), capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        if self.port:  # a restart keeps its port, so clients find it again
            started = self._ctl("start", port=self.port)
            if started.returncode:
                pytest.fail(f"could not restart PostgreSQL: {started.stderr}\n{self.log()[-2000:]}")
            return
        for _ in range(5):  # another test run may take the port between the probe and the start
            port = _free_port()
            started = self._ctl("start", port=port)
            if started.returncode == 0:
                self.port = port
                return
        pytest.fail(f"could not start PostgreSQL from {self.bindir}: {started.stderr}\n{self.log()[-2000:]}")

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"]),
                       capture_output=True, timeout=60)

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, …)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True,
                                  text=True).stdout.split()
        return [postmaster, *map(int, children)]

    def freeze(self) -> list[int]:
        """SIGSTOP the whole server: connections stay open, nothing answers."""
        pids = self.pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    @staticmethod
    def thaw(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def new_cluster(settings: str = "") -> Cluster:
    bindir = _server_bin()
    if bindir is None:
        pytest.fail(f"no PostgreSQL: set {ENV_TEST_PG_URL} or install Debian's postgresql "
                    "(bash .ci/run does both)")
    cluster = Cluster(bindir, settings)
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server URL without a database name (``postgresql://user@host:port``)."""
    url = os.environ.get(ENV_TEST_PG_URL)
    if url:
        yield url.rstrip("/").rsplit("/", 1)[0] if url.count("/") > 2 else url
        return
    cluster = new_cluster()
    try:
        yield cluster.url
    finally:
        cluster.remove()


@pytest.fixture
def pg_cluster() -> Iterator[Cluster]:
    """A server of the test's own, which it may restart or freeze (never the shared one)."""
    cluster = new_cluster()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    import psycopg

    name = f"ledger_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg_server}/{name}"
    finally:
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _private_spool(tmp_path_factory, monkeypatch) -> None:
    """Every test's ledger exporters spool into a directory of their own, never ~/.local/state."""
    monkeypatch.setenv("OTEL_LLM_COST_LEDGER_SPOOL", str(tmp_path_factory.mktemp("spool")))
