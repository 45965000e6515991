"""The ledger dashboard: the shared PostgreSQL ledger through Grafana's PostgreSQL data source.

Why a second kind of dashboard. The Prometheus dashboards show rates and trends from
metrics, which carry no session or user ids (they would explode cardinality). The
ledger has one row per call with both, and exact costs: top sessions, users and models
by exact cost, and how many calls are unpriced or estimated, come from SQL on it.

Costs are summed as ``NUMERIC`` (exact) and the top tables show the sum as text, so the
digits are the ledger's, not a float's. Every query filters on the dashboard's time range
(``$__unixEpochNanoFilter`` on ``end_time_unix_nano``, the indexed column) and on the
``$service`` variable. Generated like the others; a test re-runs this generator and
requires byte-identical output, and runs every query on a real PostgreSQL ledger::

    python -m grafana.build_ledger_dashboard
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models.common import BigValueGraphMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, VariableRefresh, VariableSort

from grafana.build_dashboards import lay_out
from otel_llm_cost.ledger._report import FAILED_FREE

OUT = Path(__file__).resolve().parent / "ledger" / "llm-cost-ledger.json"
DS_TYPE = "grafana-postgresql-datasource"
DS = DataSourceRef(type_val=DS_TYPE, uid="${ledger}")
UID = "llm-cost-ledger"

#: Rows the dashboard reads: the time range and the chosen services.
WHERE = ("$__unixEpochNanoFilter(end_time_unix_nano) "
         "AND COALESCE(service, '(none)') IN ($service)")
SERVICES = "SELECT DISTINCT COALESCE(service, '(none)') FROM llm_calls ORDER BY 1"
#: Calls without a cost that may have cost money: not a failed call without usage (it cost
#: nothing), the rule ``otel-llm-cost report`` follows.
UNPRICED = f"COUNT(*) - COUNT(cost_usd) - COUNT(CASE WHEN {FAILED_FREE} THEN 1 END)"


def _top(key: str, name: str, extra: str = "") -> str:
    return (f"SELECT {key} AS {name},{extra} COUNT(*) AS calls, "
            f"SUM(cost_usd)::text AS \"cost (USD)\", {UNPRICED} AS unpriced, "
            "COUNT(CASE WHEN usage_source = 'estimated' THEN 1 END) AS estimated "
            f"FROM llm_calls WHERE {WHERE} AND {key} IS NOT NULL "
            f"GROUP BY {key} ORDER BY SUM(cost_usd) DESC NULLS LAST, COUNT(*) DESC, {key} LIMIT 20")


@dataclass(frozen=True)
class SQLPanel:
    title: str
    kind: str  # stat | timeseries | table
    sql: str
    fmt: str  # table | time_series
    width: int
    height: int
    unit: str = "none"
    description: str = ""


PANELS: tuple[tuple[str, tuple[SQLPanel, ...]], ...] = (
    ("Spend (exact, from the ledger)", (
        SQLPanel("Spend", "stat", f"SELECT COALESCE(SUM(cost_usd), 0) AS spend FROM llm_calls WHERE {WHERE}",
                 "table", 6, 5, "currencyUSD",
                 "Exact sum of the priced calls in the range; unpriced calls are not in it (see Calls)."),
        SQLPanel("Calls", "stat",
                 f"SELECT COUNT(*) AS calls, {UNPRICED} AS unpriced, "
                 "COUNT(CASE WHEN usage_source = 'estimated' THEN 1 END) AS estimated, "
                 f"COUNT(error_type) AS failed FROM llm_calls WHERE {WHERE}",
                 "table", 18, 5, "none",
                 "Unpriced: no price for the model, or no usage reported (the spend is a lower bound). "
                 "Estimated: the provider reported no usage and tokens were counted with a tokenizer. "
                 "Failed: an error; one that reported no usage cost nothing and is not unpriced."),
        SQLPanel("Spend per hour", "timeseries",
                 "SELECT to_timestamp(end_time_unix_nano / 3600000000000 * 3600) AS time, "
                 f"SUM(cost_usd) AS spend FROM llm_calls WHERE {WHERE} GROUP BY 1 ORDER BY 1",
                 "time_series", 24, 8, "currencyUSD"),
    )),
    ("Top by exact cost", (
        SQLPanel("Top sessions", "table",
                 _top("session_id", "session", " string_agg(DISTINCT service, ', ') AS services,"),
                 "table", 12, 10, "none", "A session's calls from every service, summed once."),
        SQLPanel("Top users", "table", _top("user_id", "\"user\""), "table", 12, 10),
        SQLPanel("Top models", "table", _top("COALESCE(model, response_model)", "model"), "table", 12, 10),
        SQLPanel("Unpriced and estimated calls by model", "table",
                 f"SELECT COALESCE(model, response_model) AS model, {UNPRICED} AS unpriced, "
                 "COUNT(CASE WHEN usage_source = 'estimated' THEN 1 END) AS estimated, COUNT(*) AS calls "
                 f"FROM llm_calls WHERE {WHERE} GROUP BY 1 "
                 f"HAVING {UNPRICED} > 0 OR COUNT(CASE WHEN usage_source = 'estimated' THEN 1 END) > 0 "
                 "ORDER BY 2 DESC, 3 DESC, 1",
                 "table", 12, 10),
    )),
)


class _SQLQuery:
    """A PostgreSQL data-source query (the SDK has no builder for this plugin's query)."""

    def __init__(self, ref_id: str, sql: str, fmt: str) -> None:
        self.data = {"refId": ref_id, "datasource": {"type": DS_TYPE, "uid": "${ledger}"},
                     "editorMode": "code", "rawQuery": True, "rawSql": sql, "format": fmt}

    def build(self) -> UnknownDataquery:
        return UnknownDataquery(self.data)


_KINDS = {"stat": stat.Panel, "timeseries": timeseries.Panel, "table": table.Panel}


def _panel(spec: SQLPanel, pos: GridPos):
    builder = _KINDS[spec.kind]().title(spec.title).unit(spec.unit).datasource(DS).grid_pos(pos)
    if spec.description:
        builder = builder.description(spec.description)
    if spec.kind == "stat":
        builder = builder.graph_mode(BigValueGraphMode.NONE)
    return builder.with_target(_SQLQuery("A", spec.sql, spec.fmt))


def build() -> dict:
    d = (dashboard.Dashboard("LLM cost — ledger").uid(UID).tags(["llm", "cost", "otel-llm-cost", "ledger"])
         .editable().refresh("5m").time("now-7d", "now").timezone("browser"))
    d = d.with_variable(dashboard.DatasourceVariable("ledger").label("Ledger").type(DS_TYPE))
    d = d.with_variable(dashboard.QueryVariable("service").label("Service").query(SERVICES).datasource(DS)
                        .multi(True).include_all(True).sort(VariableSort.ALPHABETICAL_ASC)
                        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED))
    return lay_out(d, PANELS, _panel)


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build()) + "\n"


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())
    print(f"wrote {OUT.relative_to(OUT.parent.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
