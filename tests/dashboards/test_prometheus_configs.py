"""The two shipped Prometheus configs: compose (scrapes ``otel-collector:8889``) and local
(scrapes ``localhost:8889``). Both pass ``promtool check config`` with the rules, differ
only in the target, and the local one is loaded by a real Prometheus."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from ._prometheus import free_port, prometheus_binary

ALERTS = Path(__file__).resolve().parents[2] / "grafana" / "alerts"
CONFIGS = {"prometheus.yml": "otel-collector:8889", "prometheus-local.yml": "localhost:8889"}


def _promtool() -> str:
    exe = shutil.which("promtool")
    assert exe, "promtool not found: apt-get install prometheus"
    return exe


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_promtool_checks_the_config_and_its_rules(name: str) -> None:
    done = subprocess.run([_promtool(), "check", "config", str(ALERTS / name)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout + done.stderr
    config = yaml.safe_load((ALERTS / name).read_text())
    assert [t for c in config["scrape_configs"] for s in c["static_configs"] for t in s["targets"]] == [CONFIGS[name]]


def test_the_configs_differ_only_in_the_target() -> None:
    compose, local = (yaml.safe_load((ALERTS / n).read_text()) for n in ("prometheus.yml", "prometheus-local.yml"))
    local["scrape_configs"][0]["static_configs"][0]["targets"] = ["otel-collector:8889"]
    assert local == compose


def test_a_real_prometheus_loads_the_local_config(tmp_path: Path) -> None:
    port = free_port()
    with (tmp_path / "log").open("wb") as log:
        proc = subprocess.Popen([prometheus_binary(), f"--config.file={ALERTS / 'prometheus-local.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(300):
            assert proc.poll() is None, (tmp_path / "log").read_text()[-3000:]
            try:
                targets = json.load(urllib.request.urlopen(f"{base}/targets", timeout=1))["data"]["activeTargets"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert [t["scrapeUrl"] for t in targets] == ["http://localhost:8889/metrics"]
        rules = json.load(urllib.request.urlopen(f"{base}/rules", timeout=5))["data"]["groups"]
        expected = yaml.safe_load((ALERTS / "llm-cost-rules.yaml").read_text())["groups"]
        assert sorted(g["name"] for g in rules) == sorted(g["name"] for g in expected)
    finally:
        proc.terminate()
        proc.wait(10)
