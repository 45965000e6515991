"""Every PromQL expression we ship, with Grafana variables made concrete.

For tests that must run each query: the syntax check here (``promtool check
rules``) and the later end-to-end test that scrapes real traffic into a real
Prometheus and expects every panel to return data. Reads the committed files —
the dashboards JSON, the Grafana alert provisioning and the Prometheus rule file —
so it checks what is actually deployed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "dashboards"
GRAFANA_ALERTS = HERE / "provisioning" / "alerting" / "llm-cost-alerts.yaml"
RULES = HERE / "alerts" / "llm-cost-rules.yaml"

#: Values for Grafana's built-in interval variables: long enough to hold several
#: samples at a 15s scrape interval.
BUILTINS = {"__range": "1h", "__rate_interval": "5m", "__interval": "1m", "__range_s": "3600"}
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


@dataclass(frozen=True)
class ShippedQuery:
    source: str  # file name relative to grafana/
    title: str  # panel title, alert name or recording-rule name
    raw: str  # as written, with $variables
    expr: str  # variables substituted


def _constants(dashboard: dict) -> dict[str, str]:
    return {
        v["name"]: str(v["query"])
        for v in dashboard.get("templating", {}).get("list", [])
        if v.get("type") == "constant"
    }


def substitute(expr: str, constants: dict[str, str] | None = None) -> str:
    """Replace ``$var``/``${var}``: built-ins by durations, constants by their value,
    selection variables (service, provider, model) by ``.*`` — i.e. "All"."""
    constants = constants or {}

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name in BUILTINS:
            return BUILTINS[name]
        return constants.get(name, ".*")

    return _VAR.sub(repl, expr)


def dashboard_queries() -> Iterator[ShippedQuery]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        data = json.loads(path.read_text())
        consts = _constants(data)
        for panel in data.get("panels", []):
            for target in panel.get("targets", []):
                raw = target["expr"]
                yield ShippedQuery(f"dashboards/{path.name}", panel["title"], raw, substitute(raw, consts))


def grafana_alert_queries() -> Iterator[ShippedQuery]:
    data = yaml.safe_load(GRAFANA_ALERTS.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            for q in rule["data"]:
                if "expr" in q["model"]:
                    raw = q["model"]["expr"]
                    yield ShippedQuery("provisioning/alerting/llm-cost-alerts.yaml",
                                       rule["title"], raw, substitute(raw))


def prometheus_rule_queries() -> Iterator[ShippedQuery]:
    data = yaml.safe_load(RULES.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            yield ShippedQuery("alerts/llm-cost-rules.yaml", name, rule["expr"], rule["expr"])


def all_queries() -> list[ShippedQuery]:
    """Every (source, title, expr) we ship."""
    return [*dashboard_queries(), *grafana_alert_queries(), *prometheus_rule_queries()]


if __name__ == "__main__":
    for q in all_queries():
        print(f"{q.source} | {q.title} | {q.expr}")
