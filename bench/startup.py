"""``python -m bench.startup``: what our instrumentation adds to process start-up.

The figure the issue asks for: with ``openai``, ``anthropic`` and ``google-genai``
installed and *not* imported by the application, ``opentelemetry-instrument python -c
pass`` with our instrumentors on against the same command with them disabled
(``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` naming our entry points). Each revision
is measured in its own venv holding only that revision of our package, the three
SDKs and ``opentelemetry-distro`` — no peer instrumentation, whose entry points would
import SDKs themselves and whose names the older revisions' entry points shared.

    python -m bench.startup                     # HEAD against 2ff19af
    python -m bench.startup --revs 2ff19af HEAD --rounds 30

On and off alternate within each round (and the revisions within it), so a drift of
the machine hits both sides alike; the medians and their difference are printed.
Venvs are kept under ``.bench-venvs/startup-<rev>`` and reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_ROOT = Path(os.environ.get("BENCH_VENV_DIR", ROOT / ".bench-venvs"))
PACKAGES = ["openai", "anthropic", "google-genai", "opentelemetry-distro"]
QUIET = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}

_OUR_NAMES = ("from importlib.metadata import entry_points\n"
              "print(','.join(ep.name for ep in entry_points(group='opentelemetry_instrumentor')"
              " if ep.value.startswith('otel_llm_cost.')))")


def _sha(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def ensure_venv(rev: str) -> Path:
    """A venv with our package at ``rev`` (``WORKTREE`` = the working tree), the SDKs and the distro."""
    name = "worktree" if rev == "WORKTREE" else _sha(rev)
    root = VENV_ROOT / f"startup-{name}"
    bindir = root / "bin"
    if rev != "WORKTREE" and (bindir / "opentelemetry-instrument").exists():
        return bindir
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        if rev == "WORKTREE":
            source = str(ROOT)
        else:  # a plain (non-editable) install of that revision's tree
            archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            source = tmp
        subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        source, *PACKAGES], check=True)
    return bindir


#: Where the measured commands run: not the source tree, whose ``otel_llm_cost`` package and
#: ``*.egg-info`` would shadow the revision installed in the venv (``-c`` puts the cwd first
#: on ``sys.path``).
NEUTRAL_CWD = tempfile.gettempdir()


def _time(bindir: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(bindir / "opentelemetry-instrument"), str(bindir / "python"), "-c", "pass"],
                   env=env, check=True, stdout=subprocess.DEVNULL, cwd=NEUTRAL_CWD)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revs", nargs="+", default=["2ff19af", "HEAD"],
                        help="git revisions to compare (WORKTREE = the working tree)")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    sides = []
    for rev in args.revs:
        bindir = ensure_venv(rev)
        names = subprocess.run([str(bindir / "python"), "-c", _OUR_NAMES], capture_output=True, text=True,
                               check=True, cwd=NEUTRAL_CWD).stdout.strip()
        on = {**base, **QUIET}
        off = {**on, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": names}
        sides.append((rev, names, bindir, on, off))
        _time(bindir, on)  # warm the file cache and .pyc files once
        _time(bindir, off)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for rev, _names, bindir, on, off in sides:
            times.setdefault((rev, "on"), []).append(_time(bindir, on))
            times.setdefault((rev, "off"), []).append(_time(bindir, off))
    print(f"opentelemetry-instrument python -c pass; {args.rounds} alternating rounds; "
          f"{' '.join(f'{k}={v}' for k, v in QUIET.items())}")
    print(f"{'revision':10} {'ours on (ms)':>13} {'ours off (ms)':>14} {'added (ms)':>11}   disabled with")
    for rev, names, *_ in sides:
        on_ms = statistics.median(times[(rev, "on")]) * 1000
        off_ms = statistics.median(times[(rev, "off")]) * 1000
        print(f"{rev:10} {on_ms:13.0f} {off_ms:14.0f} {on_ms - off_ms:11.0f}   "
              f"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS={names}")
    return 0


if __name__ == "__main__":
    if shutil.which("git") is None:
        sys.exit("bench.startup needs git (it installs a revision from git archive)")
    sys.exit(main())
