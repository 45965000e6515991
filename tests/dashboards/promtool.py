"""Run the real ``promtool``; no fallback.

These tests exist to prove the rules and queries with Prometheus's own parser,
so a missing promtool is a failure, not a skip (CI installs Debian's
``prometheus`` package, which ships it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    assert exe, "promtool not found on PATH: install it (Debian/Ubuntu: apt-get install prometheus)"
    return subprocess.run(
        [exe, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def ok(result: subprocess.CompletedProcess) -> str:
    """Assert success and return the combined output (for further checks)."""
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    return out
