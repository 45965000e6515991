"""The peers' virtual environments: created once by the bench, reused after.

Each peer instrumentation runs in its own venv so that its pins (OTel API/SDK,
semantic-conventions) cannot disturb ours or each other's. Every venv gets the
*same* ``openai``/``anthropic`` versions as the interpreter running the bench, so
the bare SDK cost is identical and only the instrumentation differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["PEERS", "VENV_ROOT", "ensure_venv", "venv_python"]

VENV_ROOT = Path(os.environ.get("BENCH_VENV_DIR", Path(__file__).resolve().parent.parent / ".bench-venvs"))

_COMMON = ["opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"]

#: name -> packages to install besides the SDKs (first list tried first, then fall-backs).
PEERS: dict[str, list[str]] = {
    "openllmetry": [
        "opentelemetry-instrumentation-openai==0.62.4",
        "opentelemetry-instrumentation-anthropic==0.62.4",
    ],
    # The official successors of openai-v2 (contrib GenAI, on opentelemetry-util-genai).
    "contrib-genai": [
        "opentelemetry-instrumentation-genai-openai==1.3b0",
        "opentelemetry-instrumentation-genai-anthropic==1.3b0",
        "opentelemetry-util-genai==1.3b0",
        "httpx",
    ],
    "openai-v2": [
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==0.4b0",
        # It imports ``httpx`` (the old package), which openai >= 3 no longer pulls in.
        "httpx",
    ],
}


def _sdk_pins() -> list[str]:
    pins = []
    for dist in ("openai", "anthropic"):
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return pins


def venv_python(name: str) -> Path:
    return VENV_ROOT / name / "bin" / "python"


def _stamp(name: str) -> dict:
    return {"packages": PEERS[name], "sdks": _sdk_pins()}


def ensure_venv(name: str, log=print) -> Path | None:
    """The venv's python for peer ``name``, creating it if needed; None if it cannot install."""
    root = VENV_ROOT / name
    stamp_file = root / "bench-stamp.json"
    want = _stamp(name)
    if stamp_file.exists():
        have = json.loads(stamp_file.read_text())
        if {k: have.get(k) for k in want} == want:
            return venv_python(name)
    log(f"[bench] creating venv {root} …")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
    py = str(venv_python(name))
    packages = want["sdks"] + PEERS[name] + _COMMON
    attempts = [packages, [p for p in packages if not p.startswith("opentelemetry-instrumentation-anthropic")]]
    for attempt in attempts:
        proc = subprocess.run([py, "-m", "pip", "install", "-q", *attempt], capture_output=True, text=True)
        if proc.returncode == 0:
            stamp_file.write_text(json.dumps({**want, "installed": attempt}))
            return venv_python(name)
        log(f"[bench] {name}: pip install failed:\n{proc.stderr[-2000:]}")
    return None


if __name__ == "__main__":
    for peer in sys.argv[1:] or PEERS:
        print(peer, ensure_venv(peer))
