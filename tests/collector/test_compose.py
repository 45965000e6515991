"""The quick-start compose file, resolved by a real Compose implementation.

No container engine runs here, so ``docker-compose config`` (Debian's
``docker-compose`` package, Compose v1; ``.ci/run`` installs it) is what runs: it
parses and validates ``collector-config/compose.yaml`` against the Compose schema,
resolves every path, and must succeed with no environment variable set. A missing
``docker-compose`` fails the test. The checks then tie the resolved services to the
files the end-to-end tests run: the same Collector config, Prometheus config and rule
file, Grafana provisioning with one alert path, and matching hosts and ports.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.collector._otelcol import CONFIG, MANIFEST, ROOT

COMPOSE = CONFIG / "compose.yaml"


@pytest.fixture(scope="module")
def resolved() -> dict:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose not found: install it (Debian/Ubuntu: apt-get install docker-compose)"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(ROOT)}  # nothing else: no env var needed
    out = subprocess.run([exe, "-f", str(COMPOSE), "config"], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNING" not in out.stderr, out.stderr  # e.g. an unset variable defaulting to ""
    return yaml.safe_load(out.stdout)


def _mounts(service: dict) -> dict[str, Path]:
    """container path → host path."""
    mounts = {}
    for v in service.get("volumes", []):
        host, container = (v.split(":")[:2] if isinstance(v, str) else (v["source"], v["target"]))
        mounts[container] = Path(host).resolve()
    return mounts


def _published(service: dict) -> set[int]:
    return {int(p["published"]) if isinstance(p, dict) else int(str(p).split(":")[0])
            for p in service.get("ports", [])}


def test_services(resolved):
    assert set(resolved["services"]) == {"simulate", "otel-collector", "prometheus", "grafana"}
    ports = set().union(*(_published(s) for s in resolved["services"].values()))
    assert {3000, 9090, 4317, 4318, 8889} <= ports


def test_collector_runs_the_shipped_config_on_our_release(resolved):
    svc = resolved["services"]["otel-collector"]
    release = yaml.safe_load(MANIFEST.read_text())["dist"]["version"]
    assert svc["image"] == f"otel/opentelemetry-collector-contrib:{release}"
    config_arg = next(a for a in svc["command"] if a.startswith("--config="))
    assert _mounts(svc)[config_arg.removeprefix("--config=")] == CONFIG / "otel-collector.yaml"


def test_prometheus_scrapes_the_collector_and_loads_the_rules(resolved):
    svc = resolved["services"]["prometheus"]
    mounts = _mounts(svc)
    conf_path = next(a for a in svc["command"] if a.startswith("--config.file=")).split("=", 1)[1]
    assert mounts[conf_path] == ROOT / "grafana" / "alerts" / "prometheus.yml"
    conf = yaml.safe_load(mounts[conf_path].read_text())
    for rule_file in conf["rule_files"]:
        assert mounts[str(Path(conf_path).parent / rule_file)] == ROOT / "grafana" / "alerts" / "llm-cost-rules.yaml"
    (scrape,) = conf["scrape_configs"]
    assert scrape["honor_labels"] is True
    collector = yaml.safe_load((CONFIG / "otel-collector.yaml").read_text())
    port = collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    assert scrape["static_configs"][0]["targets"] == [f"otel-collector:{port}"]


def test_grafana_has_dashboards_and_one_alert_path(resolved):
    svc = resolved["services"]["grafana"]
    mounts = _mounts(svc)
    prov = ROOT / "grafana" / "provisioning"
    assert mounts["/etc/grafana/provisioning/datasources"] == prov / "datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == prov / "dashboards"
    assert not any(p == prov / "alerting" or p == prov for p in mounts.values()), "Grafana-managed alerts too"
    provider = yaml.safe_load((prov / "dashboards" / "dashboards.yaml").read_text())["providers"][0]
    assert mounts[provider["options"]["path"]] == ROOT / "grafana" / "dashboards"
    assert urlparse(svc["environment"]["PROMETHEUS_URL"]).hostname == "prometheus"


def test_simulated_traffic_goes_to_the_collector(resolved):
    svc = resolved["services"]["simulate"]
    endpoint = urlparse(svc["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    collector = yaml.safe_load((CONFIG / "otel-collector.yaml").read_text())
    grpc_port = int(collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1])
    assert (endpoint.hostname, endpoint.port) == ("otel-collector", grpc_port)
    assert "otel-llm-cost simulate" in " ".join(svc["command"])
    assert _mounts(svc)["/src"] == ROOT
