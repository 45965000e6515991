"""Turn the panel specs of ``grafana/panels.py`` into Grafana dashboard JSON.

Why generated: hand-edited dashboard JSON drifts (a query fixed in one panel and
not its twin, a filter forgotten); generating it from one spec keeps every query
filtered the same way and lets tests check the queries. The committed files in
``grafana/dashboards/`` are what Grafana's file provider loads; a test re-runs
this generator and requires byte-identical output, so edit ``panels.py`` (or
``alerts/thresholds.yaml`` for the budget) and run
``python -m grafana.build_dashboards``.

Uses grafana-foundation-sdk's builders, so the JSON follows Grafana's schema.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueGraphMode, StackingMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, VariableRefresh, VariableSort

from grafana.build_alerts import load_thresholds
from grafana.panels import CALLS, DASHBOARDS, OURS, Dashboard, Panel

OUT = Path(__file__).resolve().parent / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
_KINDS = {"timeseries": timeseries.Panel, "stat": stat.Panel, "bargauge": bargauge.Panel}

#: Cascading variables: each lists only values present under the ones before it.
_VARIABLES = {
    "service": ("Service", f"label_values({CALLS}{{{OURS}}}, job)"),
    "provider": ("Provider", f'label_values({CALLS}{{{OURS}, job=~"$service"}}, gen_ai_provider_name)'),
    "model": ("Model", f'label_values({CALLS}{{{OURS}, job=~"$service", '
                       'gen_ai_provider_name=~"$provider"}, gen_ai_request_model)'),
}
_SESSIONS_SERVICE = "label_values(llm_cost_session_cost_USD_count, job)"


def _panel(spec: Panel, pos: GridPos):
    builder = _KINDS[spec.kind]().title(spec.title).unit(spec.unit).datasource(DS).grid_pos(pos)
    if spec.description:
        builder = builder.description(spec.description)
    if spec.kind == "timeseries":
        builder = builder.fill_opacity(20 if spec.stack else 5)
        if spec.stack:
            builder = builder.stacking(common.StackingConfig().mode(StackingMode.NORMAL))
    if spec.kind in ("stat", "bargauge"):  # show the latest value, not Grafana's guess
        builder = builder.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    if spec.kind == "stat":
        builder = builder.graph_mode(BigValueGraphMode.NONE)
    for i, q in enumerate(spec.queries):
        target = prometheus.Dataquery().expr(q.expr).ref_id(chr(ord("A") + i)).datasource(DS)
        if q.legend:
            target = target.legend_format(q.legend)
        target = target.instant() if q.instant else target.range()
        builder = builder.with_target(target)
    return builder


def _variables(spec: Dashboard, budget: float):
    yield (dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    for name in spec.variables:
        label, query = _VARIABLES[name]
        if spec.uid == "llm-cost-sessions" and name == "service":
            query = _SESSIONS_SERVICE
        yield (dashboard.QueryVariable(name).label(label).query(query).datasource(DS)
               .multi(True).include_all(True).all_value(".*").sort(VariableSort.ALPHABETICAL_ASC)
               .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED))
    # Constant variables are hidden; the value comes from alerts/thresholds.yaml.
    yield dashboard.ConstantVariable("daily_budget_usd").value(f"{budget:g}")


def build(spec: Dashboard, budget: float) -> dict:
    """One dashboard as a JSON-ready dict; panels laid out left to right, row by row."""
    d = (dashboard.Dashboard(spec.title).uid(spec.uid).tags(["llm", "cost", "otel-llm-cost"])
         .editable().refresh("1m").time("now-6h", "now").timezone("browser"))
    for var in _variables(spec, budget):
        d = d.with_variable(var)
    return lay_out(d, spec.rows, _panel)


def lay_out(d: dashboard.Dashboard, rows: Any, make_panel: Callable[[Any, GridPos], Any]) -> Any:
    """Rows of panels placed left to right on Grafana's 24-column grid, wrapping when a
    panel does not fit; the built dashboard, its panels numbered 1… (stable ids that
    links and tests can rely on)."""
    y = 0
    for row_title, panels in rows:
        d = d.with_row(dashboard.Row(row_title).grid_pos(GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        x, row_h = 0, 0
        for p in panels:
            if x + p.width > 24:
                x, y, row_h = 0, y + row_h, 0
            d = d.with_panel(make_panel(p, GridPos(h=p.height, w=p.width, x=x, y=y)))
            x, row_h = x + p.width, max(row_h, p.height)
        y += row_h
    built = d.build()
    for i, panel in enumerate(built.panels, start=1):
        panel.id_val = i
    return built


def render() -> dict[Path, str]:
    """Every dashboard file and its exact content."""
    budget = load_thresholds()["daily_budget_usd"]
    enc = JSONEncoder(sort_keys=True, indent=2)
    return {OUT / f"{spec.uid}.json": enc.encode(build(spec, budget)) + "\n" for spec in DASHBOARDS}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for path, text in render().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(OUT.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
