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
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV_TEST_PG_URL = "OTEL_LLM_COST_TEST_PG_URL"


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server URL without a database name (``postgresql://user@host:port``)."""
    url = os.environ.get(ENV_TEST_PG_URL)
    if url:
        yield url.rstrip("/").rsplit("/", 1)[0] if url.count("/") > 2 else url
        return
    bindir = _server_bin()
    if bindir is None:
        pytest.fail(f"no PostgreSQL: set {ENV_TEST_PG_URL} or install Debian's postgresql "
                    "(bash .ci/run does both)")
    root = Path(tempfile.mkdtemp(prefix="otel-llm-cost-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                    "-E", "UTF8", "--locale=C", "--no-sync"]),
                   check=True, capture_output=True, timeout=120)
    port = 0
    for _ in range(5):  # another test run may take the port between the probe and the start
        port = _free_port()
        started = subprocess.run(_as_server_user([
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            "start"]), capture_output=True, text=True, timeout=120)
        if started.returncode == 0:
            break
    else:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        pytest.fail(f"could not start PostgreSQL from {bindir}: {started.stderr}\n{log[-2000:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


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
    """Every test's PostgreSQL exporters spool into a directory of their own, never ~/.local/state."""
    monkeypatch.setenv("OTEL_LLM_COST_LEDGER_SPOOL", str(tmp_path_factory.mktemp("spool")))
