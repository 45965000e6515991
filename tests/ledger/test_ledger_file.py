"""The SQLite ledger file itself: who may read it, a full disk, and a path that points at
the application's own database.

The first and last are about files on disk (modes, bytes); the disk-full case runs the
writer in a mount namespace of its own on a tiny tmpfs (``unshare -rm``), a real
filesystem that really fills up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._schema import SCHEMA_V1
from tests.wire import Reply

from ._spans import llm_span, provider_with

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    """The loosest umask there is: whatever we create must not depend on it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


# --- 1. file mode ----------------------------------------------------------------------

def test_a_new_ledger_its_side_files_and_its_directories_are_owner_only(tmp_path: Path, umask) -> None:
    path = tmp_path / "data" / "otel-llm-cost" / "ledger.db"
    exporter = LedgerSpanExporter(path)
    provider = provider_with(exporter)
    llm_span(provider.get_tracer(s.SCOPE_NAME), model="gpt-4o", cost="0.001", inp=10, out=1,
             session="s-1", user="alice")
    # While the writer is connected the WAL and shared-memory files exist: check them all.
    modes = {p.name: _mode(p) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))}
    dirs = {p.name: _mode(p) for p in (path.parent, path.parent.parent)}
    provider.shutdown()
    assert modes == {"ledger.db": 0o600, "ledger.db-wal": 0o600, "ledger.db-shm": 0o600}
    assert dirs == {"otel-llm-cost": 0o700, "data": 0o700}


def test_an_existing_directory_is_left_as_it_is(tmp_path: Path, umask) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    provider = provider_with(LedgerSpanExporter(shared / "ledger.db"))
    llm_span(provider.get_tracer(s.SCOPE_NAME), model="gpt-4o", cost="0.001", inp=10, out=1)
    provider.shutdown()
    assert _mode(shared) == 0o755 and _mode(shared / "ledger.db") == 0o600


def test_an_existing_readable_ledger_is_not_changed_but_named_in_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    llm_span(provider.get_tracer(s.SCOPE_NAME), model="gpt-4o", cost="0.001", inp=10, out=1)
    provider.shutdown()
    os.chmod(path, 0o644)  # as an older release created it, or as its owner chose
    caplog.set_level(logging.WARNING, logger="otel_llm_cost")
    provider = provider_with(LedgerSpanExporter(path))
    for _ in range(3):
        llm_span(provider.get_tracer(s.SCOPE_NAME), model="gpt-4o", cost="0.001", inp=10, out=1)
    provider.shutdown()
    assert _mode(path) == 0o644
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0] and "0644" in warnings[0] and "chmod 600" in warnings[0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM llm_calls").fetchone() == (4,)


# --- 4. disk full ----------------------------------------------------------------------

_FULL_DISK_CHILD = textwrap.dedent('''
    import json, logging, os, sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from otel_llm_cost import semconv as s
    from otel_llm_cost.ledger import LedgerSpanExporter
    from tests.ledger._spans import llm_span

    disk = sys.argv[1]
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append([record.levelname, record.getMessage()])

    logging.getLogger("otel_llm_cost").addHandler(Collect())
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(os.path.join(disk, "ledger.db"))))
    tracer = provider.get_tracer(s.SCOPE_NAME)
    llm_span(tracer, model="gpt-4o", cost="0.001", inp=10, out=1, session="before")
    with open(os.path.join(disk, "filler"), "wb", buffering=0) as filler:  # fill the filesystem up
        try:
            while True:
                filler.write(b"x" * 4096)
                filler.flush()
        except OSError:
            pass
    app_calls = 0
    for i in range(40):  # rows far bigger than the space left
        llm_span(tracer, model="gpt-4o", cost="0.001", inp=10, out=1, session=f"s{i}-" + "y" * 8000)
        app_calls += 1
    provider.shutdown()
    print(json.dumps({"logs": lines, "app_calls": app_calls}))
''')


def test_a_full_disk_is_logged_as_a_full_disk(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    child = tmp_path / "child.py"
    child.write_text(_FULL_DISK_CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=256k tmpfs "$1" && exec "$2" "$3" "$1"',
         "full-disk", str(disk), sys.executable, str(child)],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["app_calls"] == 40  # the application went on
    errors = [message for level, message in result["logs"] if level == "ERROR"]
    assert len(errors) == 1, result["logs"]  # one line for a run of failures
    assert "database or disk is full" in errors[0], errors[0]
    assert "cannot rollback" not in errors[0]
    assert str(disk / "ledger.db") in errors[0]
    assert not any("cannot rollback" in message for _, message in result["logs"])


# --- 5. the application's own database ---------------------------------------------------

def _app_database(path: Path, user_version: int = 7) -> str:
    """A small application database, as an app would have it (rollback journal, its version)."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total REAL);
        INSERT INTO users (name) VALUES ('alice'), ('bob');
        INSERT INTO orders (user_id, total) VALUES (1, 9.5), (2, 3.25);
    """)
    conn.execute(f"PRAGMA user_version = {user_version}")
    conn.commit()
    conn.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _instrumented_calls(ledger: Path, wire, calls: int = 3) -> list[str]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(ledger)))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0)
        answers = []
        for _ in range(calls):
            wire.enqueue(Reply(text="fine thanks"))
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            answers.append(reply.choices[0].message.content)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    return answers


@pytest.mark.parametrize("user_version", [0, 7])
def test_the_applications_own_database_is_refused_and_left_byte_identical(tmp_path: Path, wire, caplog,
                                                                          user_version: int) -> None:
    app_db = tmp_path / "app.db"
    before = _app_database(app_db, user_version)
    caplog.set_level(logging.DEBUG, logger="otel_llm_cost")
    assert _instrumented_calls(app_db, wire) == ["fine thanks"] * 3  # the app runs on
    assert hashlib.sha256(app_db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no -wal, -shm, -journal left
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert str(app_db) in errors[0] and "not an otel-llm-cost ledger" in errors[0]
    assert "users" in errors[0]  # it says what it found
    with sqlite3.connect(app_db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("PRAGMA user_version").fetchone() == (user_version,)


def test_ledger_migrate_refuses_the_applications_database(tmp_path: Path) -> None:
    app_db = tmp_path / "app.db"
    before = _app_database(app_db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_LLM_COST_")}
    done = subprocess.run([sys.executable, "-m", "otel_llm_cost.cli", "ledger", "migrate", "--db", str(app_db)],
                          capture_output=True, text=True, env={**env, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 1 and "not an otel-llm-cost ledger" in done.stderr
    assert hashlib.sha256(app_db.read_bytes()).hexdigest() == before


def test_an_empty_file_becomes_a_ledger_and_is_stamped_as_ours(tmp_path: Path, wire) -> None:
    path = tmp_path / "ledger.db"
    path.touch()  # made by the user ahead of time (e.g. to choose its place)
    _instrumented_calls(path, wire, calls=1)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] != 0
        assert conn.execute("SELECT COUNT(*) FROM llm_calls").fetchone() == (1,)


@pytest.mark.parametrize("version", ["v1", "current"])
def test_a_ledger_from_before_the_stamp_is_still_ours(tmp_path: Path, wire, version: str) -> None:
    """Ledgers written by earlier releases (no application_id) are known by their schema."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    if version == "v1":  # the first release's file, migrated on the way
        conn.executescript(SCHEMA_V1 + "PRAGMA user_version = 1;")
    else:  # at the current schema, as a writer from before the stamp left it
        conn.close()
        from otel_llm_cost.ledger._schema import connect
        connect(path).close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA application_id = 0")
        conn.execute("ANALYZE")  # sqlite_stat1: SQLite's own table, not a foreign one
    conn.commit()
    conn.close()
    _instrumented_calls(path, wire, calls=2)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM llm_calls").fetchone() == (2,)
        assert conn.execute("PRAGMA application_id").fetchone()[0] != 0
