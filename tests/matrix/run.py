"""The SDK version matrix and the peer-instrumentation environments, run from ``.ci/run``.

The main test run (``python -m pytest``) uses the versions pinned in
``tests/constraints.txt``. This script adds what one environment cannot hold:

* **matrix cells** — each an SDK at another version worth holding to (the oldest we
  declare in ``pyproject.toml``, the last of an older major line), in its own venv,
  running that SDK's instrumentation tests and the provider contract test restricted to
  it (``-k``). Everything else is held to ``tests/constraints.txt`` too, but for the
  cell's own pins (and what the cell names in ``unpin``), so a cell is as reproducible as
  the main run.
* **peer environments** — other instrumentations of the same SDKs (``tests/peers/``),
  kept out of the ``test`` extra so that no user's install and no main-env test carries
  them. Peers whose pins conflict get a venv each.

* **the canary** (``newest``, run only when named) — the instrumentation, contract and
  wire-server tests against the newest release of everything pip can find, no
  constraints, in a venv made fresh each time. It is how a release that changes something
  (an error message, an exception class, a new HTTP client) is seen before a user sees it;
  its table puts the newest versions next to the pins. Moving the pins is then a commit
  of its own (``docs/releases.md``).

Venvs live under ``$OTEL_LLM_COST_MATRIX_DIR`` (default
``~/.cache/otel-llm-cost/matrix``) and are reused while their requirements are unchanged
(a stamp file); pip's wheel cache makes a cold rebuild a download-free install.

    python tests/matrix/run.py               # every cell (two at a time), a table at the end; exit 1 on failure
    python tests/matrix/run.py openai-1.40   # some cells only
    python tests/matrix/run.py --list
    python tests/matrix/run.py newest        # the canary: newest releases, unpinned
    python tests/matrix/run.py --versions-table > docs/supported-versions.md
    python tests/matrix/run.py --relock      # rewrite tests/constraints.txt from a fresh resolve
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
CONSTRAINTS = REPO / "tests" / "constraints.txt"
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
    #: Pinned packages the cell lets pip choose (an old SDK needing an older dependency).
    unpin: tuple[str, ...] = ()
    #: The canary: no constraints, newest releases, a fresh venv each run, run only by name.
    canary: bool = False


CELLS = [
    # openai < 1.55.3 passes ``proxies=`` to httpx, which httpx 0.28 removed.
    Cell("openai-1.40", ["openai==1.40.0", "httpx<0.28"], OPENAI_TESTS, "openai", "oldest declared (openai>=1.40)",
         unpin=("httpx",)),
    Cell("openai-1.x", ["openai==1.109.1"], OPENAI_TESTS, "openai", "last 1.x"),
    Cell("openai-2.x", ["openai==2.54.0"], OPENAI_TESTS, "openai", "last 2.x"),
    Cell("anthropic-1.0", ["anthropic[bedrock]==1.0.0"], ANTHROPIC_TESTS, "anthropic",
         "oldest declared (anthropic>=1.0; 0.x streams fail isinstance through any proxy)"),
    # google-genai 1.0 declares websockets < 15.
    Cell("google-genai-1.0", ["google-genai==1.0.0"], GEMINI_TESTS, "gemini", "oldest declared (google-genai>=1.0)",
         unpin=("websockets",)),
    Cell("newest", [], [_INST, "tests/wire"], why="canary: the newest releases, unpinned", canary=True),
]

#: The packages whose versions the canary's table and the supported-versions page show.
WATCHED = ("openai", "anthropic", "google-genai", "boto3", "httpx2", "httpx", "opentelemetry-sdk",
           "opentelemetry-instrumentation", "genai-prices", "litellm")


def _name(requirement: str) -> str:
    """``openai[x]==1.2`` -> ``openai`` (normalised as pip compares names)."""
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pins() -> dict[str, str]:
    """Package -> pinned version, from ``tests/constraints.txt``."""
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[_name(name)] = version.strip()
    return out


def cell_constraints(cell: Cell) -> str:
    """The constraints file's lines a cell installs under: all pins but its own."""
    free = {_name(r) for r in cell.requirements} | {_name(u) for u in cell.unpin}
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins().items()) if name not in free)


def _our_dependencies() -> str:
    """Our package's runtime requirements (the editable install pulls them in once)."""
    text = (REPO / "pyproject.toml").read_text()
    found = re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M)
    return found.group(1) if found else text


def _stamp(cell: Cell) -> str:
    text = json.dumps([cell.requirements, BASE, _our_dependencies(), sys.version_info[:2], cell_constraints(cell)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_venv(cell: Cell) -> Path:
    """The cell's python, (re)creating its venv only when its requirements changed."""
    root = ROOT / cell.name
    py = root / "bin" / "python"
    stamp = root / "matrix-stamp"
    if not cell.canary and py.exists() and stamp.exists() and stamp.read_text() == _stamp(cell):
        return py
    print(f"[matrix] creating {root}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if cell.canary:
        # Newest of everything: our test extra, resolved afresh, past any pip cache.
        subprocess.run([*pip, "--upgrade", "--upgrade-strategy", "eager", "-e", f"{REPO}[test]"], check=True)
        return py
    constraints = ROOT / f"{cell.name}.constraints.txt"
    constraints.write_text(cell_constraints(cell))
    subprocess.run([*pip, "-c", str(constraints), "-e", str(REPO), *BASE, *cell.requirements], check=True)
    stamp.write_text(_stamp(cell))
    return py


def _installed(py: Path, names: tuple[str, ...]) -> dict[str, str]:
    code = ("import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
            "out = {}\nfor d in sys.argv[1:]:\n"
            "    try: out[d] = version(d)\n    except PackageNotFoundError: pass\nprint(json.dumps(out))")
    done = subprocess.run([str(py), "-c", code, *names], capture_output=True, text=True)
    return json.loads(done.stdout or "{}")


def _versions(py: Path) -> str:
    found = _installed(py, ("openai", "anthropic", "google-genai"))
    return " ".join(f"{k}={v}" for k, v in found.items())


def run_cell(cell: Cell) -> dict:
    started = time.monotonic()
    try:
        py = ensure_venv(cell)
    except subprocess.CalledProcessError as exc:  # a cell that cannot install fails alone
        print(f"[matrix] {cell.name}: could not build its venv: {exc}", flush=True)
        return {"cell": cell.name, "why": cell.why, "versions": "not installed", "rc": 1, "passed": 0,
                "failed": 0, "skipped": 0, "setup_s": 0.0, "total_s": round(time.monotonic() - started, 1),
                **({"newest": {}} if cell.canary else {})}
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
    row = {"cell": cell.name, "why": cell.why, "versions": _versions(py), "rc": proc.returncode, **counts,
           "setup_s": round(built, 1), "total_s": round(time.monotonic() - started, 1)}
    if cell.canary:
        row["newest"] = _installed(py, WATCHED)
    return row


def canary_table(row: dict) -> str:
    """The canary's packages: pinned version, newest version, and whether they differ."""
    pinned = pins()
    lines = ["| package | pinned (tests/constraints.txt) | newest | |", "|---|---|---|---|"]
    for name in WATCHED:
        new, old = row["newest"].get(name, "not installed"), pinned.get(name, "not pinned")
        lines.append(f"| {name} | {old} | {new} | {'' if new == old else 'NEW'} |")
    verdict = "passed" if row["rc"] == 0 else "FAILED: see " + str(ROOT / f"{row['cell']}.log")
    lines.append(f"\ncanary: {row['passed']} passed, {row['failed']} failed, {row['skipped']} skipped: {verdict}")
    return "\n".join(lines)


def relock() -> None:
    """Rewrite ``tests/constraints.txt``: the test extra resolved afresh, frozen.

    A deliberate step (docs/releases.md), taken after the canary passed or the changes it
    found were met; the pins then move in one commit with what the new releases changed.
    """
    root = ROOT / "relock"
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
    py = str(root / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", f"{REPO}[test]"],
                   check=True)
    frozen = subprocess.run([py, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout
    backend = subprocess.run([py, "-m", "pip", "index", "versions", "setuptools"], capture_output=True,
                             text=True).stdout.split("(", 1)[-1].split(")", 1)[0]
    header = [line for line in CONSTRAINTS.read_text().splitlines() if line.startswith("#")][:3]
    body = sorted((line for line in frozen.splitlines() if line and not line.startswith("#")), key=str.lower)
    CONSTRAINTS.write_text("\n".join([
        *header, f"# Resolved {time.strftime('%Y-%m-%d')} on CPython {sys.version_info[0]}.{sys.version_info[1]}.",
        *body, "# the build backend .ci/check_wheel.py builds with (PIP_CONSTRAINT reaches build's isolated env)",
        f"setuptools=={backend}"]) + "\n")
    print(f"[matrix] wrote {CONSTRAINTS} ({len(body) + 1} pins)")


def versions_table() -> str:
    """docs/supported-versions.md, generated from the pins and the cells (never by hand)."""
    from tests.peers import envs as peer_envs

    pinned = pins()
    text = (REPO / "pyproject.toml").read_text()
    out = ["# Supported versions", "",
           "Generated by `python tests/matrix/run.py --versions-table > docs/supported-versions.md`",
           "from `tests/constraints.txt` and the matrix cells; `tests/release/test_versions_page.py`",
           "fails when it is stale. How the pins move: [releases.md](releases.md).", "",
           "| SDK | declared | main test run (pinned) | matrix cells (own venv each) |", "|---|---|---|---|"]
    for sdk in ("openai", "anthropic", "google-genai", "boto3", "litellm"):
        declared = re.search(rf'"{re.escape(sdk)}(?:\[[^\]]*\])?([<>=!~][^";]*)', text)
        cells = [f"{c.name} ({c.why})" for c in CELLS if not c.canary
                 and any(_name(r) == sdk for r in c.requirements)]
        out.append(f"| `{sdk}` | `{declared.group(1) if declared else '-'}` | {pinned.get(sdk, '-')} "
                   f"| {'; '.join(cells) or '-'} |")
    out += ["", "| peer group (tests/peers/) | requirements |", "|---|---|"]
    for cell in peer_envs.CELLS:
        out.append(f"| {cell.name} | {' '.join(f'`{r}`' for r in cell.requirements)} |")
    out += ["", "Also pinned for the main run: " + ", ".join(
        f"`{n}` {pinned[n]}" for n in WATCHED if n in pinned and n not in
        ("openai", "anthropic", "google-genai", "boto3", "litellm")) + "."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", nargs="*", help="cell names (default: all)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--versions-table", action="store_true", help="print docs/supported-versions.md")
    parser.add_argument("--relock", action="store_true", help="rewrite tests/constraints.txt from a fresh resolve")
    parser.add_argument("--jobs", type=int, default=2,
                        help="cells at once (venv builds wait on the network, tests on a core)")
    args = parser.parse_args(argv)
    from tests.peers import envs as peer_envs  # the peer cells live with their tests

    cells = CELLS + peer_envs.CELLS
    if args.relock:
        relock()
        return 0
    if args.versions_table:
        sys.stdout.write(versions_table())
        return 0
    if args.list:
        for cell in cells:
            print(f"{cell.name:20} {' '.join(cell.requirements)}")
        return 0
    chosen = [c for c in cells if c.name in args.cells or (not args.cells and not c.canary)]
    ROOT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(run_cell, chosen))
    print("\n| cell | versions | passed | failed | skipped | time (s) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['cell']} | {r['versions']} | {r['passed']} | {r['failed']} | {r['skipped']} "
              f"| {r['total_s']} (venv {r['setup_s']}) |")
    for r in rows:
        if "newest" in r:
            print("\n" + canary_table(r))
    print(f"[matrix] {len(rows)} cells in {time.monotonic() - started:.0f} s")
    (ROOT / "last-run.json").write_text(json.dumps(rows, indent=1))
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
