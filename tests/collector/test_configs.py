"""The shipped Collector configs, checked by our real Collector build.

``validate`` loads each config with every component's own config schema and rules
(unknown keys, wrong types, missing endpoints), which no structural check can.
It runs with no environment variable set, the way a newcomer starts the config,
and with the documented alternatives switched on. Our build has exactly the
components of ``collector-config/build/manifest.yaml``, all of one release, and every
config uses only those (all of which ship in otelcol-contrib of the same release).
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.collector._otelcol import CONFIG, MANIFEST, otelcol

SHIPPED = ["otel-collector.yaml", "scaled/agent.yaml", "scaled/gateway.yaml"]
README = (CONFIG / "README.md").read_text()
RELEASE = "0.161.0"
_ENV = re.compile(r"\$\{env:([A-Z0-9_]+)(?::-[^}]*)?\}")


def test_shipped_files_are_the_listed_ones():
    found = {str(p.relative_to(CONFIG)) for p in CONFIG.rglob("*.yaml")
             if p.parent.name != "builder" and p.name != "compose.yaml"}  # compose: test_compose.py
    assert found == set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_validates_with_no_env_var_set(name):
    result = otelcol("validate", f"--config=file:{CONFIG / name}")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("env", [
    {"TRACES_EXPORTER": "otlp_grpc/traces", "TRACES_OTLP_ENDPOINT": "tempo:4317", "TRACES_OTLP_INSECURE": "true"},
    {"METRICS_EXPORTER": "prometheus_remote_write",
     "PROMETHEUS_REMOTE_WRITE_ENDPOINT": "https://mimir.example/api/v1/push"},
], ids=["traces-otlp", "remote-write"])
def test_single_config_alternatives_validate(env):
    result = otelcol("validate", f"--config=file:{CONFIG / 'otel-collector.yaml'}", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_rejects_a_broken_config(tmp_path):
    """validate is not a formality: a misspelt key in the shipped file fails it.

    Not every component refuses unknown keys: the ``prometheus`` exporter of this
    release accepts ``send_timestamp:`` silently, so its settings that matter
    (``translation_strategy``) are proven by what Prometheus stores, in the
    end-to-end tests, not by ``validate``."""
    text = (CONFIG / "otel-collector.yaml").read_text().replace("send_batch_size:", "send_batch_sise:")
    assert "send_batch_sise:" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = otelcol("validate", f"--config=file:{bad}")
    assert result.returncode != 0
    assert "send_batch_sise" in result.stdout + result.stderr


def _built_components() -> dict[str, dict[str, str]]:
    out = otelcol("components")
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load(out.stdout)
    assert data["buildinfo"]["version"] == RELEASE
    return {kind: {c["name"]: c["module"] for c in data.get(kind) or []}
            for kind in ("receivers", "processors", "exporters", "extensions", "connectors")}


def test_build_has_exactly_the_manifest_at_one_release():
    manifest = yaml.safe_load(MANIFEST.read_text())
    built = _built_components()
    for kind, comps in built.items():
        assert sorted(comps.values()) == sorted(m["gomod"] for m in manifest.get(kind) or []), kind
    modules = [m["gomod"] for kind in ("receivers", "processors", "exporters", "extensions")
               for m in manifest[kind]]
    assert {m.split()[1] for m in modules} == {f"v{RELEASE}"}
    # Core stable modules (confmap providers) of the same release: v1.(x) with x = minor - 94.
    assert {m["gomod"].split()[1] for m in manifest["providers"]} == {"v1.67.0"}


@pytest.mark.parametrize("name", SHIPPED)
def test_configs_use_only_built_components(name):
    cfg = yaml.safe_load((CONFIG / name).read_text())
    built = _built_components()
    for kind in ("receivers", "processors", "exporters", "extensions"):
        for comp in cfg.get(kind) or {}:
            assert comp.split("/", 1)[0] in built[kind], f"{name}: {kind}.{comp} is not in our build"


@pytest.mark.parametrize("name", SHIPPED)
def test_pipeline_shape(name):
    cfg = yaml.safe_load((CONFIG / name).read_text())
    for pipe_name, pipe in cfg["service"]["pipelines"].items():
        assert pipe["processors"][0] == "memory_limiter", f"{pipe_name}: memory_limiter must come first"
        assert pipe["processors"][-1] == "batch", pipe_name


@pytest.mark.parametrize("name", SHIPPED)
def test_env_vars_are_documented(name):
    for var in _ENV.findall((CONFIG / name).read_text()):
        assert f"`{var}`" in README, f"{var} used in {name} but not in collector-config/README.md"


@pytest.mark.parametrize("name", ["otel-collector.yaml", "scaled/gateway.yaml"])
def test_translation_strategy_is_pinned(name):
    """Dashboards and rules use the UnderscoreEscapingWithSuffixes names (README.md)."""
    cfg = yaml.safe_load((CONFIG / name).read_text())
    prom = {k: v for k, v in cfg["exporters"].items() if k.split("/")[0] in ("prometheus", "prometheus_remote_write")}
    assert prom
    for exp in prom.values():
        assert exp["translation_strategy"] == "UnderscoreEscapingWithSuffixes"
        assert exp["resource_to_telemetry_conversion"]["enabled"] is False


def test_scaled_routing_keys():
    agent = yaml.safe_load((CONFIG / "scaled" / "agent.yaml").read_text())
    exp = agent["exporters"]
    assert exp["load_balancing/traces"]["routing_key"] == "traceID"
    assert exp["load_balancing/metrics"]["routing_key"] == "service"
    pipes = agent["service"]["pipelines"]
    assert pipes["traces"]["exporters"] == ["load_balancing/traces"]
    assert pipes["metrics"]["exporters"] == ["load_balancing/metrics"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_pushing_exporter_queues_on_disk(name):
    """A backend that is away loses nothing: pushing exporters keep their queue in
    ``file_storage`` (the ledger's spool, on the Collector path). Scrape and log exporters
    (``prometheus``, ``debug``) push nowhere."""
    cfg = yaml.safe_load((CONFIG / name).read_text())
    assert "file_storage" in cfg["extensions"] and "file_storage" in cfg["service"]["extensions"]
    pushing = {k: v for k, v in cfg["exporters"].items() if k.split("/")[0] not in ("prometheus", "debug")}
    assert pushing
    for key, exporter in pushing.items():
        assert exporter["sending_queue"]["storage"] == "file_storage", f"{name}: {key}"
