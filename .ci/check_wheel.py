"""Build what a user installs and prove it works outside the checkout.

``python -m build`` makes the sdist and the wheel, ``twine check`` reads their metadata,
and the wheel (never the checkout) goes into a fresh venv, pinned like the test run,
which then runs ``otel-llm-cost demo`` from a directory with no source tree in it. A
file missing from the package data (the price list, the bundled snapshot) fails here,
not on a user's machine. Exit status: 0 when all of that held, 1 otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "tests" / "constraints.txt"
#: Files the installed package reads at run time; each must be in the wheel.
PACKAGE_DATA = ["otel_llm_cost/pricing/prices.json", "otel_llm_cost/pricing/litellm_snapshot.json",
                "otel_llm_cost/py.typed"]


def run(*cmd: str, cwd: Path | None = None) -> str:
    started = time.monotonic()
    # The constraints reach the pip that ``build`` runs in its isolated env too, so the
    # build backend (setuptools) is the pinned one.
    env = {**os.environ, "PIP_CONSTRAINT": str(CONSTRAINTS)}
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    took = time.monotonic() - started
    if done.returncode != 0:
        sys.stdout.write(done.stdout + done.stderr)
        raise SystemExit(f"check_wheel: failed ({took:.0f}s): {' '.join(cmd)}")
    print(f"  ok {took:5.1f}s  {' '.join(Path(c).name if c.startswith('/') else c for c in cmd[:4])}")
    return done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="otel-llm-cost-wheel-") as tmp:
        out = Path(tmp) / "dist"
        run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(REPO))
        dists = sorted(out.iterdir())
        run(sys.executable, "-m", "twine", "check", "--strict", *map(str, dists))
        wheel = next(p for p in dists if p.suffix == ".whl")
        names = set(zipfile.ZipFile(wheel).namelist())
        missing = [f for f in PACKAGE_DATA if f not in names]
        if missing:
            raise SystemExit(f"check_wheel: {wheel.name} lacks {missing}")
        stray = sorted({n.split("/")[0] for n in names} - {"otel_llm_cost", wheel.name.split("-")[0] + "-"
                                                            + wheel.name.split("-")[1] + ".dist-info"})
        if stray:
            raise SystemExit(f"check_wheel: {wheel.name} carries files outside the package: {stray}")
        venv = Path(tmp) / "venv"
        run(sys.executable, "-m", "venv", str(venv))
        py = str(venv / "bin" / "python")
        run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(CONSTRAINTS),
            f"{wheel}[all]")
        # Run from an empty directory: nothing of the checkout can be imported by accident.
        home = Path(tmp) / "home"
        home.mkdir()
        where = run(py, "-c", "import otel_llm_cost, sys; print(otel_llm_cost.__file__)", cwd=home).strip()
        if str(REPO) in where or "site-packages" not in where:
            raise SystemExit(f"check_wheel: the package was imported from {where}, not the wheel")
        demo = run(str(venv / "bin" / "otel-llm-cost"), "demo", "--db", str(home / "demo.db"), cwd=home)
        if "USD" not in demo:
            raise SystemExit("check_wheel: the demo printed no cost:\n" + demo)
        print(f"check_wheel: {', '.join(p.name for p in dists)} built, checked, installed and ran the demo")


if __name__ == "__main__":
    main()
