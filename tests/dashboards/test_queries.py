"""Every shipped PromQL query parses, uses only documented names and is filtered.

Syntax is checked by Prometheus's own parser: all queries (variables substituted,
see grafana/queries.py) go into one temporary rule file for ``promtool check
rules``. Names are checked against the verified table in docs/metrics.md.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from grafana import build_dashboards, queries
from grafana.contract import known_labels, known_series, parse_metrics_table
from tests.dashboards.promtool import ok, promtool

ALL = queries.all_queries()
_NAME = re.compile(r"\b((?:llm_cost|gen_ai)[a-zA-Z0-9_:]*)")
_SELECTOR = re.compile(r"\b([a-zA-Z_][a-zA-Z0-9_]*)\{([^}]*)\}")


def test_every_query_is_valid_promql(tmp_path):
    rules = [{"record": f"check:query_{i}", "expr": q.expr} for i, q in enumerate(ALL)]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}))
    out = ok(promtool("check", "rules", path))
    assert f"SUCCESS: {len(rules)} rules found" in out


def test_no_unsubstituted_variables():
    assert not [q for q in ALL if "$" in q.expr]


@pytest.mark.parametrize("q", ALL, ids=lambda q: f"{q.source}:{q.title}")
def test_only_documented_names(q):
    """Every llm_cost*/gen_ai* token is a documented series, label or our recording rule."""
    allowed = known_series() | known_labels()
    for name in _NAME.findall(q.expr):
        if ":" in name:  # recording rules: must be defined in our rule file
            assert name.startswith("llm_cost:threshold_"), name
            continue
        assert name in allowed, f"{name} is not in docs/metrics.md"


def test_dashboard_selectors_are_filtered_by_every_variable_they_can_be():
    """$service on every selector; $provider/$model where the metric has those labels."""
    labels_of = {
        name: set(row.labels) for row in parse_metrics_table() for name in row.series
    }
    checked = 0
    for q in queries.dashboard_queries():
        for metric, matchers in _SELECTOR.findall(q.raw):
            if metric not in labels_of:
                continue
            checked += 1
            assert 'job=~"$service"' in matchers, (q.title, metric)
            if "gen_ai_provider_name" in labels_of[metric]:
                assert 'gen_ai_provider_name=~"$provider"' in matchers, (q.title, metric)
                assert 'gen_ai_request_model=~"$model"' in matchers, (q.title, metric)
    assert checked > 30


def test_dashboards_cover_the_brief():
    """The panels the issue asks for exist (guards against silent removal)."""
    exprs = "\n".join(q.raw for q in queries.dashboard_queries())
    for needle in (
        'llm_cost_component="cache_read"', "llm_cost_cache_savings_USD_total", "llm_cost_session_cost_USD_bucket",
        "topk(10, sum by (user_id)", "topk(10, sum by (gen_ai_provider_name, gen_ai_request_model)",
        "gen_ai_client_token_usage_sum", "gen_ai_client_operation_duration_seconds_bucket",
        'llm_cost_status!="priced"', 'llm_cost_usage_source="estimated"',
        "llm_cost_budget_crossings_total", "$daily_budget_usd", "histogram_quantile(0.99",
    ):
        assert needle in exprs, needle


def test_dashboards_are_regenerated_exactly():
    for path, text in build_dashboards.render().items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m grafana.build_dashboards"


def test_dashboard_json_basics():
    for path in build_dashboards.OUT.glob("*.json"):
        data = json.loads(path.read_text())
        ids = [p["id"] for p in data["panels"]]
        assert len(ids) == len(set(ids))
        names = {v["name"] for v in data["templating"]["list"]}
        assert {"datasource", "service", "daily_budget_usd"} <= names
        for p in data["panels"]:
            assert 0 <= p["gridPos"]["x"] and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
