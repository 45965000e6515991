"""The SDK version matrix and the peer-instrumentation environments, run from ``.ci/run``.

The main test run (``python -m pytest``) uses the latest release of every SDK, as the
``test`` extra resolves it. This script adds what one environment cannot hold:

* **matrix cells** — each an SDK at another version worth holding to (the oldest we
  declare in ``pyproject.toml``, the last of an older major line), in its own venv,
  running that SDK's instrumentation tests and the provider contract test restricted to
  it (``-k``). The other two SDKs are installed too (the shared test harness imports all
  three) at whatever version pip resolves next to the pinned one.
* **peer environments** — other instrumentations of the same SDKs (``tests/peers/``),
  kept out of the ``test`` extra so that no user's install and no main-env test carries
  them. Peers whose pins conflict get a venv each.

Venvs live under ``$OTEL_LLM_COST_MATRIX_DIR`` (default
``~/.cache/otel-llm-cost/matrix``) and are reused while their requirements are unchanged
(a stamp file); pip's wheel cache makes a cold rebuild a download-free install.

    python tests/matrix/run.py               # every cell (two at a time), a table at the end; exit 1 on failure
    python tests/matrix/run.py openai-1.40   # some cells only
    python tests/matrix/run.py --list
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("OTEL_LLM_COST_MATRIX_DIR", Path.home() / ".cache" / "otel-llm-cost" / "matrix"))

#: What every cell needs besides its pin: the three SDKs (the harness imports all three;
#: the cell's pin wins), the test runner and the launcher. Our package goes in editable.
BASE = ["openai>=1.40", "anthropic[bedrock]>=1.0", "google-genai>=1.0",
        "pytest>=8", "hypothesis>=6", "opentelemetry-distro>=0.51b0"]

_INST = "tests/instrumentation"
OPENAI_TESTS = [f"{_INST}/test_openai_chat.py", f"{_INST}/test_openai_failures.py", f"{_INST}/test_openai_raw.py",
                f"{_INST}/test_openai_registration.py", f"{_INST}/test_openai_responses.py",
                f"{_INST}/test_contract.py"]
ANTHROPIC_TESTS = [f"{_INST}/test_anthropic.py", f"{_INST}/test_anthropic_native_spans.py",
                   f"{_INST}/test_provider_content.py", f"{_INST}/test_contract.py"]
GEMINI_TESTS = [f"{_INST}/test_gemini.py", f"{_INST}/test_provider_content.py", f"{_INST}/test_contract.py"]


@dataclass(frozen=True)
class Cell:
    name: str
    requirements: list[str]
    tests: list[str]
    keyword: str = ""
    why: str = ""
    env: dict[str, str] = field(default_factory=dict)


CELLS = [
    # openai < 1.55.3 passes ``proxies=`` to httpx, which httpx 0.28 removed.
    Cell("openai-1.40", ["openai==1.40.0", "httpx<0.28"], OPENAI_TESTS, "openai", "oldest declared (openai>=1.40)"),
    Cell("openai-1.x", ["openai==1.109.1"], OPENAI_TESTS, "openai", "last 1.x"),
    Cell("openai-2.x", ["openai==2.54.0"], OPENAI_TESTS, "openai", "last 2.x"),
    Cell("anthropic-1.0", ["anthropic[bedrock]==1.0.0"], ANTHROPIC_TESTS, "anthropic",
         "oldest declared (anthropic>=1.0; 0.x streams fail isinstance through any proxy)"),
    Cell("google-genai-1.0", ["google-genai==1.0.0"], GEMINI_TESTS, "gemini", "oldest declared (google-genai>=1.0)"),
]


def _our_dependencies() -> str:
    """Our package's runtime requirements (the editable install pulls them in once)."""
    text = (REPO / "pyproject.toml").read_text()
    found = re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M)
    return found.group(1) if found else text


def _stamp(cell: Cell) -> str:
    text = json.dumps([cell.requirements, BASE, _our_dependencies(), sys.version_info[:2]])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_venv(cell: Cell) -> Path:
    """The cell's python, (re)creating its venv only when its requirements changed."""
    root = ROOT / cell.name
    py = root / "bin" / "python"
    stamp = root / "matrix-stamp"
    if py.exists() and stamp.exists() and stamp.read_text() == _stamp(cell):
        return py
    print(f"[matrix] creating {root}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-e", str(REPO), *BASE, *cell.requirements], check=True)
    stamp.write_text(_stamp(cell))
    return py


def _versions(py: Path) -> str:
    code = ("from importlib.metadata import version as v\n"
            "print(' '.join(f'{d}={v(d)}' for d in ('openai', 'anthropic', 'google-genai')))")
    return subprocess.run([str(py), "-c", code], capture_output=True, text=True).stdout.strip()


def run_cell(cell: Cell) -> dict:
    started = time.monotonic()
    py = ensure_venv(cell)
    built = time.monotonic() - started
    report = ROOT / f"{cell.name}.xml"
    cmd = [str(py), "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}", *cell.tests]
    if cell.keyword:
        cmd += ["-k", cell.keyword]
    log = ROOT / f"{cell.name}.log"
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **cell.env}, stdout=out, stderr=subprocess.STDOUT)
    print(f"[matrix] {cell.name}: {' '.join(cmd[1:])} -> exit {proc.returncode}", flush=True)
    if proc.returncode != 0:
        print(log.read_text()[-6000:], flush=True)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if report.exists():
        suite = ET.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        total, failed = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts = {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}
    return {"cell": cell.name, "why": cell.why, "versions": _versions(py), "rc": proc.returncode, **counts,
            "setup_s": round(built, 1), "total_s": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", nargs="*", help="cell names (default: all)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--jobs", type=int, default=2,
                        help="cells at once (venv builds wait on the network, tests on a core)")
    args = parser.parse_args(argv)
    from tests.peers import envs as peer_envs  # the peer cells live with their tests

    cells = CELLS + peer_envs.CELLS
    if args.list:
        for cell in cells:
            print(f"{cell.name:20} {' '.join(cell.requirements)}")
        return 0
    chosen = [c for c in cells if not args.cells or c.name in args.cells]
    ROOT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(run_cell, chosen))
    print("\n| cell | versions | passed | failed | skipped | time (s) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['cell']} | {r['versions']} | {r['passed']} | {r['failed']} | {r['skipped']} "
              f"| {r['total_s']} (venv {r['setup_s']}) |")
    print(f"[matrix] {len(rows)} cells in {time.monotonic() - started:.0f} s")
    (ROOT / "last-run.json").write_text(json.dumps(rows, indent=1))
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
