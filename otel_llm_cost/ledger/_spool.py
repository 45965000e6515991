"""Rows waiting on the local disk while the ledger cannot take them.

Why. A shared ledger is a server: it restarts, fails over, freezes, or sits behind a
network that drops. An export batch that finds it away would be lost, and the cost
with it. Instead its rows are written to a spool directory and delivered, oldest first,
by the next export that reaches the database (writes are idempotent by trace and span
id, so a batch the database did commit before going silent is not stored twice). A
SQLite file can be away too: locked past the writer's busy timeout by a ``VACUUM`` or
another process's long transaction.

Bounded and private. The spool holds user and session ids: the directory is created
``0700`` and every file ``0600`` whatever the umask. It holds at most ``max_bytes``; a
batch that would go past it is dropped, counted and logged — the only way a row is lost.

Where. ``OTEL_LLM_COST_LEDGER_SPOOL`` (a directory), else
``$XDG_STATE_HOME/otel-llm-cost/spool/<digest of the URL or file path>`` (``~/.local/state``): one
directory per database, shared by the processes that write to it (any of them delivers).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import semconv
from ._schema import _make_private_dirs

__all__ = ["Spool", "spool_dir", "spool_max_bytes", "DEFAULT_MAX_BYTES"]

#: Default bound of one spool directory.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_SUFFIX = ".rows.json"
_sequence = itertools.count()


def spool_dir(url: str) -> Path:
    """The spool directory of the ledger at ``url`` (or a SQLite file's absolute path; see
    the module docstring)."""
    configured = os.environ.get(semconv.ENV_LEDGER_SPOOL, "").strip()
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "otel-llm-cost" / "spool" / hashlib.sha256(url.encode()).hexdigest()[:16]


def spool_max_bytes() -> int:
    """``OTEL_LLM_COST_LEDGER_SPOOL_MAX_MB`` in bytes, else :data:`DEFAULT_MAX_BYTES`."""
    text = os.environ.get(semconv.ENV_LEDGER_SPOOL_MAX_MB, "").strip()
    try:
        return max(0, int(float(text) * 1024 * 1024)) if text else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


class Spool:
    """One directory of batches (one JSON file each), and what went through it."""

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        #: Rows written to the spool, delivered from it, dropped past its bound.
        self.spooled = 0
        self.delivered = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def put(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Keep ``rows`` for later; False (and counted as dropped) past the bound."""
        data = json.dumps([list(row) for row in rows], ensure_ascii=True, separators=(",", ":")).encode()
        with self._lock:
            _make_private_dirs(self.directory)
            if self.size() + len(data) > self.max_bytes:
                self.dropped += len(rows)
                return False
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence):08d}"
            temporary = self.directory / f".{name}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.directory / f"{name}{_SUFFIX}")  # readers never see half a file
            self.spooled += len(rows)
        return True

    def batches(self) -> list[Path]:
        """The waiting batch files, oldest first."""
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))
        except OSError:
            return []

    def size(self) -> int:
        total = 0
        for path in self.batches():
            try:
                total += path.stat().st_size
            except OSError:
                continue  # delivered by another process meanwhile
        return total

    @staticmethod
    def read(path: Path) -> list[tuple[Any, ...]] | None:
        """The rows of one batch file; None when it is gone (another process delivered it).
        A batch spooled by an older version has fewer columns: the newer ones are NULL."""
        from ._schema import COLUMNS

        try:
            return [tuple(row) + (None,) * (len(COLUMNS) - len(row)) for row in json.loads(path.read_bytes())]
        except FileNotFoundError:
            return None

    def done(self, path: Path, rows: int) -> None:
        """The batch at ``path`` is in the database: forget it."""
        try:
            path.unlink()
        except FileNotFoundError:
            return
        self.delivered += rows

