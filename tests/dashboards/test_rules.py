"""The Prometheus alert rules, checked and unit-tested with the real promtool.

``promtool test rules`` runs the files in grafana/alerts/tests/, which cover every
alert both firing and not firing; the last test makes sure no alert is left
without such coverage.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from grafana import build_alerts
from tests.dashboards.promtool import ok, promtool

ALERTS = Path(__file__).resolve().parents[2] / "grafana" / "alerts"
UNIT_TESTS = sorted((ALERTS / "tests").glob("*.yaml"))


def _alert_names() -> set[str]:
    data = yaml.safe_load((ALERTS / "llm-cost-rules.yaml").read_text())
    return {r["alert"] for g in data["groups"] for r in g["rules"] if "alert" in r}


def test_check_rules():
    out = ok(promtool("check", "rules", ALERTS / "llm-cost-rules.yaml"))
    assert "SUCCESS" in out


def test_check_config_loads_the_rules():
    out = ok(promtool("check", "config", ALERTS / "prometheus.yml"))
    assert "1 rule files found" in out


def test_rule_unit_tests_pass():
    assert UNIT_TESTS
    ok(promtool("test", "rules", *UNIT_TESTS, cwd=ALERTS / "tests"))


def test_every_alert_is_tested_firing_and_not_firing():
    """Each alert needs a case expecting it and a case expecting nothing."""
    firing, quiet = set(), set()
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert _alert_names() - firing == set(), "alerts never seen firing"
    assert _alert_names() - quiet == set(), "alerts never seen quiet"


def test_thresholds_live_in_the_recording_group():
    """Alerts compare against llm_cost:threshold_* series, one per thresholds.yaml key."""
    data = yaml.safe_load((ALERTS / "llm-cost-rules.yaml").read_text())
    groups = {g["name"]: g["rules"] for g in data["groups"]}
    recorded = {r["record"] for r in groups["llm_cost_thresholds"]}
    keys = build_alerts.load_thresholds()
    assert recorded == {f"llm_cost:threshold_{k}" for k in keys}
    for rule in groups["llm_cost_alerts"]:
        assert "vector(" not in rule["expr"], "thresholds belong in llm_cost_thresholds"


def test_generated_alert_files_are_up_to_date():
    for path, text in build_alerts.render().items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m grafana.build_alerts"


def test_grafana_alerts_mirror_prometheus_alerts():
    grafana = yaml.safe_load(build_alerts.GRAFANA_ALERTS.read_text())
    assert grafana["apiVersion"] == 1
    rules = [r for g in grafana["groups"] for r in g["rules"]]
    assert {r["title"] for r in rules} == _alert_names()
    for r in rules:
        refs = {d["refId"]: d for d in r["data"]}
        assert r["condition"] in refs
        assert refs["A"]["datasourceUid"] == build_alerts.DATASOURCE_UID
