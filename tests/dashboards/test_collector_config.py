"""Structural checks of the Collector configurations in collector-config/.

No Collector binary is obtainable in this environment (only package registries are
reachable; otelcol-contrib is not on PyPI/Debian/npm), so `otelcol validate` cannot
run. This is a structural check instead: the YAML parses; every component a
pipeline names is defined; every defined component is used; every component type
ships in the contrib distribution; env vars are documented in the README.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "collector-config"
FILES = sorted(CONFIG.rglob("*.yaml"))
README = (CONFIG / "README.md").read_text()

#: Component types we use, checked against the otelcol-contrib manifest
#: (open-telemetry/opentelemetry-collector-releases,
#: distributions/otelcol-contrib/manifest.yaml, v0.135.0): otlpreceiver,
#: batchprocessor, memorylimiterprocessor, attributesprocessor,
#: resourcedetectionprocessor, otlpexporter, otlphttpexporter, debugexporter,
#: prometheusexporter, prometheusremotewriteexporter, loadbalancingexporter,
#: healthcheckextension. Type names are the components' config keys.
CONTRIB = {
    "receivers": {"otlp"},
    "processors": {"batch", "memory_limiter", "attributes", "resourcedetection"},
    "exporters": {"otlp", "otlphttp", "debug", "prometheus", "prometheusremotewrite",
                  "loadbalancing", "load_balancing"},
    "extensions": {"health_check"},
}
_ENV = re.compile(r"\$\{env:([A-Z0-9_]+)(?::-[^}]*)?\}")


def _kind(name: str) -> str:
    return name.split("/", 1)[0]


@pytest.fixture(params=FILES, ids=lambda p: str(p.relative_to(CONFIG)))
def config(request):
    return request.param, yaml.safe_load(request.param.read_text())


def test_expected_files_exist():
    names = {str(p.relative_to(CONFIG)) for p in FILES}
    assert names == {"otel-collector.yaml", "scaled/agent.yaml", "scaled/gateway.yaml"}


def test_pipelines_reference_defined_components(config):
    _, cfg = config
    pipelines = cfg["service"]["pipelines"]
    assert {"traces", "metrics"} <= set(pipelines)
    used = {section: set() for section in ("receivers", "processors", "exporters")}
    for name, pipe in pipelines.items():
        assert pipe.get("receivers") and pipe.get("exporters"), name
        for section in used:
            for comp in pipe.get(section, []):
                assert comp in (cfg.get(section) or {}), f"{name}: {comp} not defined"
                used[section].add(comp)
        if pipe.get("processors"):
            assert pipe["processors"][0] == "memory_limiter", "memory_limiter must come first"
            assert pipe["processors"][-1] == "batch"
    for section, names in used.items():
        assert set(cfg.get(section) or {}) == names, f"unused {section}"
    for ext in cfg["service"].get("extensions", []):
        assert ext in cfg["extensions"]


def test_component_types_ship_in_contrib(config):
    _, cfg = config
    for section, allowed in CONTRIB.items():
        for name in cfg.get(section) or {}:
            assert _kind(name) in allowed, f"{section}.{name} not in otelcol-contrib list"


def test_env_vars_are_documented(config):
    path, _ = config
    for var in _ENV.findall(path.read_text()):
        assert f"`{var}`" in README, f"{var} used in {path.name} but not in README.md"


def test_single_tier_essentials():
    cfg = yaml.safe_load((CONFIG / "otel-collector.yaml").read_text())
    grpc = cfg["receivers"]["otlp"]["protocols"]
    assert grpc["grpc"]["endpoint"].endswith(":4317") and grpc["http"]["endpoint"].endswith(":4318")
    prom = cfg["exporters"]["prometheus"]
    assert prom["endpoint"] == "0.0.0.0:8889"
    assert prom["resource_to_telemetry_conversion"]["enabled"] is False
    assert "${env:PROMETHEUS_REMOTE_WRITE_ENDPOINT}" == cfg["exporters"]["prometheusremotewrite"]["endpoint"]
    assert "${env:TRACES_OTLP_ENDPOINT}" == cfg["exporters"]["otlp/traces"]["endpoint"]


def test_scaled_routing_keys():
    agent = yaml.safe_load((CONFIG / "scaled" / "agent.yaml").read_text())
    exp = agent["exporters"]
    assert exp["loadbalancing/traces"]["routing_key"] == "traceID"
    assert exp["loadbalancing/metrics"]["routing_key"] in {"service", "streamID", "resource"}
    pipes = agent["service"]["pipelines"]
    assert pipes["traces"]["exporters"] == ["loadbalancing/traces"]
    assert pipes["metrics"]["exporters"] == ["loadbalancing/metrics"]
    gateway = yaml.safe_load((CONFIG / "scaled" / "gateway.yaml").read_text())
    assert gateway["service"]["pipelines"]["metrics"]["exporters"] == ["prometheusremotewrite"]
